// The case list: one view (mine, unassigned, all, snoozed) × one filter (open, unread, closed),
// a tag, search, paging, live refresh when events arrive, and j/k/Enter keyboard moves.

import * as api from '../api.js';
import { h, replace, debounce } from '../dom.js';
import { state, on, teammate, othersOn, me, viewCounts } from '../store.js';
import { icon } from '../icons.js';
import { avatar, customerBadge, statusPill, tagChip, presenceLine } from './common.js';
import { relativeTime, statusLabel, dateTime, fullDateTime } from '../format.js';
import { VIEWS, inboxPath } from '../routes.js';
import { isShortcut, typingOrBusy } from '../shortcuts.js';
import { t, msgKey, formatList } from '../i18n.js';

const FILTERS = [['open', msgKey('inbox.filterOpen')], ['unread', msgKey('inbox.filterUnread')], ['closed', msgKey('inbox.filterClosed')], ['breached', msgKey('inbox.filterBreached')]];
const PAGE = 50;
const MATCH_LABELS = {
  note: msgKey('inbox.matchNote'),
  subject: msgKey('inbox.matchSubject'),
  customer: msgKey('inbox.matchName'),
  email: msgKey('inbox.matchEmail'),
  phone: msgKey('inbox.matchPhone'),
  number: msgKey('inbox.matchNumber'),
};

