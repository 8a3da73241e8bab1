// Reply and internal-note composer. Notes offer `@mention` completion (a mention is `@` and the
// teammate's email local part); `/` and a few letters offers saved replies, inserted as the
// server fills them in for this case; replies tell the team you are typing, at most every 2 s.

import * as api from '../api.js';
import { h, replace, debounce, uid } from '../dom.js';
import { icon } from '../icons.js';
import { avatar } from './common.js';
import { segments } from '../sms.js';
import { isShortcut } from '../shortcuts.js';
import { t } from '../i18n.js';

const TYPING_EVERY = 2000;

export function createComposer({ caseId, customerName, customerEmail, customerPhone, channel, onSent, sendTyping }) {
  let mode = 'reply';
  let lastTyping = 0;
  const listId = uid('mentions');
  const drafts = { reply: '', note: '' };

  const tabReply = h('button', { type: 'button', role: 'tab', class: 'composer-tab', id: 'tab-reply' }, icon('send'), t('composer.tabReply'));
  const tabNote = h('button', { type: 'button', role: 'tab', class: 'composer-tab', id: 'tab-note' }, icon('note'), t('composer.tabNote'));
  const text = h('textarea', {
    class: 'composer-text', rows: 4, id: 'composer-text', 'aria-labelledby': 'composer-label',
    // A textarea cannot be a combobox, so no aria-expanded: the live region says when the
    // mention list opens, and aria-activedescendant points into it.
    'aria-autocomplete': 'list', 'aria-controls': listId,
  });
  const label = h('span', { class: 'sr-only', id: 'composer-label' });
  const mentions = h('ul', { class: 'mention-list', role: 'listbox', id: listId, hidden: true, 'aria-label': t('composer.mentionList') });
  const live = h('span', { class: 'sr-only', 'aria-live': 'polite' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const hint = h('span', { class: 'composer-hint' });
  // SMS replies: characters left in the segment and how many segments the text takes.
  const counter = h('span', { class: 'sms-counter', id: 'sms-counter', 'aria-live': 'polite', hidden: true });
  function updateCounter() {
    counter.hidden = !(channel === 'sms' && mode === 'reply');
    if (counter.hidden) return;
    const s = segments(text.value);
    counter.textContent = t('composer.smsCounter', { left: s.left, count: s.segments, encoding: s.encoding });
  }
  const send = h('button', { type: 'submit', class: 'btn btn-primary', id: 'composer-send' });
  // Files to attach: uploaded when the message is sent, then named in `attachment_ids`.
  let files = [];
  const fileInput = h('input', { type: 'file', multiple: true, id: 'composer-files', class: 'sr-only' });
  const attach = h('label', { for: 'composer-files', class: 'btn composer-attach' }, t('composer.attach'));
  const fileList = h('ul', { class: 'composer-files', 'aria-label': t('composer.attached') });
  function renderFiles() {
    replace(fileList, files.map((f, i) => {
      const remove = h('button', { type: 'button', class: 'btn-link', 'aria-label': t('composer.removeFile', { name: f.name }) }, t('composer.remove'));
      remove.addEventListener('click', () => { files.splice(i, 1); renderFiles(); });
      return h('li', null, h('span', null, f.name), ' ', remove);
    }));
  }
  fileInput.addEventListener('change', () => {
    files = files.concat(Array.from(fileInput.files || [])).slice(0, 20);
    fileInput.value = '';
    renderFiles();
  });
  const form = h('form', { class: 'composer' },
    h('div', { class: 'composer-tabs', role: 'tablist', 'aria-label': t('composer.type') }, tabReply, tabNote),
    label,
    h('div', { class: 'composer-box' }, text, mentions, live),
    error,
    fileList,
    h('div', { class: 'composer-actions' }, fileInput, attach, hint, counter, send));

  function setMode(next) {
    drafts[mode] = text.value;
    mode = next;
    text.value = drafts[mode];
    form.classList.toggle('is-note', mode === 'note');
    tabReply.setAttribute('aria-selected', String(mode === 'reply'));
    tabNote.setAttribute('aria-selected', String(mode === 'note'));
    tabReply.tabIndex = mode === 'reply' ? 0 : -1;
    tabNote.tabIndex = mode === 'note' ? 0 : -1;
    text.placeholder = mode === 'reply' ? t('composer.replyPlaceholder', { name: customerName }) : t('composer.notePlaceholder');
    label.textContent = mode === 'reply' ? t('composer.replyLabel') : t('composer.noteLabel');
    // Say where a reply really goes: by email when the customer has an address, else nowhere.
    const replyHint = channel === 'sms' && customerPhone
      ? t('composer.hintSms', { phone: customerPhone })
      : channel === 'api'
        ? t('composer.hintApi')
        : customerEmail
          ? t('composer.hintEmail', { email: customerEmail })
          : t('composer.hintNowhere');
    hint.textContent = mode === 'reply' ? replyHint : t('composer.hintNote');
    replace(send, mode === 'reply' ? t('composer.sendReply') : t('composer.addNote'));
    updateCounter();
    closeMentions();
  }
  tabReply.addEventListener('click', () => { setMode('reply'); text.focus(); });
  tabNote.addEventListener('click', () => { setMode('note'); text.focus(); });
  for (const tab of [tabReply, tabNote]) {
    tab.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        const next = mode === 'reply' ? 'note' : 'reply';
        setMode(next);
        (next === 'reply' ? tabReply : tabNote).focus();
      }
    });
  }

  // The completion list: teammates for `@` in notes, saved replies for `/`.
  let candidates = [];
  let active = 0;
  let token = null; // { start, end } of the `@word` or `/word` being typed
  let listing = 'mention'; // or 'saved'

  function closeMentions() {
    mentions.hidden = true;
    candidates = [];
    token = null;
    text.removeAttribute('aria-activedescendant');
  }

  function renderMentions() {
    if (!candidates.length) {
      closeMentions();
      return;
    }
    mentions.hidden = false;
    mentions.setAttribute('aria-label', listing === 'saved' ? t('composer.savedList') : t('composer.mentionList'));
    replace(mentions, candidates.map((c, i) => {
      const attrs = { role: 'option', id: `${listId}-${i}`, class: ['mention-option', listing === 'saved' && 'saved-option', i === active && 'active'], 'aria-selected': String(i === active) };
      const li = listing === 'saved'
        ? h('li', attrs, h('span', { class: 'saved-name' }, c.name), h('span', { class: 'muted saved-preview' }, c.body.slice(0, 80)),
          c.scope === 'personal' ? h('span', { class: 'chip' }, t('composer.savedMine')) : null)
        : h('li', attrs, avatar(c, 'sm'), h('span', null, c.name), h('span', { class: 'muted' }, `@${handle(c)}`));
      li.addEventListener('mousedown', (e) => e.preventDefault());
      li.addEventListener('click', () => pick(i));
      return li;
    }));
    text.setAttribute('aria-activedescendant', `${listId}-${active}`);
  }

  const handle = (person) => person.email.split('@')[0];

  let lookup = 0;
  const findPeople = debounce(async (term) => {
    const mine = ++lookup;
    try {
      const { teammates } = await api.get(`/api/teammates${api.query({ q: term })}`);
      if (mine !== lookup || !token) return;
      candidates = teammates.slice(0, 8);
      active = 0;
      renderMentions();
    } catch {
      closeMentions();
    }
  }, 120);

  // Saved replies are read once per composer, when `/` is first typed.
  let saved = null;
  async function findSaved(term) {
    const mine = ++lookup;
    try {
      if (!saved) saved = (await api.get('/api/saved-replies')).saved_replies;
    } catch {
      saved = null;
      closeMentions();
      return;
    }
    if (mine !== lookup || !token) return;
    const want = term.toLowerCase();
    const hits = saved.filter((r) => r.name.toLowerCase().includes(want));
    hits.sort((a, b) => Number(!a.name.toLowerCase().startsWith(want)) - Number(!b.name.toLowerCase().startsWith(want)));
    candidates = hits.slice(0, 8);
    active = 0;
    live.textContent = candidates.length ? t('composer.savedFound', { count: candidates.length }) : t('composer.savedNone');
    renderMentions();
  }

  function detectMention() {
    const upto = text.value.slice(0, text.selectionStart);
    const slash = upto.match(/(^|\s)\/([\p{L}\p{N}._'-]{0,40})$/u);
    if (slash) {
      listing = 'saved';
      token = { start: upto.length - slash[2].length - 1, end: text.selectionStart };
      findPeople.cancel();
      findSaved(slash[2]);
      return;
    }
    const m = mode === 'note' && upto.match(/(^|[\s(])@([\p{L}\p{N}._-]{0,40})$/u);
    if (!m) {
      closeMentions();
      return;
    }
    listing = 'mention';
    token = { start: upto.length - m[2].length - 1, end: text.selectionStart };
    findPeople(m[2]);
  }

  /** Replaces the `/word` with the saved reply as the server renders it for this case. */
  async function pickSaved(reply) {
    const at = token;
    closeMentions();
    try {
      const { body } = await api.post(`/api/cases/${caseId}/saved-replies/${reply.id}/render`);
      text.value = text.value.slice(0, at.start) + body + text.value.slice(at.end);
      const caret = at.start + body.length;
      text.setSelectionRange(caret, caret);
      updateCounter();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    }
    text.focus();
  }

  function pick(i) {
    const choice = candidates[i];
    if (!choice || !token) return;
    if (listing === 'saved') {
      pickSaved(choice);
      return;
    }
    const insert = `@${handle(choice)} `;
    text.value = text.value.slice(0, token.start) + insert + text.value.slice(token.end);
    const caret = token.start + insert.length;
    text.setSelectionRange(caret, caret);
    closeMentions();
    text.focus();
  }

  text.addEventListener('input', () => {
    if (error.textContent) error.hidden = true;
    updateCounter();
    if (mode === 'reply' && Date.now() - lastTyping > TYPING_EVERY) {
      lastTyping = Date.now();
      sendTyping();
    }
    detectMention();
  });
  text.addEventListener('click', detectMention);
  text.addEventListener('keydown', (e) => {
    if (!mentions.hidden && candidates.length) {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        active = (active + (e.key === 'ArrowDown' ? 1 : -1) + candidates.length) % candidates.length;
        renderMentions();
        return;
      }
      if (e.key === 'Enter' || e.key === 'Tab') {
        e.preventDefault();
        pick(active);
        return;
      }
      if (e.key === 'Escape') {
        e.preventDefault();
        closeMentions();
        return;
      }
    }
    if (isShortcut(e, 'send')) {
      e.preventDefault();
      form.requestSubmit();
    } else if (isShortcut(e, 'leave') && !e.isComposing) {
      // Out of the composer without a mouse: the draft stays, the case's own keys (Esc back
      // to the list, a, r) work again.
      e.preventDefault();
      text.blur();
    }
  });
  text.addEventListener('blur', () => setTimeout(closeMentions, 150));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = text.value;
    if (!body.trim()) {
      text.focus();
      return;
    }
    send.disabled = true;
    error.hidden = true;
    try {
      const attachment_ids = [];
      for (const f of files) attachment_ids.push((await api.upload(f)).id);
      await api.post(`/api/cases/${caseId}/messages`, { kind: mode, body, attachment_ids });
      text.value = '';
      updateCounter();
      drafts[mode] = '';
      files = [];
      renderFiles();
      onSent();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    } finally {
      send.disabled = false;
    }
  });

  setMode('reply');
  return {
    el: form,
    focus: () => text.focus(),
    destroy: () => findPeople.cancel(),
  };
}
