// The signed-in frame: the sidebar (views with live counts, settings, who you are, whether the
// live connection is up) and the main area that the routes fill.

import { h, replace } from '../dom.js';
import { state, on, me, viewCounts, canBulk } from '../store.js';
import { icon } from '../icons.js';
import { avatar } from './common.js';
import { roleLabel, awayLabel } from '../format.js';
import { createInbox } from './inbox.js';
import { createCaseView } from './case.js';
import { createSettings } from './settings.js';
import { createReports } from './reports.js';
import { createCustomer } from './customer.js';
import { VIEWS, inboxPath } from '../routes.js';
import { createShortcutHelp } from './shortcut-help.js';
import { isShortcut, typingOrBusy } from '../shortcuts.js';

export function createShell(root, ctx) {
  const navLinks = new Map();
  const countEls = new Map();
  for (const [view, label, ic, short] of VIEWS) {
    const count = h('span', { class: 'nav-count' });
    countEls.set(view, count);
    const link = h('a', { href: inboxPath(view, 'open', ''), class: 'nav-link', dataset: { view } },
      icon(ic), h('span', { class: 'nav-label' }, h('span', { class: 'label-long' }, label), h('span', { class: 'label-short', 'aria-hidden': 'true' }, short)), count);
    navLinks.set(view, link);
  }
  const settingsLink = h('a', { href: '/settings', class: 'nav-link nav-settings' }, icon('settings'), h('span', { class: 'nav-label' }, 'Settings'));
  // Reports are for managers and up (the API refuses the others).
  const reportsLink = canBulk() ? h('a', { href: '/reports', class: 'nav-link nav-reports' }, icon('chart'), h('span', { class: 'nav-label' }, 'Reports')) : null;
  // Managers and up see how many open cases are past their response target, when any are.
  const breachedCount = h('span', { class: 'nav-count has-unread nav-count-breached' });
  const breachedLink = canBulk() ? h('a', { href: inboxPath('all', 'breached', ''), class: 'nav-link nav-breached', hidden: true },
    icon('clock'), h('span', { class: 'nav-label' }, 'Past target'), breachedCount) : null;
  const status = h('div', { class: 'conn', role: 'status', 'aria-live': 'polite' });
  const who = h('div', { class: 'who' });
  const workspaceName = h('div', { class: 'workspace-name' });
  const help = createShortcutHelp();
  const helpButton = h('button', { type: 'button', class: 'btn-icon', title: 'Keyboard shortcuts (?)', 'aria-label': 'Keyboard shortcuts', 'aria-haspopup': 'dialog', onclick: () => help.open() }, icon('keyboard'));
  const signOut = h('button', { type: 'button', class: 'btn-icon', title: 'Sign out', 'aria-label': 'Sign out', onclick: () => ctx.signOut() }, icon('logout'));

  const sidebar = h('nav', { class: 'sidebar', 'aria-label': 'Main' },
    h('div', { class: 'sidebar-head' },
      h('a', { href: inboxPath(), class: 'brand', 'aria-label': 'Baton inbox' }, h('img', { src: '/favicon.svg', alt: '', class: 'brand-mark' }), h('span', null, 'Baton')),
      workspaceName),
    h('div', { class: 'nav-wrap' },
      h('div', { class: 'nav-section' }, h('div', { class: 'nav-heading' }, 'Inbox'), [...navLinks.values()], breachedLink),
      h('div', { class: 'nav-section' }, reportsLink, settingsLink)),
    h('div', { class: 'sidebar-foot' }, status, h('div', { class: 'who-row' }, who, helpButton, signOut)));
  const main = h('div', { class: 'main', id: 'main' });
  const skip = h('a', { href: '#main', class: 'skip-link' }, 'Skip to content');
  replace(root, skip, sidebar, main);

  function renderMe() {
    const t = me();
    if (!t) return;
    replace(workspaceName, state.me.workspace.name);
    replace(who, avatar(t, 'sm'), h('div', { class: 'who-text' }, h('div', { class: 'who-name' }, t.name), h('div', { class: 'who-role' }, roleLabel(t.role), t.away ? ` · ${awayLabel(t).toLowerCase()}` : '')));
  }

  function renderCounts() {
    for (const [view, el] of countEls) {
      const v = viewCounts(view);
      if (!v) { replace(el); continue; }
      el.className = v.unread > 0 ? 'nav-count has-unread' : 'nav-count';
      el.textContent = v.unread > 0 ? String(v.unread) : '';
      el.title = `${v.open} open, ${v.unread} unread`;
      navLinks.get(view).classList.toggle('unread', v.unread > 0);
    }
    if (breachedLink) {
      const late = (state.counts && state.counts.all && state.counts.all.breached) || 0;
      breachedLink.hidden = late === 0;
      breachedCount.textContent = String(late);
      breachedCount.title = `${late} open ${late === 1 ? 'case' : 'cases'} past the response target`;
    }
  }

  function renderConnection() {
    const s = state.connection;
    status.className = `conn conn-${s}`;
    replace(status, h('span', { class: 'conn-dot', 'aria-hidden': 'true' }),
      s === 'online' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Offline, reconnecting…');
  }

  function markNav(name) {
    for (const [view, link] of navLinks) {
      const current = (name === 'inbox' || name === 'case') && view === state.view && !(breachedLink && state.filter === 'breached');
      if (current) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    if (breachedLink) {
      if ((name === 'inbox' || name === 'case') && state.view === 'all' && state.filter === 'breached') breachedLink.setAttribute('aria-current', 'page');
      else breachedLink.removeAttribute('aria-current');
    }
    for (const [page, link] of [['settings', settingsLink], ['reports', reportsLink]]) {
      if (!link) continue;
      if (name === page) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
  }

  function onKey(e) {
    if (typingOrBusy(e) || !isShortcut(e, 'help')) return;
    e.preventDefault();
    help.open();
  }
  document.addEventListener('keydown', onKey);

  const subs = [on('me', renderMe), on('counts', renderCounts), on('badge', renderCounts), on('connection', renderConnection)];
  renderMe();
  renderCounts();
  renderConnection();

  let inbox = null;
  let caseView = null;
  let settings = null;
  let pageName = null;
  let layout = null;
  let detail = null;
  ctx.patchCase = (kase) => inbox && inbox.patch(kase);

  function closeCase() {
    if (caseView) caseView.destroy();
    caseView = null;
  }

  function closeInbox() {
    closeCase();
    if (inbox) inbox.destroy();
    inbox = null;
    layout = null;
  }

  function emptyDetail() {
    return h('div', { class: 'empty-detail' },
      h('div', { class: 'empty-illustration', 'aria-hidden': 'true' }, icon('inbox')),
      h('p', null, 'Pick a case to read it.'),
      h('p', { class: 'muted small' }, 'Keys: j / k to move, Enter to open, / to search, ? for all of them.'));
  }

  function show(name, params) {
    if (name === 'inbox') {
      const qs = new URLSearchParams(location.search);
      const view = qs.get('view');
      state.view = ['mine', 'unassigned', 'all', 'snoozed'].includes(view) ? view : state.view;
      state.tag = qs.get('tag') || '';
      const filter = qs.get('filter');
      state.filter = ['open', 'unread', 'closed', 'breached'].includes(filter) ? filter : 'open';
      state.q = qs.get('q') || '';
    }
    markNav(name);
    // Settings, Reports and a customer are whole pages in place of the inbox.
    const pages = {
      settings: () => createSettings(ctx),
      reports: () => createReports(ctx),
      customer: () => createCustomer(ctx, params[0]),
    };
    if (pages[name]) {
      closeInbox();
      const key = [name, ...params].join('/');
      if (!settings || pageName !== key) {
        if (settings) settings.destroy();
        settings = pages[name]();
        pageName = key;
        replace(main, settings.el);
      }
      return;
    }
    if (settings) settings.destroy();
    settings = null;
    pageName = null;
    if (!layout) {
      inbox = createInbox(ctx);
      detail = h('section', { class: 'detail', 'aria-label': 'Case' });
      layout = h('div', { class: 'inbox-layout' }, inbox.el, detail);
      replace(main, layout);
    } else {
      inbox.sync();
    }
    if (name === 'case') {
      const id = params[0];
      layout.classList.add('has-case');
      inbox.setSelected(id);
      if (!caseView || caseView.id !== id) {
        closeCase();
        caseView = createCaseView(ctx, id);
        replace(detail, caseView.el);
      }
    } else {
      layout.classList.remove('has-case');
      inbox.setSelected(null);
      closeCase();
      replace(detail, emptyDetail());
    }
  }

  return {
    show,
    destroy() {
      closeInbox();
      if (settings) settings.destroy();
      subs.forEach((off) => off());
      document.removeEventListener('keydown', onKey);
      help.destroy();
      replace(root);
    },
  };
}
