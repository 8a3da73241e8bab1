// Every keyboard shortcut in one list: the key handlers match against it and the "?" overlay
// shows it, so what the overlay says is what the keys do. Plain data, no DOM: the browser test
// imports it too.

/**
 * `keys` are KeyboardEvent.key values (any one of them triggers), `label` how the overlay shows
 * them, `native` marks keys the browser handles itself (a focused link opens on Enter).
 */
export const SHORTCUTS = [
  { id: 'search', section: 'Inbox', keys: ['/'], label: ['/'], does: 'Search the cases' },
  { id: 'next', section: 'Inbox', keys: ['j'], label: ['j'], does: 'Next case in the list' },
  { id: 'previous', section: 'Inbox', keys: ['k'], label: ['k'], does: 'Previous case in the list' },
  { id: 'open', section: 'Inbox', keys: ['Enter'], label: ['Enter'], does: 'Open the case', native: true },
  { id: 'assign', section: 'Case', keys: ['a'], label: ['a'], does: 'Assign the case' },
  { id: 'reply', section: 'Case', keys: ['r'], label: ['r'], does: 'Write a reply' },
  { id: 'send', section: 'Case', keys: ['Enter'], ctrl: true, label: ['Ctrl', 'Enter'], does: 'Send the reply or note (⌘ Enter on a Mac)' },
  { id: 'back', section: 'Case', keys: ['Escape'], label: ['Esc'], does: 'Back to the list (when the case fills the screen)' },
  { id: 'help', section: 'Anywhere', keys: ['?'], label: ['?'], does: 'Show these shortcuts' },
];

const BY_ID = new Map(SHORTCUTS.map((s) => [s.id, s]));

/** True when the key event is the shortcut `id` (Ctrl and ⌘ count alike for `ctrl` ones). */
export function isShortcut(e, id) {
  const s = BY_ID.get(id);
  if (!s || !s.keys.includes(e.key)) return false;
  const ctrl = e.ctrlKey || e.metaKey;
  return s.ctrl ? ctrl && !e.altKey : !ctrl && !e.altKey;
}

/**
 * Single-key shortcuts stay out of the way of typing: not in fields, not inside a dialog or
 * a listbox (they have keys of their own), not with a modifier held.
 */
export function typingOrBusy(e) {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return true;
  const t = e.target;
  return !!(t && t.closest && t.closest('input, textarea, select, [contenteditable], [role="listbox"], [role="dialog"], dialog'));
}
