// The interface text catalogs (web/locales/*.js) checked against each other and against the
// code, with no browser: every language registered in web/i18n.js has a catalog and the other
// way round; every catalog has exactly English's keys, the same `{placeholders}` in each, the
// plural forms its language needs (Intl.PluralRules) and no empty text; every key the code
// names (`t('…')`, `parts('…')`, `msgKey('…')`) is in English, and every English key is named
// somewhere.
//
//   node tests/e2e/locales.mjs        (prints the problems, exits 1 when there are any)
//
// The browser test (run.mjs) runs the same check as its first step.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const WEB = join(HERE, '..', '..', 'web');
const LOCALES = join(WEB, 'locales');

/** A catalog's object: the file is a plain ES module with one default export and no imports. */
export async function loadCatalog(code) {
  const source = readFileSync(join(LOCALES, `${code}.js`), 'utf8');
  const module = await import(`data:text/javascript;charset=utf-8,${encodeURIComponent(source)}`);
  return module.default;
}

/** The language codes web/i18n.js registers in LANGUAGES. */
export function registeredLanguages() {
  const source = readFileSync(join(WEB, 'i18n.js'), 'utf8');
  const block = source.match(/export const LANGUAGES = \[([\s\S]*?)\n\];/);
  if (!block) throw new Error('web/i18n.js: no LANGUAGES list');
  return [...block[1].matchAll(/code: '([\w-]+)'/g)].map((m) => m[1]);
}

function jsFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return path === LOCALES ? [] : jsFiles(path);
    return entry.name.endsWith('.js') ? [path] : [];
  });
}

const KEY = /^[A-Za-z]\w*(?:\.\w+)+$/;

/**
 * Every key the code names literally (`t('…')`, `parts('…')`, `msgKey('…')`) with where, and
 * the calls whose literal is no key at all (`t('Some text')`), comments left out.
 */
export function keysInCode() {
  const found = new Map();
  const notKeys = [];
  for (const file of jsFiles(WEB)) {
    readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
      if (/^\s*(\/\/|\/?\*)/.test(text)) return;
      const where = `web/${relative(WEB, file)}:${i + 1}`;
      for (const m of text.matchAll(/\b(?:t|parts|msgKey)\(\s*(['"`])((?:(?!\1).)*)\1/g)) {
        if (!KEY.test(m[2])) notKeys.push(`${where}: ${m[0]}…): not a catalog key`);
        else if (!found.has(m[2])) found.set(m[2], where);
      }
    });
  }
  return { found, notKeys };
}

const placeholders = (text) => [...String(text).matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
const forms = (value) => (value && typeof value === 'object' ? Object.entries(value) : [['', value]]);
const namesIn = (value) => [...new Set(forms(value).flatMap(([, text]) => placeholders(text)))].sort();

/** One line per problem; none when the catalogs and the code agree. */
export async function checkLocales() {
  const problems = [];
  const codes = registeredLanguages();
  const files = readdirSync(LOCALES).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
  for (const code of codes) if (!files.includes(code)) problems.push(`${code}: registered in web/i18n.js but there is no web/locales/${code}.js`);
  for (const code of files) if (!codes.includes(code)) problems.push(`web/locales/${code}.js: not registered in LANGUAGES in web/i18n.js`);
  if (!codes.includes('en')) return [...problems, 'en: the reference language is not registered'];

  const catalogs = new Map();
  for (const code of codes.filter((c) => files.includes(c))) {
    try {
      catalogs.set(code, await loadCatalog(code));
    } catch (err) {
      problems.push(`web/locales/${code}.js: does not load: ${err.message}`);
    }
  }
  const en = catalogs.get('en');
  if (!en) return problems;

  for (const [code, catalog] of catalogs) {
    const needed = new Set(new Intl.PluralRules(code).resolvedOptions().pluralCategories);
    needed.add('other');
    for (const [key, value] of Object.entries(catalog)) {
      if (code !== 'en' && !Object.hasOwn(en, key)) {
        problems.push(`${code}: ${key}: not in en (a stale or misspelt key)`);
        continue;
      }
      const plural = value !== null && typeof value === 'object';
      if (plural !== (en[key] !== null && typeof en[key] === 'object')) {
        problems.push(`${code}: ${key}: ${plural ? 'a plural' : 'plain text'} here, ${plural ? 'plain text' : 'a plural'} in en`);
        continue;
      }
      if (plural) {
        const have = Object.keys(value);
        const missing = [...needed].filter((f) => !have.includes(f));
        const extra = have.filter((f) => !needed.has(f));
        if (missing.length) problems.push(`${code}: ${key}: plural form(s) missing: ${missing.join(', ')}`);
        if (extra.length) problems.push(`${code}: ${key}: plural form(s) ${code} does not use: ${extra.join(', ')}`);
      }
      for (const [form, text] of forms(value)) {
        if (typeof text !== 'string' || !text.trim()) problems.push(`${code}: ${key}${form ? ` (${form})` : ''}: empty`);
      }
      if (code !== 'en') {
        const ours = namesIn(value).join(', ');
        const theirs = namesIn(en[key]).join(', ');
        if (ours !== theirs) problems.push(`${code}: ${key}: placeholders {${ours}} but en has {${theirs}}`);
      }
    }
    if (code !== 'en') {
      for (const key of Object.keys(en)) if (!Object.hasOwn(catalog, key)) problems.push(`${code}: ${key}: missing (en: ${JSON.stringify(en[key])})`);
    }
  }

  const { found: used, notKeys } = keysInCode();
  problems.push(...notKeys);
  for (const [key, where] of used) if (!Object.hasOwn(en, key)) problems.push(`${where}: the key ${key} is not in en`);
  for (const key of Object.keys(en)) if (!used.has(key)) problems.push(`en: ${key}: no code uses it (remove it, or name it with msgKey)`);
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = await checkLocales();
  const codes = registeredLanguages();
  if (problems.length) {
    console.log(`The interface text catalogs disagree (${problems.length}):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  const en = await loadCatalog('en');
  console.log(`catalogs ${codes.join(', ')} agree: ${Object.keys(en).length} keys, all used, none missing`);
}
