// Where the inbox views live in the URL, shared by the sidebar, the list and the case page.

import { state } from './store.js';
import { query } from './api.js';

export const VIEWS = [
  ['mine', 'Assigned to me', 'user', 'Mine'],
  ['unassigned', 'Unassigned', 'circle', 'Unassigned'],
  ['all', 'All cases', 'layers', 'All'],
  ['snoozed', 'Snoozed', 'clock', 'Snoozed'],
];

export function inboxPath(view = state.view, filter = state.filter, q = state.q, tag = state.tag) {
  return `/${query({ view, filter: filter === 'open' ? '' : filter, q, tag })}`;
}
