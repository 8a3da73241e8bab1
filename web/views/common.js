// Pieces several views share: avatars, badges, form fields and error display.

import { h } from '../dom.js';
import { initials, hue } from '../format.js';
import { t } from '../i18n.js';

export function avatar(person, size = 'md') {
  if (!person) {
    return h('span', { class: `avatar avatar-${size} avatar-none`, title: t('people.unassigned'), 'aria-hidden': 'true' });
  }
  return h('span', { class: `avatar avatar-${size} hue-${hue(person.id)}`, title: person.name, 'aria-hidden': 'true' }, initials(person.name));
}

export function customerBadge(kase) {
  return kase.returning
    ? h('span', { class: 'tag tag-returning' }, t('customer.returning'))
    : h('span', { class: 'tag tag-new' }, t('customer.new'));
}

/** "Blake Rivera is viewing" or "… is typing a reply", for one of `othersOn()`. */
export function presenceLine(other) {
  return other.typing ? t('presence.typing', { name: other.name }) : t('presence.viewing', { name: other.name });
}

export function statusPill(status, label) {
  return h('span', { class: `pill status-${status}` }, label);
}

/** A tag as a chip in its colour (a dot, so any colour stays readable). */
export function tagChip(tag, ...extra) {
  const dot = h('span', { class: 'tag-dot', 'aria-hidden': 'true' });
  // Set through the CSSOM: the page's CSP refuses inline style attributes.
  dot.style.backgroundColor = /^#[0-9a-f]{6}$/i.test(tag.color) ? tag.color : '#4b5563';
  return h('span', { class: 'tag tag-label', title: tag.name }, dot, h('span', { class: 'tag-name' }, tag.name), extra);
}

export function field(label, input, hint) {
  const id = input.id || (input.id = `f-${Math.random().toString(36).slice(2, 9)}`);
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

/** Shows an API error in `box` and marks the named field invalid, if the form has it. */
export function showError(box, err, form) {
  box.hidden = false;
  box.textContent = err && err.message ? err.message : t('error.generic');
  if (form) {
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (err && err.field) {
      const input = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    }
  }
}

export function clearError(box) {
  box.hidden = true;
  box.textContent = '';
}

/** A short-lived message at the bottom of the screen. */
export function toast(text, kind = 'info') {
  let region = document.getElementById('toasts');
  if (!region) {
    region = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  const el = h('div', { class: `toast toast-${kind}` }, text);
  region.append(el);
  setTimeout(() => el.remove(), 4000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('toast.copied'));
  } catch {
    toast(t('toast.copyFailed'), 'error');
  }
}
