// The app: routes, sign-in state, and the live pipeline from the socket into the store.

import * as api from './api.js';
import { state, set, emit, me, canAdmin } from './store.js';
import { Socket } from './socket.js';
import { showUnread, resetUnread } from './badge.js';
import { chime, prepareChime } from './chime.js';
import { registerWorker, disablePush } from './push.js';
import { debounce } from './dom.js';
import { loginView, signupView, inviteView, enrolView } from './views/auth.js';
import { createShell } from './views/shell.js';
import { toast } from './views/common.js';
import { t, onLanguage } from './i18n.js';

const root = document.getElementById('app');
let socket = null;
let shell = null;

const PUBLIC = [
  [/^\/login\/?$/, loginView],
  [/^\/signup\/?$/, signupView],
  [/^\/invite\/([^/]+)\/?$/, inviteView],
];
const PRIVATE = [
  [/^\/$/, 'inbox'],
  [/^\/cases\/([^/]+)\/?$/, 'case'],
  [/^\/settings\/?$/, 'settings'],
  [/^\/reports\/?$/, 'reports'],
  [/^\/customers\/([^/]+)\/?$/, 'customer'],
];

export function navigate(path, { replace = false } = {}) {
  const here = location.pathname + location.search;
  if (path !== here) history[replace ? 'replaceState' : 'pushState'](null, '', path);
  route();
}

const ctx = {
  navigate,
  get socket() { return socket; },
  signOut,
  refreshCounts: () => refreshCounts(),
  reloadMe: () => reloadMe(),
  loadTeammates: () => loadTeammates(),
};

async function route() {
  const path = location.pathname;
  for (const [re, view] of PUBLIC) {
    const m = path.match(re);
    if (m) {
      teardown();
      root.className = 'public';
      view(root, { navigate, params: m.slice(1).map(decodeURIComponent) });
      return;
    }
  }
  for (const [re, name] of PRIVATE) {
    const m = path.match(re);
    if (m) {
      if (!state.me && !(await start())) return;
      if (!shell) {
        root.className = 'signed-in';
        shell = createShell(root, ctx);
      }
      shell.show(name, m.slice(1).map(decodeURIComponent));
      return;
    }
  }
  navigate('/', { replace: true });
}

/** Signs the tab in: who am I, the team, the live socket. False when there is no session. */
async function start() {
  try {
    set('me', await api.get('/api/me', { quiet401: true }));
  } catch (err) {
    if (err.status === 401) {
      navigate('/login', { replace: true });
    } else {
      root.className = 'public';
      root.replaceChildren(Object.assign(document.createElement('p'), {
        className: 'boot-note',
        textContent: t('app.loadFailed', { reason: err.message }),
      }));
    }
    return false;
  }
  if (state.me.totp_enrolment_required) {
    const workspaceName = state.me.workspace.name;
    root.className = 'public';
    enrolView(root, {
      workspaceName,
      onEnrolled: () => location.assign('/'),
      signOut: () => signOut(),
    });
    return false;
  }
  if (!me().role || me().role === 'viewer') state.view = 'all';
  await loadTeammates();
  socket = new Socket({ onFrame, onStatus: (s) => set('connection', s), onSessionEnded: sessionEnded });
  socket.start();
  loadPresence();
  refreshCounts();
  registerWorker();
  prepareChime();
  return true;
}

function teardown() {
  if (socket) socket.stop();
  socket = null;
  if (shell) shell.destroy();
  shell = null;
  if (state.me) {
    state.me = null;
    state.teammates = [];
    state.counts = null;
    state.presence = new Map();
    state.badge = { mine: 0, unassigned: 0 };
    resetUnread();
  }
}

async function signOut() {
  // This browser stops getting the signed-out teammate's pushes (whoever signs in next).
  try {
    await Promise.race([disablePush(), new Promise((resolve) => { setTimeout(resolve, 2000); })]);
  } catch {
    /* best effort */
  }
  try {
    await api.del('/api/session', undefined, { quiet401: true });
  } catch {
    /* signed out either way */
  }
  teardown();
  navigate('/login');
}

async function sessionEnded() {
  try {
    set('me', await api.get('/api/me', { quiet401: true }));
    // Still signed in (a role change ends sockets too): reconnect with the new rights.
    loadTeammates();
    socket.connectNow();
  } catch {
    teardown();
    navigate('/login', { replace: true });
  }
}

api.setUnauthorizedHandler(() => {
  if (!state.me) return;
  teardown();
  navigate('/login', { replace: true });
});

async function reloadMe() {
  try {
    set('me', await api.get('/api/me'));
  } catch {
    /* the 401 handler or the next event takes care of it */
  }
}

