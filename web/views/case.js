// One case: the conversation (customer messages, replies, internal notes), the composer, who
// else is looking, and the right rail (customer, assignee, status, tags, snooze, follow-up,
// timeline).

import * as api from '../api.js';
import { h, replace, debounce } from '../dom.js';
import { on, teammateName, othersOn, canWork, canAssign, canAdmin } from '../store.js';
import { icon } from '../icons.js';
import { avatar, customerBadge, statusPill, toast, tagChip, presenceLine } from './common.js';
import { snoozeChoices, timeZone } from '../snooze.js';
import { STATUSES, statusLabel, dateTime, fullDateTime, relativeTime, toLocalInput, channelLabel, isClosed, fileSize } from '../format.js';
import { createAssign } from './assign.js';
import { createComposer } from './composer.js';
import { caseLinks } from './customer.js';
import { confirmAction } from './confirm.js';
import { inboxPath } from '../routes.js';
import { isShortcut, typingOrBusy } from '../shortcuts.js';
import { t, msgKey } from '../i18n.js';

/** Why the rules or a teammate moved a case (the timeline's `reason`). */
const REASONS = {
  queue: msgKey('reason.queue'),
  response_target: msgKey('reason.responseTarget'),
  owner_removed: msgKey('reason.ownerRemoved'),
  owner_viewer: msgKey('reason.ownerViewer'),
  owner_away: msgKey('reason.ownerAway'),
  departure: msgKey('reason.departure'),
  bulk_reassign: msgKey('reason.bulkReassign'),
};

