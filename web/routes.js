// Where the inbox views live in the URL, shared by the sidebar, the list and the case page.

import { state } from './store.js';
import { query } from './api.js';
import { msgKey } from './i18n.js';

/** `[view, title key, icon, short title key]` (the short one on narrow screens). */
export const VIEWS = [
  ['mine', msgKey('view.mine'), 'user', msgKey('view.mineShort')],
  ['unassigned', msgKey('view.unassigned'), 'circle', msgKey('view.unassignedShort')],
  ['all', msgKey('view.all'), 'layers', msgKey('view.allShort')],
  ['snoozed', msgKey('view.snoozed'), 'clock', msgKey('view.snoozedShort')],
];

export function inboxPath(view = state.view, filter = state.filter, q = state.q, tag = state.tag) {
  return `/${query({ view, filter: filter === 'open' ? '' : filter, q, tag })}`;
}
