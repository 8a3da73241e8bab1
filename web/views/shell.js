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
import { t } from '../i18n.js';

export function createShell(root, ctx) {
  const navLinks = new Map();
  const countEls = new Map();
  for (const [view, label, ic, short] of VIEWS) {
    const count = h('span', { class: 'nav-count' });
    countEls.set(view, count);
    const link = h('a', { href: inboxPath(view, 'open', ''), class: 'nav-link', dataset: { view } },
      icon(ic), h('span', { class: 'nav-label' }, h('span', { class: 'label-long' }, t(label)), h('span', { class: 'label-short', 'aria-hidden': 'true' }, t(short))), count);
    navLinks.set(view, link);
  }
  const settingsLink = h('a', { href: '/settings', class: 'nav-link nav-settings' }, icon('settings'), h('span', { class: 'nav-label' }, t('nav.settings')));
  // Reports are for managers and up (the API refuses the others).
  const reportsLink = canBulk() ? h('a', { href: '/reports', class: 'nav-link nav-reports' }, icon('chart'), h('span', { class: 'nav-label' }, t('nav.reports'))) : null;
  // Managers and up see how many open cases are past their response target, when any are.
  const breachedCount = h('span', { class: 'nav-count has-unread nav-count-breached' });
  const breachedLink = canBulk() ? h('a', { href: inboxPath('all', 'breached', ''), class: 'nav-link nav-breached', hidden: true },
    icon('clock'), h('span', { class: 'nav-label' }, t('nav.pastTarget')), breachedCount) : null;
  const status = h('div', { class: 'conn', role: 'status', 'aria-live': 'polite' });
  const who = h('div', { class: 'who' });
  const workspaceName = h('div', { class: 'workspace-name' });
  const help = createShortcutHelp();
  const helpButton = h('button', { type: 'button', class: 'btn-icon', title: t('nav.shortcutsTitle'), 'aria-label': t('shortcuts.title'), 'aria-haspopup': 'dialog', onclick: () => help.open() }, icon('keyboard'));
  const signOut = h('button', { type: 'button', class: 'btn-icon', title: t('nav.signOut'), 'aria-label': t('nav.signOut'), onclick: () => ctx.signOut() }, icon('logout'));

  const sidebar = h('nav', { class: 'sidebar', 'aria-label': t('nav.main') },
    h('div', { class: 'sidebar-head' },
      h('a', { href: inboxPath(), class: 'brand', 'aria-label': t('nav.brand') }, h('img', { src: '/favicon.svg', alt: '', class: 'brand-mark' }), h('span', null, 'Baton')),
      workspaceName),
    h('div', { class: 'nav-wrap' },
      h('div', { class: 'nav-section' }, h('div', { class: 'nav-heading' }, t('nav.inbox')), [...navLinks.values()], breachedLink),
      h('div', { class: 'nav-section' }, reportsLink, settingsLink)),
    h('div', { class: 'sidebar-foot' }, status, h('div', { class: 'who-row' }, who, helpButton, signOut)));
  const main = h('div', { class: 'main', id: 'main' });
  const skip = h('a', { href: '#main', class: 'skip-link' }, t('nav.skip'));
  replace(root, skip, sidebar, main);

  function renderMe() {
    const self = me();
    if (!self) return;
    replace(workspaceName, state.me.workspace.name);
    replace(who, avatar(self, 'sm'), h('div', { class: 'who-text' }, h('div', { class: 'who-name' }, self.name),
      h('div', { class: 'who-role' }, self.away ? t('nav.roleAway', { role: roleLabel(self.role), away: awayLabel(self) }) : roleLabel(self.role))));
  }

  function renderCounts() {
    for (const [view, el] of countEls) {
      const v = viewCounts(view);
      if (!v) { replace(el); continue; }
      el.className = v.unread > 0 ? 'nav-count has-unread' : 'nav-count';
      el.textContent = v.unread > 0 ? String(v.unread) : '';
      el.title = t('nav.countTitle', { open: v.open, unread: v.unread });
      navLinks.get(view).classList.toggle('unread', v.unread > 0);
    }
    if (breachedLink) {
      const late = (state.counts && state.counts.all && state.counts.all.breached) || 0;
      breachedLink.hidden = late === 0;
      breachedCount.textContent = String(late);
      breachedCount.title = t('nav.breachedTitle', { count: late });
    }
  }

  function renderConnection() {
    const s = state.connection;
    status.className = `conn conn-${s}`;
    const text = s === 'online' ? t('conn.online') : s === 'connecting' ? t('conn.connecting') : t('conn.offline');
    status.title = text; // the whole text where a narrow screen cuts the label short
    replace(status, h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), h('span', { class: 'conn-text' }, text));
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
      h('p', null, t('inbox.pickCase')),
      h('p', { class: 'muted small' }, t('inbox.pickCaseKeys')));
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
      detail = h('section', { class: 'detail', 'aria-label': t('case.region') });
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