export function createCaseView(ctx, id) {
  let detail = null;
  let composer = null;
  let destroyed = false;
  const readOnly = !canWork();

  const back = h('a', { href: inboxPath(), class: 'back-link' }, icon('back'), h('span', null, t('case.backToList')));
  const header = h('header', { class: 'case-head' });
  const banner = h('div', { class: 'collision', role: 'status', 'aria-live': 'polite', hidden: true });
  const convo = h('ol', { class: 'conversation', 'aria-label': t('case.conversation') });
  const convoScroll = h('div', { class: 'conversation-scroll' }, convo);
  const composerSlot = h('div', { class: 'composer-slot' });
  const rail = h('aside', { class: 'rail', 'aria-label': t('case.details') });
  const body = h('div', { class: 'case-body' },
    h('div', { class: 'case-main' }, back, header, banner, convoScroll, composerSlot),
    rail);
  const el = h('div', { class: 'case-view' }, h('p', { class: 'loading' }, t('case.loading')));

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
    STATUSES.map(([value, label]) => h('option', { value }, t(label))));
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
  const followSet = h('button', { type: 'button', class: 'btn btn-small', disabled: readOnly }, t('case.setFollowUp'));
  const followClear = h('button', { type: 'button', class: 'btn btn-small btn-ghost', disabled: readOnly }, t('case.clearFollowUp'));
  const followNow = h('p', { class: 'rail-value muted small' });
  async function setFollowUp(dueAt) {
    const kase = getCase();
    try {
      applyCase(await api.put(`/api/cases/${kase.id}/follow-up`, { due_at: dueAt }));
      reload();
      toast(dueAt ? t('case.followUpScheduled') : t('case.followUpCleared'));
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
  const tagList = h('ul', { class: 'tag-list', 'aria-label': t('case.tagsOnCase') });
  const tagOptions = h('datalist', { id: 'tag-options' });
  const tagInput = h('input', { type: 'text', id: 'tag-input', class: 'input', list: 'tag-options', maxlength: 40, placeholder: t('case.addTagPlaceholder'), autocomplete: 'off' });
  const tagAdd = h('button', { type: 'submit', class: 'btn btn-small' }, t('case.addTag'));
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
      replace(tagOptions, tags.map((tag) => h('option', { value: tag.name })));
    } catch {
      /* the field still takes a typed name */
    }
  }

  // Snooze: a few moments in the teammate's time zone, or any date and time.
  const snoozeNow = h('p', { class: 'rail-value muted small', id: 'snooze-now' });
  const snoozeButtons = h('div', { class: 'button-row snooze-choices' });
  const snoozeInput = h('input', { type: 'datetime-local', id: 'snooze-input', class: 'input', disabled: readOnly });
  const snoozeSet = h('button', { type: 'button', class: 'btn btn-small', disabled: readOnly }, t('case.snooze'));
  const wakeButton = h('button', { type: 'button', class: 'btn btn-small btn-ghost', disabled: readOnly }, t('case.wakeNow'));
  async function snooze(until) {
    try {
      applyCase(await api.post(`/api/cases/${id}/snooze`, { until: until.toISOString() }));
      reload();
      toast(t('case.snoozedToast', { until: dateTime(until.toISOString()) }));
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  function renderSnoozeChoices() {
    replace(snoozeButtons, snoozeChoices().map(([label, at]) =>
      h('button', { type: 'button', class: 'btn btn-small', title: t('case.snoozeChoiceTitle', { at: fullDateTime(at), zone: timeZone() }), onclick: () => snooze(at) }, label)));
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
    h('div', { class: 'rail-block' }, h('label', { class: 'rail-label', for: 'status-select' }, t('case.status')), statusSelect),
    h('div', { class: 'rail-block' },
      h('label', { class: 'rail-label', for: 'tag-input' }, t('case.tags')),
      tagList,
      readOnly ? null : tagForm),
    h('div', { class: 'rail-block' },
      h('label', { class: 'rail-label', for: 'snooze-input' }, t('case.snooze')),
      snoozeNow,
      readOnly ? null : [snoozeButtons, h('div', { class: 'inline-controls' }, snoozeInput, snoozeSet), wakeButton],
      h('p', { class: 'hint' }, t('case.snoozeHint', { zone: timeZone() }))),
    h('div', { class: 'rail-block' },
      h('label', { class: 'rail-label', for: 'follow-up-input' }, t('case.followUp')),
      followNow,
      readOnly ? null : [followInput, h('div', { class: 'button-row' }, followSet, followClear)]),
    detailsBlock,
    h('div', { class: 'rail-block' }, h('h2', { class: 'rail-label' }, t('case.timeline')), timeline));

  function renderHeader() {
    const k = detail.case;
    replace(header,
      h('div', { class: 'case-title-row' },
        h('h1', { class: 'case-title' }, k.subject || k.customer.name || t('case.untitled')),
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
    replace(banner, icon(typing.length ? 'pen' : 'eye'), h('span', null, others.map(presenceLine).join(' · ')));
  }

  async function retryDelivery(m, button) {
    button.disabled = true;
    try {
      await api.post(`/api/cases/${id}/messages/${m.id}/retry`);
      reload();
    } catch (err) {
      button.disabled = false;
      toast(err.message || t('case.retryFailed'));
    }
  }

  /** Where an outbound reply stands: sending (and why it is retrying), sent, or failed. */
  function deliveryLine(m) {
    const d = m.delivery;
    if (!d) return null;
    const text = {
      queued: () => (d.error ? t('delivery.retrying', { reason: d.error }) : t('delivery.sending')),
      sent: () => t('delivery.sent'),
      delivered: () => t('delivery.delivered'),
      failed: () => t('delivery.failed', { reason: d.error || t('delivery.unknownReason') }),
    }[d.state]?.() || d.state;
    const retry = d.state === 'failed' && canWork()
      ? h('button', { type: 'button', class: 'btn btn-small msg-retry', onclick: (e) => retryDelivery(m, e.currentTarget) }, t('delivery.retry'))
      : null;
    return h('p', { class: `msg-delivery delivery-${d.state}`, title: fullDateTime(d.at) }, text, retry);
  }

  // Files on a message: always downloads (the server sends them as attachments), never shown
  // inline, so a customer's HTML is never rendered.
  function attachmentList(m) {
    if (!m.attachments || !m.attachments.length) return null;
    return h('ul', { class: 'msg-attachments', 'aria-label': t('case.attachments') },
      m.attachments.map((a) => h('li', null,
        h('a', { href: `/api/attachments/${a.id}`, download: a.filename }, a.filename),
        h('span', { class: 'muted' }, ` ${fileSize(a.size)}`))));
  }

  function message(m) {
    const k = detail.case;
    const inbound = m.kind === 'inbound' || m.kind === 'automated';
    const author = inbound ? { id: k.customer.id, name: k.customer.name } : { id: m.author_id, name: teammateName(m.author_id, t('people.system')) };
    const kindLabel = m.kind === 'note' ? t('message.note') : m.kind === 'automated' ? t('message.automated') : inbound ? channelLabel(m.channel) : t('message.reply');
    return h('li', { class: `msg msg-${m.kind}`, id: `m-${m.id}` },
      avatar(author, 'md'),
      h('div', { class: 'msg-card' },
        h('div', { class: 'msg-head' },
          h('span', { class: 'msg-author' }, author.name),
          h('span', { class: 'msg-kind' }, m.kind === 'note' ? icon('lock') : null, kindLabel),
          h('time', { class: 'msg-time', datetime: m.created_at, title: fullDateTime(m.created_at) }, dateTime(m.created_at))),
        h('div', { class: 'msg-body' }, m.body),
        attachmentList(m),
        m.quoted ? h('details', { class: 'msg-quoted' }, h('summary', null, t('message.quoted')), h('div', { class: 'msg-body' }, m.quoted)) : null,
        deliveryLine(m)));
  }

  function renderConversation() {
    const nearBottom = convoScroll.scrollHeight - convoScroll.scrollTop - convoScroll.clientHeight < 80;
    replace(convo, detail.messages.map(message));
    if (nearBottom || !renderConversation.done) convoScroll.scrollTop = convoScroll.scrollHeight;
    renderConversation.done = true;
  }

  function timelineText(entry) {
    const actor = entry.actor_id ? teammateName(entry.actor_id, t('people.someone')) : t('people.system');
    const info = entry.detail || {};
    switch (entry.kind) {
      case 'created':
        return t('timeline.created', { channel: channelLabel(info.channel) });
      case 'assigned': {
        const to = entry.to_id ? teammateName(entry.to_id) : null;
        if (info.reason === 'auto_assign') return to ? t('timeline.autoAssigned', { to }) : t('timeline.autoUnassigned');
        const from = entry.from_id ? teammateName(entry.from_id) : null;
        if (info.reason) {
          const why = REASONS[info.reason] ? t(REASONS[info.reason]) : String(info.reason).replace(/_/g, ' ');
          if (to) return from ? t('timeline.movedFrom', { to, from, why }) : t('timeline.moved', { to, why });
          return from ? t('timeline.returnedFrom', { from, why }) : t('timeline.returned', { why });
        }
        if (!to) {
          if (entry.actor_id && entry.actor_id === entry.from_id) return t('timeline.gaveBack', { actor });
          return from ? t('timeline.unassignedFrom', { actor, from }) : t('timeline.unassigned', { actor });
        }
        if (entry.actor_id && entry.actor_id === entry.to_id) return from ? t('timeline.tookOver', { actor, from }) : t('timeline.took', { actor });
        if (entry.actor_id && entry.actor_id === entry.from_id) return t('timeline.handed', { actor, to });
        return from ? t('timeline.reassigned', { actor, from, to }) : t('timeline.assigned', { actor, to });
      }
      case 'status':
        return t('timeline.status', { actor, from: statusLabel(info.from), to: statusLabel(info.to) });
      case 'reopened':
        return t('timeline.reopened');
      case 'follow_up_set':
        return info.due_at ? t('timeline.followUpSet', { actor, at: dateTime(info.due_at) }) : t('timeline.followUpCleared', { actor });
      case 'follow_up_due':
        return t('timeline.followUpDue');
      case 'erased':
        return t('timeline.erased', { actor });
      case 'customer_merged':
        return t('timeline.merged', { actor, from: info.from_name || t('timeline.anotherCustomer') });
      case 'tagged':
        return t('timeline.tagged', { actor, tag: info.name });
      case 'untagged':
        return t('timeline.untagged', { actor, tag: info.name });
      case 'snoozed':
        return t('timeline.snoozed', { actor, until: dateTime(info.until) });
      case 'woke':
        if (info.reason === 'time') return t('timeline.wokeTime');
        if (info.reason === 'customer') return t('timeline.wokeCustomer');
        return t('timeline.woke', { actor });
      default:
        return t('timeline.other', { actor, what: entry.kind.replace(/_/g, ' ') });
    }
  }

  // Erasure: the customer's name, addresses and the text of all their cases, for good.
  function eraseButton(c) {
    const button = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost' }, t('case.erase'));
    button.addEventListener('click', async () => {
      const sure = await confirmAction({
        title: t('case.eraseTitle', { name: c.name }), message: t('case.eraseMessage'), action: t('case.eraseAction'),
      });
      if (!sure) return;
      button.disabled = true;
      try {
        await api.post(`/api/customers/${c.id}/erase`);
        toast(t('case.erased'));
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
      h('a', { href: `/customers/${c.id}`, class: 'customer-line customer-page-link' }, t('case.customerPage')),
      canAdmin() ? eraseButton(c) : null);
    replace(historyBlock,
      h('h2', { class: 'rail-label' }, t('case.lastCases')),
      history && history.customer.id === c.id ? caseLinks(history.cases.slice(0, 6), id) : h('p', { class: 'muted small' }, '…'));
    assign.update();
    if (document.activeElement !== statusSelect) statusSelect.value = k.status;
    followNow.textContent = k.follow_up_at ? t('case.followUpDue', { at: dateTime(k.follow_up_at), relative: relativeTime(k.follow_up_at) }) : t('case.followUpNone');
    if (document.activeElement !== followInput) followInput.value = toLocalInput(k.follow_up_at);
    followClear.hidden = !k.follow_up_at;
    replace(tagList, (k.tags || []).map((tag) => h('li', null, tagChip(tag, readOnly ? null
      : h('button', { type: 'button', class: 'tag-remove', 'aria-label': t('case.removeTag', { name: tag.name }), onclick: () => untag(tag) }, '×')))));
    snoozeNow.textContent = k.snoozed_until ? t('case.snoozedUntil', { until: dateTime(k.snoozed_until), relative: relativeTime(k.snoozed_until) }) : t('case.notSnoozed');
    wakeButton.hidden = !k.snoozed_until;
    renderSnoozeChoices();
    replace(detailsBlock,
      h('dt', null, t('case.number')), h('dd', null, k.number),
      h('dt', null, t('case.opened')), h('dd', null, dateTime(k.created_at)),
      k.closed_at ? [h('dt', null, t('case.closed')), h('dd', null, dateTime(k.closed_at))] : null,
      h('dt', null, t('case.category')), h('dd', null, k.category || '—'));
    replace(timeline, detail.timeline.slice().reverse().map((entry) =>
      h('li', { class: `tl tl-${entry.kind}` },
        h('span', { class: 'tl-text' }, timelineText(entry)),
        h('time', { class: 'tl-time', datetime: entry.at }, dateTime(entry.at)))));
  }

  function renderAll() {
    if (!el.contains(body)) {
      replace(el, body);
      if (readOnly) {
        replace(composerSlot, h('p', { class: 'read-only-note' }, icon('lock'), t('case.readOnly')));
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
        toast(t('case.refreshFailed', { reason: err.message }), 'error');
        return;
      }
      replace(el, h('div', { class: 'empty-detail' },
        h('p', null, err.status === 404 || err.status === 422 ? t('case.notFound') : t('case.loadFailed', { reason: err.message })),
        h('a', { href: inboxPath(), class: 'btn' }, t('case.backToInbox'))));
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
