// The "?" overlay: every keyboard shortcut, read from the same list the key handlers use.
// A modal <dialog> (dialog.js): the rest of the page is inert while it is open, Tab stays
// inside, Escape closes it, and focus goes back to where it was.

import { h } from '../dom.js';
import { SHORTCUTS, KEY_NAMES } from '../shortcuts.js';
import { t } from '../i18n.js';
import { modal } from './dialog.js';

function keysOf(shortcut) {
  const parts = [];
  shortcut.label.forEach((key, i) => {
    if (i) parts.push(h('span', { class: 'key-plus', 'aria-hidden': 'true' }, '+'));
    parts.push(h('kbd', null, KEY_NAMES[key] ? t(KEY_NAMES[key]) : key));
  });
  return parts;
}

export function createShortcutHelp() {
  const sections = [...new Set(SHORTCUTS.map((s) => s.section))];
  const close = h('button', { type: 'button', class: 'btn', 'data-close': '' }, t('shortcuts.close'));
  const dialog = h('dialog', { class: 'shortcut-help', 'aria-labelledby': 'shortcut-help-title', 'aria-modal': 'true' },
    h('div', { class: 'shortcut-help-head' },
      h('h2', { id: 'shortcut-help-title' }, t('shortcuts.title')),
      h('p', { class: 'muted small' }, t('shortcuts.intro'))),
    sections.map((section) => h('section', { class: 'shortcut-section', 'aria-label': t(section) },
      h('h3', { class: 'rail-label' }, t(section)),
      h('dl', { class: 'shortcut-list' }, SHORTCUTS.filter((s) => s.section === section).map((s) =>
        h('div', { class: 'shortcut', dataset: { shortcut: s.id } }, h('dt', null, keysOf(s)), h('dd', null, t(s.does))))))),
    h('div', { class: 'actions' }, close));

  close.addEventListener('click', () => dialog.close());
  const box = modal(dialog);

  return {
    open() {
      box.open(close);
    },
    destroy() {
      if (dialog.open) dialog.close();
      dialog.remove();
    },
  };
}
