// "Assigned to": a type-to-search combobox of assignable teammates with "Unassigned" on top.
// Picking someone sends the case version we saw; if somebody else moved it first, the server
// answers 409 with the case as it is now, and we say who won.

import * as api from '../api.js';
import { h, replace, debounce, uid } from '../dom.js';
import { icon } from '../icons.js';
import { avatar } from './common.js';
import { awayLabel } from '../format.js';
import { teammateName, teammate, me } from '../store.js';
import { t } from '../i18n.js';

export function createAssign({ getCase, onChanged, disabled }) {
  const listId = uid('assign-options');
  const labelId = uid('assign-label');
  const label = h('span', { class: 'rail-label', id: labelId }, t('assign.label'));
  const current = h('span', { class: 'assign-current' });
  const button = h('button', {
    type: 'button', class: 'assign-button', id: 'assignee-button', 'aria-haspopup': 'listbox',
    'aria-expanded': 'false', disabled,
    // Named by its own text ("Assigned to Blake Rivera"), so speech input can say what it shows.
  }, h('span', { class: 'sr-only' }, t('assign.labelSr')), current, icon('chevron', 'chevron'));
  const search = h('input', {
    type: 'text', class: 'assign-search', role: 'combobox', 'aria-controls': listId, 'aria-expanded': 'true',
    'aria-autocomplete': 'list', 'aria-label': t('assign.search'), placeholder: t('assign.searchPlaceholder'), autocomplete: 'off',
  });
  const listbox = h('ul', { class: 'assign-options', role: 'listbox', id: listId, 'aria-labelledby': labelId });
  const popover = h('div', { class: 'assign-popover', hidden: true }, search, listbox);
  const notice = h('p', { class: 'assign-notice', role: 'status', 'aria-live': 'polite', hidden: true });
  const el = h('div', { class: 'rail-block assign' }, label, h('div', { class: 'assign-wrap' }, button, popover), notice);

  let options = [];
  let active = 0;
  let busy = false;

  function renderCurrent() {
    const kase = getCase();
    const id = kase && kase.assignee_id;
    const person = id ? teammate(id) || (me() && me().id === id ? me() : { id, name: teammateName(id) }) : null;
    replace(current, avatar(person, 'sm'), h('span', { class: 'assign-name' }, person ? person.name : t('people.unassigned')));
  }

  function renderOptions() {
    const kase = getCase();
    replace(listbox, options.map((opt, i) => {
      const selected = (kase && kase.assignee_id) === (opt ? opt.id : null);
      const li = h('li', {
        role: 'option', id: `${listId}-${i}`, class: ['assign-option', i === active && 'active'],
        'aria-selected': selected ? 'true' : 'false', dataset: { index: String(i) },
      }, avatar(opt, 'sm'), h('span', { class: 'assign-option-name' }, opt ? opt.name : t('people.unassigned')),
      opt && opt.away ? h('span', { class: 'tag tag-muted' }, awayLabel(opt)) : null,
      selected ? icon('check', 'check') : null);
      li.addEventListener('mousedown', (e) => e.preventDefault());
      li.addEventListener('click', () => choose(i));
      return li;
    }));
    if (options.length) search.setAttribute('aria-activedescendant', `${listId}-${active}`);
    else search.removeAttribute('aria-activedescendant');
    const activeEl = listbox.querySelector('.active');
    if (activeEl) activeEl.scrollIntoView({ block: 'nearest' });
  }

  let lookup = 0;
  let shownFor = ''; // the search the listed options answer
  async function fetchOptions() {
    const mine = ++lookup;
    const q = search.value.trim();
    try {
      const { teammates } = await api.get(`/api/teammates${api.query({ assignable: 'true', q })}`);
      if (mine !== lookup) return;
      const word = q.toLowerCase();
      const unassigned = !q || 'unassigned'.startsWith(word) || t('people.unassigned').toLowerCase().startsWith(word);
      options = (unassigned ? [null] : []).concat(teammates);
      active = options.length > 1 && q ? (unassigned ? 1 : 0) : 0;
      shownFor = q;
      renderOptions();
    } catch {
      /* keep the last list */
    }
  }
  const refetch = debounce(fetchOptions, 120);
  search.addEventListener('input', refetch);

  function open() {
    if (button.disabled) return;
    popover.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    search.value = '';
    shownFor = '';
    options = [null];
    active = 0;
    renderOptions();
    fetchOptions();
    search.focus();
    document.addEventListener('pointerdown', outside, true);
  }

  function close(focusButton = true) {
    popover.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    if (focusButton) button.focus();
  }

  function outside(e) {
    if (!el.contains(e.target)) close(false);
  }

  function say(text, kind = 'info') {
    notice.hidden = !text;
    notice.className = `assign-notice notice-${kind}`;
    notice.textContent = text || '';
  }

  async function choose(i) {
    const pick = options[i];
    const kase = getCase();
    close();
    if (!kase || busy) return;
    const to = pick ? pick.id : null;
    if (to === kase.assignee_id) return;
    busy = true;
    button.disabled = true;
    say('');
    try {
      const updated = await api.put(`/api/cases/${kase.id}/assignee`, { assignee_id: to, if_version: kase.version });
      onChanged(updated);
    } catch (err) {
      if (err.status === 409 && err.current) {
        const now = err.current.assignee_id;
        say(now ? t('assign.raceTaken', { name: teammateName(now) }) : t('assign.racePool'), 'warn');
        onChanged(err.current);
      } else {
        say(err.message || t('assign.failed'), 'error');
      }
    } finally {
      busy = false;
      button.disabled = !!disabled;
      renderCurrent();
    }
  }

  // Enter picks what the list shows for what was typed: typed faster than the list follows,
  // it looks the name up first instead of picking the stale first option.
  async function pickActive() {
    if (search.value.trim() !== shownFor) {
      refetch.cancel();
      await fetchOptions();
    }
    if (options.length) choose(active);
  }

  button.addEventListener('click', () => (popover.hidden ? open() : close()));
  button.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      open();
    }
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!options.length) return;
      active = (active + (e.key === 'ArrowDown' ? 1 : -1) + options.length) % options.length;
      renderOptions();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      pickActive();
    } else if (e.key === 'Escape') {
      e.preventDefault();
      close();
    } else if (e.key === 'Tab') {
      close(false);
    }
  });

  renderCurrent();
  return {
    el,
    open,
    update: renderCurrent,
    say,
    destroy() {
      document.removeEventListener('pointerdown', outside, true);
      refetch.cancel();
    },
  };
}