export function createInbox(ctx) {
  let cases = [];
  let nextCursor = null;
  let selected = null;
  let loading = false;
  let requestNo = 0;
  let failed = null;

  const title = h('h1', { class: 'list-title' });
  const search = h('input', {
    type: 'search', class: 'search-input', id: 'case-search', placeholder: t('inbox.searchPlaceholder'),
    autocomplete: 'off', 'aria-label': t('inbox.searchLabel'), spellcheck: 'false',
  });
  const filterTabs = new Map();
  for (const [filter, label] of FILTERS) {
    const count = h('span', { class: 'tab-count' });
    const link = h('a', { class: 'tab', href: '#', dataset: { filter } }, h('span', { class: 'tab-label' }, t(label)), count);
    link.addEventListener('click', (e) => {
      e.preventDefault();
      ctx.navigate(inboxPath(state.view, filter, state.q));
    });
    filterTabs.set(filter, { link, count });
  }
  // The tag filter, each tag with its open cases in this view.
  let tags = [];
  const tagSelect = h('select', { class: 'select tag-filter', id: 'tag-filter', 'aria-label': t('inbox.tagFilter') });
  tagSelect.addEventListener('change', () => {
    state.tag = tagSelect.value;
    ctx.navigate(inboxPath(state.view, state.filter, state.q, state.tag));
  });
  function renderTags() {
    tagSelect.hidden = !tags.length && !state.tag;
    replace(tagSelect, h('option', { value: '' }, t('inbox.allTags')),
      tags.map((tag) => h('option', { value: tag.id, selected: tag.id === state.tag }, t('inbox.tagOption', { name: tag.name, count: tag.counts[state.view] ?? 0 }))));
    tagSelect.value = state.tag;
  }
  async function loadTags() {
    try {
      tags = (await api.get('/api/tags')).tags;
    } catch {
      return;
    }
    renderTags();
  }
  const refreshTags = debounce(loadTags, 300);
  const list = h('ul', { class: 'case-list', 'aria-label': t('inbox.cases') });
  const more = h('button', { type: 'button', class: 'btn btn-ghost btn-block load-more', hidden: true, onclick: () => load({ append: true }) }, t('inbox.loadMore'));
  const message = h('div', { class: 'list-message', role: 'status' });
  const el = h('section', { class: 'list-pane', 'aria-label': t('inbox.caseList') },
    h('header', { class: 'list-head' },
      title,
      h('label', { class: 'search' }, icon('search'), search),
      h('div', { class: 'list-filters' },
        h('nav', { class: 'tabs', 'aria-label': t('inbox.filter') }, [...filterTabs.values()].map((tab) => tab.link)),
        tagSelect)),
    h('div', { class: 'list-scroll' }, list, message, more));

  const onSearch = debounce(() => {
    const q = search.value.trim();
    const path = location.pathname === '/' ? inboxPath(state.view, state.filter, q) : null;
    state.q = q;
    if (path) history.replaceState(null, '', path);
    load();
  }, 250);
  search.addEventListener('input', onSearch);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && search.value) {
      search.value = '';
      onSearch();
    } else if (e.key === 'ArrowDown' || (e.key === 'Enter' && !e.isComposing)) {
      e.preventDefault();
      onSearch.cancel();
      if (e.key === 'Enter') {
        state.q = search.value.trim();
        load();
      } else {
        focusRow(0);
      }
    }
  });

  function renderHead() {
    const view = VIEWS.find(([v]) => v === state.view);
    title.textContent = view ? t(view[1]) : t('inbox.cases');
    if (document.activeElement !== search) search.value = state.q;
    const counts = viewCounts(state.view);
    for (const [filter, { link, count }] of filterTabs) {
      link.href = inboxPath(state.view, filter, state.q);
      if (filter === state.filter) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
      count.textContent = counts && counts[filter] !== undefined ? String(counts[filter]) : '';
    }
  }

  function presenceMarker(kase) {
    const others = othersOn(kase.id);
    if (!others.length) return null;
    const typing = others.find((o) => o.typing);
    const who = typing || others[0];
    const extra = others.length > 1 ? ` +${others.length - 1}` : '';
    const text = typing ? t('presence.typingShort', { name: who.name }) : t('presence.viewingShort', { name: who.name });
    return h('span', { class: typing ? 'presence-marker typing' : 'presence-marker', title: formatList(others.map(presenceLine)) },
      icon(typing ? 'pen' : 'eye'), text + extra);
  }

  /** Time left to the first-response target, live; "Breached" once past it. */
  function responseTag(kase) {
    if (kase.breached_at) return h('span', { class: 'tag tag-breached', title: t('inbox.breachedSince', { since: fullDateTime(kase.breached_at) }) }, t('inbox.breached'));
    if (!kase.response_due_at) return null;
    const left = new Date(kase.response_due_at).getTime() - Date.now();
    const mins = Math.max(0, Math.ceil(left / 60000));
    const text = left <= 0 ? t('inbox.dueNow') : mins < 60 ? t('inbox.minutesLeft', { minutes: mins })
      : t('inbox.hoursLeft', { hours: Math.floor(mins / 60), minutes: mins % 60 });
    return h('span', { class: ['tag', 'tag-due', left < 10 * 60000 && 'tag-due-soon'], title: t('inbox.answerBy', { at: fullDateTime(kase.response_due_at) }), dataset: { due: kase.response_due_at } }, text);
  }

  /** Place in the waiting queue (oldest first), among the cases shown. */
  function queuePlace(kase) {
    if (!kase.queued_at || kase.assignee_id) return null;
    const waiting = cases.filter((c) => c.queued_at && !c.assignee_id).map((c) => c.queued_at).sort();
    const place = waiting.indexOf(kase.queued_at) + 1;
    return h('span', { class: 'tag tag-muted', title: t('inbox.waitingSince', { since: fullDateTime(kase.queued_at) }) }, t('inbox.waitingPlace', { place }));
  }

  /** Where a search found the case, its matched words marked; every part is text, never HTML. */
  function matchLine(found) {
    const label = MATCH_LABELS[found.field];
    return h('span', { class: 'row-preview row-match' },
      label ? h('span', { class: 'match-field' }, t('inbox.matchField', { field: t(label) })) : null,
      found.snippet.map((part) => (part.mark ? h('mark', null, part.text) : part.text)));
  }

  function row(kase) {
    const assignee = kase.assignee_id ? teammate(kase.assignee_id) || (me() && me().id === kase.assignee_id ? me() : { id: kase.assignee_id, name: '?' }) : null;
    const current = kase.id === selected;
    const link = h('a', {
      href: `/cases/${kase.id}`,
      class: ['case-row', kase.unread && 'unread', current && 'selected'],
      dataset: { id: kase.id },
      'aria-current': current ? 'page' : null,
    },
    h('span', { class: 'unread-dot', title: kase.unread ? t('inbox.unread') : null }, kase.unread ? h('span', { class: 'sr-only' }, t('inbox.unreadSr')) : null),
    h('span', { class: 'row-main' },
      h('span', { class: 'row-top' },
        h('span', { class: 'row-customer' }, kase.customer.name || kase.customer.email || kase.customer.phone || t('inbox.customer')),
        h('span', { class: 'row-number' }, kase.number),
        h('time', { class: 'row-time', datetime: kase.last_message_at, title: fullDateTime(kase.last_message_at) }, relativeTime(kase.last_message_at))),
      kase.subject ? h('span', { class: 'row-subject' }, kase.subject) : null,
      kase.search ? matchLine(kase.search) : h('span', { class: 'row-preview' }, kase.preview),
      h('span', { class: 'row-meta' },
        statusPill(kase.status, statusLabel(kase.status)),
        customerBadge(kase),
        queuePlace(kase),
        responseTag(kase),
        kase.snoozed_until ? h('span', { class: 'tag tag-muted', title: t('inbox.snoozedTitle') }, icon('clock'), t('inbox.snoozedUntil', { until: dateTime(kase.snoozed_until) })) : null,
        (kase.tags || []).map((tag) => tagChip(tag)),
        presenceMarker(kase))),
    h('span', { class: 'row-assignee' }, avatar(assignee, 'sm'),
      h('span', { class: 'sr-only' }, assignee ? t('inbox.assignedTo', { name: assignee.name }) : t('people.unassigned'))));
    return h('li', null, link);
  }

  function renderList() {
    const focusedId = document.activeElement && document.activeElement.closest && list.contains(document.activeElement)
      ? document.activeElement.dataset.id : null;
    replace(list, cases.map(row));
    if (focusedId) {
      const again = list.querySelector(`[data-id="${CSS.escape(focusedId)}"]`);
      if (again) again.focus();
    }
    more.hidden = !nextCursor;
    if (failed) {
      replace(message, h('p', { class: 'form-error' }, failed));
    } else if (!cases.length && !loading) {
      const what = state.q ? t('inbox.emptySearch') : {
        open: state.view === 'mine' ? t('inbox.emptyMine') : state.view === 'snoozed' ? t('inbox.emptySnoozed') : t('inbox.emptyOpen'),
        unread: t('inbox.emptyUnread'),
        closed: t('inbox.emptyClosed'),
        breached: t('inbox.emptyBreached'),
      }[state.filter];
      replace(message, h('div', { class: 'empty-list' }, icon('inbox'), h('p', null, what)));
    } else {
      replace(message);
    }
  }

  async function load({ append = false, keep = false } = {}) {
    const mine = ++requestNo;
    loading = true;
    const limit = keep ? Math.min(200, Math.max(PAGE, cases.length)) : PAGE;
    try {
      const page = await api.get(`/api/cases${api.query({
        view: state.view, filter: state.filter, q: state.q, tag: state.tag, limit,
        cursor: append ? nextCursor : '',
      })}`);
      if (mine !== requestNo) return;
      failed = null;
      cases = append ? cases.concat(page.cases) : page.cases;
      nextCursor = page.next_cursor;
    } catch (err) {
      if (mine !== requestNo) return;
      if (err.status !== 401) failed = t('inbox.loadFailed', { reason: err.message });
    } finally {
      if (mine === requestNo) loading = false;
    }
    renderList();
  }

  const refresh = debounce(() => load({ keep: true }), 100);

  function rows() {
    return [...list.querySelectorAll('.case-row')];
  }

  function focusRow(i) {
    const all = rows();
    if (!all.length) return;
    const target = all[Math.max(0, Math.min(all.length - 1, i))];
    target.focus();
    target.scrollIntoView({ block: 'nearest' });
  }

  function onKey(e) {
    if (typingOrBusy(e)) return;
    if (isShortcut(e, 'search')) {
      e.preventDefault();
      search.focus();
      search.select();
      return;
    }
    const next = isShortcut(e, 'next');
    if (!next && !isShortcut(e, 'previous')) return;
    if (!el.offsetParent) return; // the list is hidden (a case fills a narrow screen)
    const all = rows();
    let i = all.indexOf(document.activeElement);
    if (i < 0) i = all.findIndex((r) => r.dataset.id === selected);
    e.preventDefault();
    if (i < 0) focusRow(0);
    else focusRow(next ? i + 1 : i - 1);
  }
  document.addEventListener('keydown', onKey);
  const clock = setInterval(() => {
    for (const time of list.querySelectorAll('time.row-time')) time.textContent = relativeTime(time.dateTime);
    // Time left to the response target counts down in place.
    if (cases.some((c) => c.response_due_at)) renderList();
  }, 30_000);

  const subs = [
    on('cases', refresh),
    on('cases', refreshTags),
    on('tags', refreshTags),
    on('resync', refresh),
    on('counts', renderHead),
    on('badge', renderHead),
    on('teammates', renderList),
    on('presence', renderList),
  ];

  let shown = '';
  function sync() {
    renderHead();
    renderTags();
    const key = `${state.view}|${state.filter}|${state.q}|${state.tag}`;
    if (key !== shown) {
      shown = key;
      cases = [];
      nextCursor = null;
      renderList();
      load();
    }
  }
  sync();
  loadTags();

  return {
    el,
    sync,
    setSelected(id) {
      selected = id;
      for (const r of rows()) {
        const cur = r.dataset.id === id;
        r.classList.toggle('selected', cur);
        if (cur) r.setAttribute('aria-current', 'page');
        else r.removeAttribute('aria-current');
      }
    },
    /** A case the page changed locally (read, assigned): show it at once. */
    patch(kase) {
      const i = cases.findIndex((c) => c.id === kase.id);
      if (i >= 0) {
        cases[i] = { ...cases[i], ...kase };
        renderList();
      }
      refresh();
    },
    destroy() {
      document.removeEventListener('keydown', onKey);
      clearInterval(clock);
      subs.forEach((off) => off());
      refresh.cancel();
      refreshTags.cancel();
      onSearch.cancel();
    },
  };
}
