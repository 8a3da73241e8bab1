// Shared state and topics: views subscribe to what they show and get called when it changes.

import { t } from './i18n.js';

export const state = {
  me: null, // { teammate, workspace, notifications }
  teammates: [],
  // Open cases per teammate (Settings → Team shows them against each limit).
  openCases: {},
  counts: null,
  badge: { mine: 0, unassigned: 0 },
  presence: new Map(), // teammate_id → { viewing, typing, typingAt }
  connection: 'connecting',
  view: 'mine',
  filter: 'open',
  q: '',
  tag: '', // a tag id: only cases with it
};

const topics = new Map();

/** Subscribes to a topic; returns the unsubscribe function. */
export function on(topic, fn) {
  if (!topics.has(topic)) topics.set(topic, new Set());
  topics.get(topic).add(fn);
  return () => topics.get(topic).delete(fn);
}

export function emit(topic, payload) {
  for (const fn of [...(topics.get(topic) || [])]) {
    try {
      fn(payload);
    } catch (err) {
      console.error(`${topic} listener failed`, err);
    }
  }
}

export function set(key, value) {
  state[key] = value;
  emit(key, value);
}

export function teammate(id) {
  return id ? state.teammates.find((person) => person.id === id) || null : null;
}

export function teammateName(id, fallback = t('people.unassigned')) {
  if (!id) return fallback;
  if (state.me && id === state.me.teammate.id) return state.me.teammate.name;
  const person = teammate(id);
  if (!person) return t('people.former');
  return person.active === false ? t('people.removed', { name: person.name }) : person.name;
}

/**
 * A view's counts as the sidebar and the list show them. The unread numbers the badge counts
 * come from the badge itself, so the tab title, favicon, app badge and sidebar always agree,
 * whichever of the badge frame and the counts request arrived last.
 */
export function viewCounts(view) {
  const c = state.counts && state.counts[view];
  if (!c) return null;
  const b = state.badge;
  const watching = !!(state.me && state.me.notifications && state.me.notifications.unassigned);
  if (view === 'mine') return { ...c, unread: b.mine };
  if (view === 'unassigned' && watching) return { ...c, unread: b.unassigned };
  return c;
}

export function me() {
  return state.me ? state.me.teammate : null;
}

const RANK = { viewer: 0, agent: 1, manager: 2, admin: 3, owner: 4 };

export function roleAtLeast(role) {
  const self = me();
  return !!self && RANK[self.role] >= RANK[role];
}

export const canWork = () => roleAtLeast('agent');
export const canAssign = () => roleAtLeast('agent');
export const canAdmin = () => roleAtLeast('admin');
export const canBulk = () => roleAtLeast('manager');

/** Can the signed-in teammate hand out `role`? (Admins up to admin; only an owner makes owners.) */
export function canGrant(role) {
  return canAdmin() && (role !== 'owner' || me().role === 'owner');
}

/** Someone's typing counts as over this long after the last frame that said so. */
export const TYPING_TTL = 6000;

/** Others (not me) on a case: [{ id, name, typing }]. */
export function othersOn(caseId) {
  const out = [];
  const now = Date.now();
  const self = me() && me().id;
  for (const [id, p] of state.presence) {
    if (id === self) continue;
    const typing = p.typing === caseId && now - p.typingAt < TYPING_TTL;
    if (p.viewing === caseId || typing) out.push({ id, name: teammateName(id, t('people.someone')), typing });
  }
  return out;
}