async function loadTeammates() {
  try {
    const team = await api.get('/api/teammates?removed=true');
    state.openCases = team.open_cases || {};
    set('teammates', team.teammates);
  } catch {
    /* names fall back to "Former teammate" until the next load */
  }
}

const refreshCounts = debounce(async () => {
  try {
    set('counts', await api.get('/api/cases/counts'));
  } catch {
    /* next event retries */
  }
}, 80);

async function loadPresence() {
  try {
    const { online } = await api.get('/api/presence');
    const map = new Map();
    for (const p of online) {
      map.set(p.teammate_id, { viewing: p.viewing, typing: p.typing, typingAt: p.typing ? Date.now() : 0 });
    }
    set('presence', map);
  } catch {
    /* presence is a nicety */
  }
}

let hellos = 0;

function onFrame(frame) {
  switch (frame.type) {
    case 'hello':
      hellos += 1;
      setBadge(frame.badge);
      if (hellos > 1) {
        // Back after a gap: presence may have moved; events are replayed by the server.
        loadPresence();
        refreshCounts();
      }
      break;
    case 'event':
      handleEvent(frame.event);
      break;
    case 'badge':
      setBadge(frame);
      refreshCounts();
      break;
    case 'presence':
      onPresence(frame);
      break;
    case 'resync':
      reloadMe();
      loadTeammates();
      loadPresence();
      refreshCounts();
      emit('resync');
      break;
    default:
      break;
  }
}

function setBadge({ mine, unassigned }) {
  // The server sends counts that were true at one moment and never negative; clamp anyway so
  // that no bug can ever show "(-1) Baton".
  const badge = { mine: Math.max(0, Number(mine) || 0), unassigned: Math.max(0, Number(unassigned) || 0) };
  set('badge', badge);
  showUnread(badge.mine + badge.unassigned);
}

let typingTimer = null;

function onPresence(frame) {
  const map = new Map(state.presence);
  if (!frame.online) {
    map.delete(frame.teammate_id);
  } else {
    const before = map.get(frame.teammate_id);
    const typingAt = frame.typing ? Date.now() : before && before.typing === frame.typing ? before.typingAt : 0;
    map.set(frame.teammate_id, { viewing: frame.viewing, typing: frame.typing, typingAt });
  }
  set('presence', map);
  // Typing fades on its own: re-render once it has gone stale.
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => emit('presence', state.presence), 6100);
}

const CASE_KINDS = new Set([
  'case.created', 'case.assigned', 'case.status_changed', 'message.created', 'note.created',
  'case.follow_up_set', 'cases.bulk_reassigned', 'case.breached', 'customer.erased', 'customer.merged',
  'case.tagged', 'case.untagged', 'case.snoozed', 'case.woke',
]);

function handleEvent(ev) {
  const self = me();
  if (!self) return;
  if (CASE_KINDS.has(ev.kind)) {
    emit('cases', ev);
    refreshCounts();
  }
  if (ev.kind === 'teammate.changed') {
    loadTeammates();
    if (ev.teammate_id === self.id) reloadMe();
    emit('team', ev);
  }
  if (ev.kind === 'workspace.changed') reloadMe();
  if (ev.kind === 'rules.changed') emit('rules', ev);
  if (ev.kind === 'webhook.switched_off' && canAdmin()) {
    emit('webhooks', ev);
    toast(t('app.webhookOff', { url: ev.url }), 'error');
  }
  if (ev.kind === 'tags.changed' || ev.kind === 'case.tagged' || ev.kind === 'case.untagged') emit('tags', ev);
  if (ev.kind === 'message.created' && ev.message_kind === 'inbound' && ev.assignee_id === self.id
      && state.me.notifications && state.me.notifications.chime) {
    chime();
  }
}

// Clicks on same-origin links stay in the app.
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', route);

// Another language chosen (Settings → Appearance): the page on screen is drawn again in it, in
// place, without a reload; the socket and the signed-in state stay. Focus and scroll stay where
// they were.
onLanguage(() => {
  const focused = document.activeElement && document.activeElement.id;
  const main = document.getElementById('main');
  const scrolled = main ? main.scrollTop : 0;
  if (shell) shell.destroy();
  shell = null;
  route();
  const again = document.getElementById('main');
  if (again) again.scrollTop = scrolled;
  const target = focused && document.getElementById(focused);
  if (target) target.focus();
});

if ('serviceWorker' in navigator) {
  // A notification click in the service worker asks an open tab to show the case.
  navigator.serviceWorker.addEventListener('message', (e) => {
    if (e.data && e.data.type === 'navigate' && typeof e.data.url === 'string' && e.data.url.startsWith('/') && !e.data.url.startsWith('//')) {
      navigate(e.data.url);
    }
  });
  navigator.serviceWorker.startMessages();
}

route();
