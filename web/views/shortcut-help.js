// The "?" overlay: every keyboard shortcut, read from the same list the key handlers use.
// A modal <dialog>: the rest of the page is inert while it is open, Tab stays inside, Escape
// closes it, and focus goes back to where it was.

import { h } from '../dom.js';
import { SHORTCUTS, KEY_NAMES } from '../shortcuts.js';
import { t } from '../i18n.js';

function keysOf(shortcut) {
  const parts = [];
  shortcut.label.forEach((key, i) => {
    if (i) parts.push(h('span', { class: 'key-plus', 'aria-hidden': 'true' }, '+'));
    parts.push(h('kbd', null, KEY_NAMES[key] ? t(KEY_NAMES[key]) : key));
  });
  return parts;
}

export function createShortcutHelp() {
  const sections = [...new Set(SHORTCUTS.map((s) => s.section))];
  const close = h('button', { type: 'button', class: 'btn', 'data-close': '' }, t('shortcuts.close'));
  const dialog = h('dialog', { class: 'shortcut-help', 'aria-labelledby': 'shortcut-help-title', 'aria-modal': 'true' },
    h('div', { class: 'shortcut-help-head' },
      h('h2', { id: 'shortcut-help-title' }, t('shortcuts.title')),
      h('p', { class: 'muted small' }, t('shortcuts.intro'))),
    sections.map((section) => h('section', { class: 'shortcut-section', 'aria-label': t(section) },
      h('h3', { class: 'rail-label' }, t(section)),
      h('dl', { class: 'shortcut-list' }, SHORTCUTS.filter((s) => s.section === section).map((s) =>
        h('div', { class: 'shortcut', dataset: { shortcut: s.id } }, h('dt', null, keysOf(s)), h('dd', null, t(s.does))))))),
    h('div', { class: 'actions' }, close));

  let returnTo = null;
  close.addEventListener('click', () => dialog.close());
  // Escape fires "cancel", then "close".
  dialog.addEventListener('close', () => {
    const target = returnTo;
    returnTo = null;
    if (target && target.isConnected) target.focus();
  });
  dialog.addEventListener('keydown', (e) => {
    if (e.key !== 'Tab') return;
    const focusable = [...dialog.querySelectorAll('button, [href], [tabindex]:not([tabindex="-1"])')];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  });
  // A click on the backdrop (outside the box) closes it too.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) {
      const r = dialog.getBoundingClientRect();
      const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
      if (!inside) dialog.close();
    }
  });
  document.body.append(dialog);

  return {
    open() {
      if (dialog.open) return;
      returnTo = document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null;
      dialog.showModal();
      close.focus();
    },
    destroy() {
      if (dialog.open) dialog.close();
      dialog.remove();
    },
  };
}
