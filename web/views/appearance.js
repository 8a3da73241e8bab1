// Settings → Appearance: System, Light or Dark, and the language, for this browser. theme.js
// (loaded before the page paints) owns the theme and applies it; i18n.js owns the language.
// These are only their controls; both switch at once and are remembered in this browser.

import { h } from '../dom.js';
import { t, msgKey, LANGUAGES, language, setLanguage } from '../i18n.js';

const OPTIONS = [
  ['system', msgKey('appearance.system'), msgKey('appearance.systemHint')],
  ['light', msgKey('appearance.light'), msgKey('appearance.lightHint')],
  ['dark', msgKey('appearance.dark'), msgKey('appearance.darkHint')],
];

/** The theme switch, or a note when theme.js did not load. */
export function appearanceControls() {
  const theme = window.batonTheme;
  if (!theme) return h('p', { class: 'muted' }, t('appearance.noTheme'));
  const current = theme.choice();
  const inputs = OPTIONS.map(([value, title, hint]) => {
    const input = h('input', { type: 'radio', name: 'theme', value, checked: value === current });
    input.addEventListener('change', () => {
      if (input.checked) theme.choose(value);
    });
    return h('label', { class: 'radio-card' }, input,
      h('span', null, h('span', { class: 'radio-title' }, t(title)), h('span', { class: 'hint' }, t(hint))));
  });
  return h('fieldset', { class: 'modes theme-choice' }, h('legend', { class: 'sr-only' }, t('appearance.theme')), inputs);
}

/**
 * The language select: each language in its own name (a German speaker finds "Deutsch" in an
 * English page). Choosing one redraws the app in it at once (app.js listens).
 */
export function languageControl() {
  const select = h('select', { id: 'language-select', class: 'select', name: 'language' },
    LANGUAGES.map(({ code, name }) => h('option', { value: code, lang: code, selected: code === language() }, name)));
  select.addEventListener('change', () => setLanguage(select.value));
  return h('div', { class: 'field field-inline language-choice' },
    h('label', { for: 'language-select' }, t('appearance.language')), select,
    h('p', { class: 'hint', id: 'language-hint' }, t('appearance.languageHint')));
}
