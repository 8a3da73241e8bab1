// The interface text: every string the app shows comes from a catalog in web/locales/ through
// `t(key, vars)`; dates, times and numbers go through Intl in the same language. English
// (en.js) is the reference and the fallback for a key another catalog lacks.
//
// The language is per browser, like the theme: the choice in Settings → Appearance
// (localStorage `baton.locale`), else the first of the browser's languages that Baton speaks,
// else English. `setLanguage()` switches at once; `onLanguage(cb)` tells the views to render
// again. `<html lang>` follows.

import en from './locales/en.js';

const KEY = 'baton.locale';

/** The languages Baton speaks: a new one adds a line here and a catalog in web/locales/. */
export const LANGUAGES = [
  { code: 'en', name: 'English', load: async () => en },
  { code: 'de', name: 'Deutsch', load: async () => (await import('./locales/de.js')).default },
];

const known = (code) => LANGUAGES.some((l) => l.code === code);
const primary = (tag) => String(tag || '').toLowerCase().split('-')[0];

let current = 'en';
let catalog = en;
const listeners = new Set();

function saved() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null; /* storage can be off; the browser's languages then decide */
  }
}

/** The language to start in: the saved choice, else the browser's, else English. */
function initial() {
  const choice = saved();
  if (known(choice)) return choice;
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return wanted.map(primary).find(known) || 'en';
}

async function use(code) {
  const lang = LANGUAGES.find((l) => l.code === code) || LANGUAGES[0];
  try {
    catalog = await lang.load();
    current = lang.code;
  } catch (err) {
    console.error(`the ${lang.code} catalog did not load`, err);
    catalog = en;
    current = 'en';
  }
  document.documentElement.lang = current;
  cache.clear();
}

/** The chosen language's code (`en`, `de`). */
export const language = () => current;

/**
 * The locale Intl formats with: the browser's own tag when it is a variant of the chosen
 * language (en-GB dates for a British browser), else the language itself.
 */
export function locale() {
  const tags = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  return tags.find((tag) => primary(tag) === current) || current;
}

/** Switches the language now, remembers it for this browser and tells every `onLanguage` listener. */
export async function setLanguage(code) {
  if (!known(code)) return;
  try {
    localStorage.setItem(KEY, code);
  } catch {
    /* this tab still switches */
  }
  if (code === current) return;
  await use(code);
  for (const fn of [...listeners]) {
    try {
      fn(current);
    } catch (err) {
      console.error('language listener failed', err);
    }
  }
}

/** Calls `fn(code)` after every switch; returns the unsubscribe function. */
export function onLanguage(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// Intl formatters are costly to make: one per locale and options, dropped on a switch.
const cache = new Map();
function formatter(Kind, options) {
  const id = `${Kind.name}|${JSON.stringify(options)}`;
  if (!cache.has(id)) cache.set(id, new Kind(locale(), options));
  return cache.get(id);
}

export const formatNumber = (n, options = {}) => formatter(Intl.NumberFormat, options).format(n);
export const formatDate = (date, options = {}) => formatter(Intl.DateTimeFormat, options).format(date);
export const formatRelative = (value, unit, options = {}) => formatter(Intl.RelativeTimeFormat, options).format(value, unit);
export const formatList = (items, options = {}) => formatter(Intl.ListFormat, options).format(items);
const pluralOf = (n) => formatter(Intl.PluralRules, {}).select(n);

function lookup(key) {
  if (Object.hasOwn(catalog, key)) return catalog[key];
  if (Object.hasOwn(en, key)) return en[key];
  console.warn(`no text for ${key}`);
  return key;
}

const show = (value) => (typeof value === 'number' ? formatNumber(value) : String(value));

/** The text behind `key`: a plural one (`{one, other}`) picks its form by `vars.count`. */
function template(key, vars) {
  const text = lookup(key);
  if (text && typeof text === 'object') {
    const n = Number(vars.count);
    return text[pluralOf(n)] ?? text.other;
  }
  return text;
}

/** The text of `key` with `{name}` filled in from `vars` (numbers formatted for the language). */
export function t(key, vars = {}) {
  return template(key, vars).replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(vars, name) ? show(vars[name]) : whole));
}

/**
 * The text of `key` as a list of strings and elements, for `h()`: a `{name}` whose value is a
 * Node (a link, a <code>) stands in its place; everything else is text. Never HTML.
 */
export function parts(key, vars = {}) {
  return template(key, vars).split(/(\{\w+\})/).filter(Boolean).map((piece) => {
    const name = piece.match(/^\{(\w+)\}$/);
    if (!name || !Object.hasOwn(vars, name[1])) return piece;
    const value = vars[name[1]];
    return value instanceof Node ? value : show(value);
  });
}

/**
 * Marks a key that a table holds and `t()` reads later (a status's label, a shortcut's
 * description), so the catalog check finds it like a `t('…')` call. Returns the key.
 */
export const msgKey = (key) => key;

await use(initial());
