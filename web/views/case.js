// One case: the conversation (customer messages, replies, internal notes), the composer, who
// else is looking, and the right rail (customer, assignee, status, tags, snooze, follow-up,
// timeline).

import * as api from '../api.js';
import { h, replace, debounce } from '../dom.js';
import { on, teammateName, othersOn, canWork, canAssign, canAdmin } from '../store.js';
import { icon } from '../icons.js';
import { avatar, customerBadge, statusPill, toast, tagChip } from './common.js';
import { snoozeChoices, timeZone } from '../snooze.js';
import { STATUSES, statusLabel, dateTime, relativeTime, toLocalInput, channelLabel, isClosed } from '../format.js';
import { createAssign } from './assign.js';
import { createComposer } from './composer.js';
import { caseLinks } from './customer.js';
import { inboxPath } from '../routes.js';
import { isShortcut, typingOrBusy } from '../shortcuts.js';

export function createCaseView(ctx, id) {
  let detail = null;
  let composer = null;
  let destroyed = false;
  const readOnly = !canWork();

  const back = h('a', { href: inboxPath(), class: 'back-link' }, icon('back'), h('span', null, 'Back to list'));
  const header = h('header', { class: 'case-head' });
  const banner = h('div', { class: 'collision', role: 'status', 'aria-live': 'polite', hidden: true });
  const convo = h('ol', { class: 'conversation', 'aria-label': 'Conversation' });
  const convoScroll = h('div', { class: 'conversation-scroll' }, convo);
  const composerSlot = h('div', { class: 'composer-slot' });
  const rail = h('aside', { class: 'rail', 'aria-label': 'Case details' });
  const body = h('div', { class: 'case-body' },
    h('div', { class: 'case-main' }, back, header, banner, convoScroll, composerSlot),
    rail);
  const el = h('div', { class: 'case-view' }, h('p', { class: 'loading' }, 'Loading the case…'));

  const getCase = () => (detail ? detail.case : null);

  const assign = createAssign({
    getCase,
    disabled: !canAssign(),
    onChanged: (kase) => {
      applyCase(kase);
      reload();
    },
  });

  const statusSelect = h('select', { id: 'status-select', class: 'select', disabled: readOnly },
    STATUSES.map(([value, label]) => h('option', { value }, label)));
  statusSelect.addEventListener('change', async () => {
    const kase = getCase();
    const status = statusSelect.value;
    try {
      applyCase(await api.put(`/api/cases/${kase.id}/status`, { status }));
      reload();
    } catch (err) {
      statusSelect.value = kase.status;
      toast(err.message, 'error');
    }
  });

  const followInput = h('input', { type: 'datetime-local', id: 'follow-up-input', class: 'input', disabled: readOnly });
  const followSet = h('button', { type: 'button', class: 'btn btn-small', disabled: readOnly }, 'Set follow-up');
  const followClear = h('button', { type: 'button', class: 'btn btn-small btn-ghost', disabled: readOnly }, 'Clear');
  const followNow = h('p', { class: 'rail-value muted small' });
  async function setFollowUp(dueAt) {
    const kase = getCase();
    try {
      applyCase(await api.put(`/api/cases/${kase.id}/follow-up`, { due_at: dueAt }));
      reload();
      toast(dueAt ? 'Follow-up scheduled' : 'Follow-up cleared');
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  followSet.addEventListener('click', () => {
    if (!followInput.value) {
      followInput.focus();
      return;
    }
    const d = new Date(followInput.value);
    if (Number.isNaN(d.getTime())) return;
    setFollowUp(d.toISOString());
  });
  followClear.addEventListener('click', () => setFollowUp(null));

  // Tags: chips with a remove button; a name typed here (or picked from the list) is added.
  const tagList = h('ul', { class: 'tag-list', 'aria-label': 'Tags on this case' });
  const tagOptions = h('datalist', { id: 'tag-options' });
  const tagInput = h('input', { type: 'text', id: 'tag-input', class: 'input', list: 'tag-options', maxlength: 40, placeholder: 'Add a tag', autocomplete: 'off' });
  const tagAdd = h('button', { type: 'submit', class: 'btn btn-small' }, 'Add');
  const tagForm = h('form', { class: 'inline-controls tag-form' }, tagInput, tagAdd, tagOptions);
  tagForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = tagInput.value.trim();
    if (!name) return;
    try {
      applyCase(await api.post(`/api/cases/${id}/tags`, { name }));
      tagInput.value = '';
      reload();
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  async function untag(tag) {
    try {
      applyCase(await api.del(`/api/cases/${id}/tags/${tag.id}`));
      reload();
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  async function loadTagOptions() {
    try {
      const { tags } = await api.get('/api/tags');
      replace(tagOptions, tags.map((t) => h('option', { value: t.name })));
    } catch {
      /* the field still takes a typed name */
    }
  }

  // Snooze: a few moments in the teammate's time zone, or any date and time.
  const snoozeNow = h('p', { class: 'rail-value muted small', id: 'snooze-now' });
  const snoozeButtons = h('div', { class: 'button-row snooze-choices' });
  const snoozeInput = h('input', { type: 'datetime-local', id: 'snooze-input', class: 'input', disabled: readOnly });
  const snoozeSet = h('button', { type: 'button', class: 'btn btn-small', disabled: readOnly }, 'Snooze');
  const wakeButton = h('button', { type: 'button', class: 'btn btn-small btn-ghost', disabled: readOnly }, 'Wake now');
  async function snooze(until) {
    try {
      applyCase(await api.post(`/api/cases/${id}/snooze`, { until: until.toISOString() }));
      reload();
      toast(`Snoozed until ${dateTime(until.toISOString())}`);
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  function renderSnoozeChoices() {
    replace(snoozeButtons, snoozeChoices().map(([label, at]) =>
      h('button', { type: 'button', class: 'btn btn-small', title: `${at.toLocaleString()} (${timeZone()})`, onclick: () => snooze(at) }, label)));
  }
  snoozeSet.addEventListener('click', () => {
    const d = snoozeInput.value ? new Date(snoozeInput.value) : null;
    if (!d || Number.isNaN(d.getTime())) {
      snoozeInput.focus();
      return;
    }
    snooze(d);
  });
  wakeButton.addEventListener('click', async () => {
    try {
      applyCase(await api.del(`/api/cases/${id}/snooze`));
      reload();
    } catch (err) {
      toast(err.message, 'error');
    }
  });

  const customerBlock = h('div', { class: 'rail-block customer-card' });
  // The customer's other cases, newest first (their page has them all).
  const historyBlock = h('div', { class: 'rail-block customer-history' });
  let history = null;
  const detailsBlock = h('dl', { class: 'rail-block details' });
  const timeline = h('ol', { class: 'timeline' });

  replace(rail,
    customerBlock,
    historyBlock,
    assign.el,
    h('div', { class: 'rail-block' }, h('label', { class: 'rail-label', for: 'status-select' }, 'Status'), statusSelect),
    h('div', { class: 'rail-block' },
      h('label', { class: 'rail-label', for: 'tag-input' }, 'Tags'),
      tagList,
      readOnly ? null : tagForm),
    h('div', { class: 'rail-block' },
      h('label', { class: 'rail-label', for: 'snooze-input' }, 'Snooze'),
      snoozeNow,
      readOnly ? null : [snoozeButtons, h('div', { class: 'inline-controls' }, snoozeInput, snoozeSet), wakeButton],
      h('p', { class: 'hint' }, `Times in ${timeZone()}. A snoozed case leaves your lists and comes back then, or as soon as the customer writes.`)),
    h('div', { class: 'rail-block' },
      h('label', { class: 'rail-label', for: 'follow-up-input' }, 'Follow-up'),
      followNow,
      readOnly ? null : [followInput, h('div', { class: 'button-row' }, followSet, followClear)]),
    detailsBlock,
    h('div', { class: 'rail-block' }, h('h2', { class: 'rail-label' }, 'Timeline'), timeline));

  function renderHeader() {
    const k = detail.case;
    replace(header,
      h('div', { class: 'case-title-row' },
        h('h1', { class: 'case-title' }, k.subject || k.customer.name || 'Case'),
        statusPill(k.status, statusLabel(k.status))),
      h('p', { class: 'case-sub' },
        h('span', { class: 'case-number' }, k.number), ' · ',
        k.subject ? [h('span', null, k.customer.name), ' · '] : null,
        customerBadge(k),
        k.category ? [' · ', h('span', { class: 'tag tag-muted' }, k.category)] : null));
  }

  function renderCollision() {
    if (!detail) return;
    const others = othersOn(id);
    if (!others.length) {
      banner.hidden = true;
      replace(banner);
      return;
    }
    banner.hidden = false;
    const typing = others.filter((o) => o.typing);
    banner.classList.toggle('is-typing', typing.length > 0);
    const lines = others.map((o) => `${o.name} ${o.typing ? 'is typing a reply' : 'is viewing'}`);
    replace(banner, icon(typing.length ? 'pen' : 'eye'), h('span', null, lines.join(' · ')));
  }

  async function retryDelivery(m, button) {
    button.disabled = true;
    try {
      await api.post(`/api/cases/${id}/messages/${m.id}/retry`);
      reload();
    } catch (err) {
      button.disabled = false;
      toast(err.message || 'Could not retry');
    }
  }

  /** Where an outbound reply stands: sending (and why it is retrying), sent, or failed. */
  function deliveryLine(m) {
    const d = m.delivery;
    if (!d) return null;
    const text = {
      queued: d.error ? `Sending… (will retry: ${d.error})` : 'Sending…',
      sent: 'Sent by email',
      delivered: 'Delivered',
      failed: `Not delivered: ${d.error || 'unknown reason'}`,
    }[d.state] || d.state;
    const retry = d.state === 'failed' && canWork()
      ? h('button', { type: 'button', class: 'btn btn-small msg-retry', onclick: (e) => retryDelivery(m, e.currentTarget) }, 'Retry')
      : null;
    return h('p', { class: `msg-delivery delivery-${d.state}`, title: new Date(d.at).toLocaleString() }, text, retry);
  }

  // Files on a message: always downloads (the server sends them as attachments), never shown
  // inline, so a customer's HTML is never rendered.
  function attachmentList(m) {
    if (!m.attachments || !m.attachments.length) return null;
    return h('ul', { class: 'msg-attachments', 'aria-label': 'Attachments' },
      m.attachments.map((a) => h('li', null,
        h('a', { href: `/api/attachments/${a.id}`, download: a.filename }, a.filename),
        h('span', { class: 'muted' }, ` ${sizeText(a.size)}`))));
  }

  function sizeText(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function message(m) {
    const k = detail.case;
    const inbound = m.kind === 'inbound' || m.kind === 'automated';
    const author = inbound ? { id: k.customer.id, name: k.customer.name } : { id: m.author_id, name: teammateName(m.author_id, 'System') };
    const kindLabel = m.kind === 'note' ? 'Internal note' : m.kind === 'automated' ? 'Automatic email' : inbound ? channelLabel(m.channel) : 'Reply';
    return h('li', { class: `msg msg-${m.kind}`, id: `m-${m.id}` },
      avatar(author, 'md'),
      h('div', { class: 'msg-card' },
        h('div', { class: 'msg-head' },
          h('span', { class: 'msg-author' }, author.name),
          h('span', { class: 'msg-kind' }, m.kind === 'note' ? icon('lock') : null, kindLabel),
          h('time', { class: 'msg-time', datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, dateTime(m.created_at))),
        h('div', { class: 'msg-body' }, m.body),
        attachmentList(m),
        m.quoted ? h('details', { class: 'msg-quoted' }, h('summary', null, 'Earlier conversation'), h('div', { class: 'msg-body' }, m.quoted)) : null,
        deliveryLine(m)));
  }

  function renderConversation() {
    const nearBottom = convoScroll.scrollHeight - convoScroll.scrollTop - convoScroll.clientHeight < 80;
    replace(convo, detail.messages.map(message));
    if (nearBottom || !renderConversation.done) convoScroll.scrollTop = convoScroll.scrollHeight;
    renderConversation.done = true;
  }

  function timelineText(t) {
    const actor = t.actor_id ? teammateName(t.actor_id, 'Someone') : 'System';
    const detailObj = t.detail || {};
    switch (t.kind) {
      case 'created':
        return `Case opened from ${channelLabel(detailObj.channel).toLowerCase()}`;
      case 'assigned': {
        const to = t.to_id ? teammateName(t.to_id) : null;
        if (detailObj.reason === 'auto_assign') return to ? `Auto-assigned to ${to}` : 'Left unassigned by the rules';
        const from = t.from_id ? teammateName(t.from_id) : null;
        if (detailObj.reason && detailObj.reason !== 'auto_assign') {
          return `${to ? `Moved to ${to}` : 'Returned to the pool'}${from ? ` from ${from}` : ''} (${String(detailObj.reason).replace(/_/g, ' ')})`;
        }
        if (!to) return t.actor_id && t.actor_id === t.from_id ? `${actor} returned it to the pool` : `${actor} unassigned it${from ? ` from ${from}` : ''}`;
        if (t.actor_id && t.actor_id === t.to_id) return from ? `${actor} took it over from ${from}` : `${actor} took it`;
        if (t.actor_id && t.actor_id === t.from_id) return `${actor} handed it to ${to}`;
        return from ? `${actor} reassigned it from ${from} to ${to}` : `${actor} assigned it to ${to}`;
      }
      case 'status':
        return `${actor} changed status: ${statusLabel(detailObj.from)} → ${statusLabel(detailObj.to)}`;
      case 'reopened':
        return 'Reopened by a new customer message';
      case 'follow_up_set':
        return detailObj.due_at ? `${actor} set a follow-up for ${dateTime(detailObj.due_at)}` : `${actor} cleared the follow-up`;
      case 'follow_up_due':
        return 'Follow-up is due';
      case 'erased':
        return `${actor} erased the customer's data`;
      case 'customer_merged':
        return `${actor} merged ${detailObj.from_name || 'another customer'} into this customer`;
      case 'tagged':
        return `${actor} tagged it ${detailObj.name}`;
      case 'untagged':
        return `${actor} removed the tag ${detailObj.name}`;
      case 'snoozed':
        return `${actor} snoozed it until ${dateTime(detailObj.until)}`;
      case 'woke':
        return { time: 'Back from snooze', customer: 'Back from snooze: the customer wrote' }[detailObj.reason] || `${actor} woke it from snooze`;
      default:
        return `${actor}: ${t.kind.replace(/_/g, ' ')}`;
    }
  }

  // Erasure: the customer's name, addresses and the text of all their cases, for good.
  function eraseButton(c) {
    const button = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost' }, 'Erase customer…');
    button.addEventListener('click', async () => {
      const sure = window.confirm(`Erase ${c.name}? Their name, email and phone, the text of every message and note on their cases and their files are deleted for good. The cases stay, as “Erased customer”.`);
      if (!sure) return;
      button.disabled = true;
      try {
        await api.post(`/api/customers/${c.id}/erase`);
        toast('Customer erased');
        reload();
      } catch (err) {
        toast(err.message, 'error');
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function renderRail() {
    const k = detail.case;
    const c = k.customer;
    replace(customerBlock,
      h('div', { class: 'customer-top' }, avatar({ id: c.id, name: c.name }, 'lg'),
        h('div', null, h('div', { class: 'customer-name' }, c.name), customerBadge(k))),
      c.email ? h('div', { class: 'customer-line' }, h('a', { href: `mailto:${c.email}` }, c.email)) : null,
      c.phone ? h('div', { class: 'customer-line' }, c.phone) : null,
      h('a', { href: `/customers/${c.id}`, class: 'customer-line customer-page-link' }, 'Customer page: history and notes'),
      canAdmin() ? eraseButton(c) : null);
    replace(historyBlock,
      h('h2', { class: 'rail-label' }, 'Last cases'),
      history && history.customer.id === c.id ? caseLinks(history.cases.slice(0, 6), id) : h('p', { class: 'muted small' }, '…'));
    assign.update();
    if (document.activeElement !== statusSelect) statusSelect.value = k.status;
    followNow.textContent = k.follow_up_at ? `Due ${dateTime(k.follow_up_at)} (${relativeTime(k.follow_up_at)})` : 'None scheduled';
    if (document.activeElement !== followInput) followInput.value = toLocalInput(k.follow_up_at);
    followClear.hidden = !k.follow_up_at;
    replace(tagList, (k.tags || []).map((t) => h('li', null, tagChip(t, readOnly ? null
      : h('button', { type: 'button', class: 'tag-remove', 'aria-label': `Remove tag ${t.name}`, onclick: () => untag(t) }, '×')))));
    snoozeNow.textContent = k.snoozed_until ? `Snoozed until ${dateTime(k.snoozed_until)} (${relativeTime(k.snoozed_until)})` : 'Not snoozed';
    wakeButton.hidden = !k.snoozed_until;
    renderSnoozeChoices();
    replace(detailsBlock,
      h('dt', null, 'Case'), h('dd', null, k.number),
      h('dt', null, 'Opened'), h('dd', null, dateTime(k.created_at)),
      k.closed_at ? [h('dt', null, 'Closed'), h('dd', null, dateTime(k.closed_at))] : null,
      h('dt', null, 'Category'), h('dd', null, k.category || '—'));
    replace(timeline, detail.timeline.slice().reverse().map((t) =>
      h('li', { class: `tl tl-${t.kind}` },
        h('span', { class: 'tl-text' }, timelineText(t)),
        h('time', { class: 'tl-time', datetime: t.at }, dateTime(t.at)))));
  }

  function renderAll() {
    if (!el.contains(body)) {
      replace(el, body);
      if (readOnly) {
        replace(composerSlot, h('p', { class: 'read-only-note' }, icon('lock'), 'You have read-only access: viewers can follow cases but not reply or change them.'));
      } else {
        composer = createComposer({
          caseId: id,
          customerName: detail.case.customer.name,
          customerEmail: detail.case.customer.email,
          customerPhone: detail.case.customer.phone,
          // Replies leave on the case's channel (set by a Twilio text or an API channel);
          // without one they go by email, whatever the ingest webhook called the channel.
          channel: !detail.case.channel_id ? 'email'
            : (detail.messages.filter((m) => m.kind === 'inbound').pop() || {}).channel === 'sms' ? 'sms' : 'api',
          onSent: () => reload(),
          sendTyping: () => ctx.socket && ctx.socket.send({ type: 'typing', case_id: id }),
        });
        replace(composerSlot, composer.el);
      }
    }
    renderHeader();
    renderConversation();
    renderRail();
    renderCollision();
    el.classList.toggle('is-closed', isClosed(detail.case.status));
  }

  function applyCase(kase) {
    if (!detail || kase.id !== id) return;
    detail.case = { ...detail.case, ...kase };
    renderAll();
    if (ctx.patchCase) ctx.patchCase(detail.case);
  }

  let loadNo = 0;
  async function load() {
    const mine = ++loadNo;
    try {
      const data = await api.get(`/api/cases/${encodeURIComponent(id)}`);
      if (destroyed || mine !== loadNo) return;
      detail = data;
      renderAll();
      markRead();
      // The customer's other cases are read once per customer, not on every live change of
      // this case; an erasure or a merge of the customer reads them again.
      if (!history || history.customer.id !== data.case.customer.id) loadHistory(data.case.customer.id);
    } catch (err) {
      if (destroyed || mine !== loadNo || err.status === 401) return;
      if (detail) {
        toast(`Could not refresh the case: ${err.message}`, 'error');
        return;
      }
      replace(el, h('div', { class: 'empty-detail' },
        h('p', null, err.status === 404 || err.status === 422 ? 'This case does not exist, or it is not in your workspace.' : `The case could not load: ${err.message}`),
        h('a', { href: inboxPath(), class: 'btn' }, 'Back to the inbox')));
    }
  }
  const reload = debounce(load, 80);

  async function loadHistory(customerId) {
    try {
      const found = await api.get(`/api/customers/${customerId}`);
      if (destroyed || !detail || detail.case.customer.id !== customerId) return;
      history = found;
      renderRail();
    } catch {
      /* the rail keeps its placeholder; the next load tries again */
    }
  }

  let reading = false;
  async function markRead() {
    if (!detail || !detail.case.unread || document.visibilityState !== 'visible' || reading) return;
    reading = true;
    try {
      await api.post(`/api/cases/${id}/read`);
      if (destroyed) return;
      detail.case.unread = false;
      if (ctx.patchCase) ctx.patchCase({ id, unread: false });
      ctx.refreshCounts();
    } catch {
      /* stays unread; the next open tries again */
    } finally {
      reading = false;
    }
  }

  function onCases(ev) {
    if (history && (ev.kind === 'customer.erased' || ev.kind === 'customer.merged')
      && [ev.customer_id, ev.into_id].includes(history.customer.id)) loadHistory(history.customer.id);
    const ids = ev.case_ids || [ev.case_id];
    if (ids.includes(id)) reload();
  }

  function onKey(e) {
    if (typingOrBusy(e)) return;
    if (isShortcut(e, 'assign') && detail && canAssign()) {
      e.preventDefault();
      assign.open();
    } else if (isShortcut(e, 'reply') && composer) {
      e.preventDefault();
      composer.focus();
    } else if (isShortcut(e, 'back') && el.closest('.has-case')) {
      ctx.navigate(inboxPath());
    }
  }
  document.addEventListener('keydown', onKey);
  document.addEventListener('visibilitychange', markRead);

  const subs = [
    on('cases', onCases),
    on('resync', reload),
    on('presence', renderCollision),
    on('teammates', () => detail && renderAll()),
    on('tags', loadTagOptions),
  ];

  // A reply's delivery changes (`message.delivery`) are not among the case events the app
  // fans out, so this view listens to the socket's frames itself while it is open.
  const socket = ctx.socket;
  const passFrame = socket && socket.onFrame;
  if (socket) {
    socket.onFrame = (frame) => {
      passFrame(frame);
      const ev = frame && frame.type === 'event' ? frame.event : null;
      if (ev && ev.kind === 'message.delivery' && ev.case_id === id) reload();
    };
  }

  if (ctx.socket) ctx.socket.setViewing(id);
  load();
  loadTagOptions();

  return {
    id,
    el,
    destroy() {
      destroyed = true;
      reload.cancel();
      subs.forEach((off) => off());
      assign.destroy();
      if (composer) composer.destroy();
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('visibilitychange', markRead);
      if (ctx.socket) ctx.socket.setViewing(null);
      if (socket) socket.onFrame = passFrame;
    },
  };
}
