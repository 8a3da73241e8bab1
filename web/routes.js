// Where the inbox views live in the URL, shared by the sidebar, the list and the case page.

import { state } from './store.js';
import { query } from './api.js';

export const VIEWS = [
  ['mine', 'Assigned to me', 'user', 'Mine'],
  ['unassigned', 'Unassigned', 'circle', 'Unassigned'],
  ['all', 'All cases', 'layers', 'All'],
];

export function inboxPath(view = state.view, filter = state.filter, q = state.q) {
  return `/${query({ view, filter: filter === 'open' ? '' : filter, q })}`;
}
