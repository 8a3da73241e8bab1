// One customer: every address they wrote from, what the team notes about them, all their cases,
// and merging them into another customer when the same person wrote from two addresses. The
// page follows the customer live: a merge of them elsewhere reloads it.

import * as api from '../api.js';
import { h, replace, debounce } from '../dom.js';
import { on, canWork } from '../store.js';
import { avatar, statusPill, toast } from './common.js';
import { statusLabel, dateTime, relativeTime } from '../format.js';
import { t } from '../i18n.js';

const NOTES_MAX = 10000;

/** A customer's cases as links, newest first; `except` leaves one out (the case on screen). */
export function caseLinks(cases, except) {
  const rows = cases.filter((c) => c.id !== except);
  if (!rows.length) return h('p', { class: 'muted small' }, t('customer.noOtherCases'));
  return h('ul', { class: 'customer-cases' }, rows.map((c) =>
    h('li', null, h('a', { href: `/cases/${c.id}`, class: 'customer-case' },
      h('span', { class: 'customer-case-top' },
        h('span', { class: 'mono small' }, c.number),
        statusPill(c.status, statusLabel(c.status))),
      h('span', { class: 'customer-case-subject' }, c.subject || c.preview || t('customer.noText')),
      h('span', { class: 'muted small', title: dateTime(c.last_message_at) }, relativeTime(c.last_message_at))))));
}

export function createCustomer(ctx, id) {
  const body = h('div', { class: 'customer-page-body', 'aria-live': 'polite', 'aria-busy': 'true' });
  let profile = null;

  function notesCard() {
    const box = h('textarea', { id: 'customer-notes', rows: 5, maxlength: NOTES_MAX, value: profile.notes,
      placeholder: t('customer.notesPlaceholder'), readonly: !canWork() || profile.erased });
    const save = h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, t('customer.saveNotes'));
    const form = h('form', { class: 'customer-notes' },
      h('label', { for: 'customer-notes', class: 'rail-label' }, t('customer.notes')), box,
      canWork() && !profile.erased ? h('div', { class: 'inline-controls' }, save) : null);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      save.disabled = true;
      try {
        profile = await api.patch(`/api/customers/${profile.customer.id}`, { notes: box.value });
        toast(t('customer.notesSaved'));
      } catch (err) {
        box.setAttribute('aria-invalid', 'true');
        toast(err.message, 'error');
      } finally {
        save.disabled = false;
      }
    });
    return h('section', { class: 'card', 'aria-labelledby': 'customer-notes-title' },
      h('h2', { class: 'card-title', id: 'customer-notes-title' }, t('customer.about')), form);
  }

  // Merge: find the other customer by name or address, then confirm.
  function mergeCard() {
    const search = h('input', { type: 'search', id: 'merge-search', class: 'input', autocomplete: 'off',
      placeholder: t('customer.mergeSearchPlaceholder') });
    const results = h('ul', { class: 'merge-results', 'aria-label': t('customer.found') });
    const confirmBox = h('div', { class: 'merge-confirm', role: 'group', 'aria-label': t('customer.confirmMerge') });
    confirmBox.hidden = true;
    // A merge cannot be undone: a choice first asks, in the page, before anything changes.
    function ask(into) {
      const go = h('button', { type: 'button', class: 'btn btn-small btn-primary' }, t('customer.mergeInto', { name: into.name }));
      const cancel = h('button', { type: 'button', class: 'btn btn-small' }, t('common.cancel'));
      go.addEventListener('click', async () => {
        go.disabled = true;
        if (!(await merge(into))) go.disabled = false;
      });
      cancel.addEventListener('click', () => { confirmBox.hidden = true; search.focus(); });
      replace(confirmBox,
        h('p', null, t('customer.mergeWhat', { count: profile.cases.length, from: profile.customer.name, into: into.name })),
        h('div', { class: 'inline-controls' }, go, cancel));
      confirmBox.hidden = false;
      go.focus();
    }
    const find = debounce(async () => {
      const q = search.value.trim();
      if (!q) { replace(results); return; }
      try {
        const found = (await api.get(`/api/customers${api.query({ q })}`))
          .filter((c) => c.id !== profile.customer.id);
        replace(results, found.length ? found.map((c) => h('li', null,
          h('button', { type: 'button', class: 'btn btn-small merge-choice', onclick: () => ask(c) },
            avatar(c, 'sm'), h('span', null, c.name), h('span', { class: 'muted small' }, c.email || c.phone || ''))))
          : h('li', { class: 'muted small' }, t('customer.noMatch')));
      } catch (err) {
        toast(err.message, 'error');
      }
    }, 200);
    search.addEventListener('input', find);
    return h('section', { class: 'card', 'aria-labelledby': 'merge-title' },
      h('h2', { class: 'card-title', id: 'merge-title' }, t('customer.mergeTitle')),
      h('p', { class: 'hint' }, t('customer.mergeHint', { name: profile.customer.name })),
      h('label', { for: 'merge-search' }, t('customer.mergeLabel')), search, results, confirmBox);
  }

  async function merge(into) {
    try {
      await api.post(`/api/customers/${profile.customer.id}/merge`, { into_id: into.id });
      toast(t('customer.merged', { name: into.name }));
      ctx.navigate(`/customers/${into.id}`);
      return true;
    } catch (err) {
      toast(err.message, 'error');
      return false;
    }
  }

  function render() {
    const c = profile.customer;
    replace(body,
      h('header', { class: 'settings-head customer-head' },
        h('div', { class: 'customer-top' }, avatar({ id: c.id, name: c.name }, 'lg'),
          h('div', null,
            h('h1', null, c.name),
            h('p', { class: 'muted small' }, profile.erased ? t('customer.erased')
              : t('customer.since', { since: dateTime(profile.created_at), count: profile.cases.length }))))),
      h('section', { class: 'card', 'aria-labelledby': 'addresses-title' },
        h('h2', { class: 'card-title', id: 'addresses-title' }, t('customer.addresses')),
        profile.addresses.length
          ? h('ul', { class: 'customer-addresses' }, profile.addresses.map((a) => h('li', null,
            h('span', { class: 'rail-label' }, a.kind === 'email' ? t('customer.email') : t('customer.phone')), ' ',
            a.kind === 'email' ? h('a', { href: `mailto:${a.value}` }, a.value) : h('span', null, a.value))))
          : h('p', { class: 'muted small' }, t('customer.noAddresses'))),
      notesCard(),
      h('section', { class: 'card', 'aria-labelledby': 'cases-title' },
        h('h2', { class: 'card-title', id: 'cases-title' }, t('customer.cases')),
        caseLinks(profile.cases)),
      canWork() && !profile.erased ? mergeCard() : null);
  }

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      profile = await api.get(`/api/customers/${id}`);
      render();
    } catch (err) {
      replace(body, h('p', { class: 'form-error', role: 'alert' }, err.status === 404 ? t('customer.notFound') : err.message));
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }

  const reloadSoon = debounce(load, 300);
  const off = on('cases', (ev) => {
    if (!profile) return;
    const ours = profile.customer.id;
    const touched = ev.kind === 'customer.merged' ? ev.customer_id === ours || ev.into_id === ours
      : ev.kind === 'customer.erased' ? ev.customer_id === ours
        : ev.case_id && profile.cases.some((c) => c.id === ev.case_id);
    if (touched) reloadSoon();
  });
  load();

  const el = h('div', { class: 'settings customer-page' }, body);
  return { el, destroy() { off(); reloadSoon.cancel(); } };
}
