// Settings → Appearance: System, Light or Dark for this browser. theme.js (loaded before the
// page paints) owns the choice and applies it; this is only its control.

import { h } from '../dom.js';

const OPTIONS = [
  ['system', 'System', 'Follows the light or dark setting of this device.'],
  ['light', 'Light', 'Dark text on light backgrounds.'],
  ['dark', 'Dark', 'Light text on dark backgrounds, easier at night.'],
];

/** The theme switch, or a note when theme.js did not load. */
export function appearanceControls() {
  const theme = window.batonTheme;
  if (!theme) return h('p', { class: 'muted' }, 'This browser follows its own light or dark setting.');
  const current = theme.choice();
  const inputs = OPTIONS.map(([value, title, hint]) => {
    const input = h('input', { type: 'radio', name: 'theme', value, checked: value === current });
    input.addEventListener('change', () => {
      if (input.checked) theme.choose(value);
    });
    return h('label', { class: 'radio-card' }, input,
      h('span', null, h('span', { class: 'radio-title' }, title), h('span', { class: 'hint' }, hint)));
  });
  return h('fieldset', { class: 'modes theme-choice' }, h('legend', { class: 'sr-only' }, 'Theme'), inputs);
}
