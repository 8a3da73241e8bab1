// Every keyboard shortcut in one list: the key handlers match against it and the "?" overlay
// shows it, so what the overlay says is what the keys do. Plain data, no DOM: the browser test
// imports it too. `section` and `does` are catalog keys; key names in `label` are shown as
// they are, except the ones in `KEY_NAMES`.

import { msgKey } from './i18n.js';

/**
 * `keys` are KeyboardEvent.key values (any one of them triggers), `label` how the overlay shows
 * them, `native` marks keys the browser handles itself (a focused link opens on Enter).
 */
export const SHORTCUTS = [
  { id: 'search', section: msgKey('shortcut.sectionInbox'), keys: ['/'], label: ['/'], does: msgKey('shortcut.search') },
  { id: 'next', section: msgKey('shortcut.sectionInbox'), keys: ['j'], label: ['j'], does: msgKey('shortcut.next') },
  { id: 'previous', section: msgKey('shortcut.sectionInbox'), keys: ['k'], label: ['k'], does: msgKey('shortcut.previous') },
  { id: 'open', section: msgKey('shortcut.sectionInbox'), keys: ['Enter'], label: ['Enter'], does: msgKey('shortcut.open'), native: true },
  { id: 'assign', section: msgKey('shortcut.sectionCase'), keys: ['a'], label: ['a'], does: msgKey('shortcut.assign') },
  { id: 'reply', section: msgKey('shortcut.sectionCase'), keys: ['r'], label: ['r'], does: msgKey('shortcut.reply') },
  { id: 'send', section: msgKey('shortcut.sectionCase'), keys: ['Enter'], ctrl: true, label: ['Ctrl', 'Enter'], does: msgKey('shortcut.send') },
  { id: 'leave', section: msgKey('shortcut.sectionCase'), keys: ['Escape'], label: ['Esc'], does: msgKey('shortcut.leaveComposer') },
  { id: 'back', section: msgKey('shortcut.sectionCase'), keys: ['Escape'], label: ['Esc'], does: msgKey('shortcut.back') },
  { id: 'help', section: msgKey('shortcut.sectionAnywhere'), keys: ['?'], label: ['?'], does: msgKey('shortcut.help') },
];

/** Key caps whose name differs by language (German keyboards say "Strg" for Ctrl). */
export const KEY_NAMES = { Ctrl: msgKey('key.ctrl'), Enter: msgKey('key.enter'), Esc: msgKey('key.esc') };

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
