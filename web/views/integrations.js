// Settings for admins: SMS (Twilio) and API channels, and outgoing webhooks with their delivery
// log and "send again". Secrets are shown once, right after they are made.

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { field, showError, toast, copyText } from './common.js';
import { on } from '../store.js';
import { t, parts, msgKey, formatNumber } from '../i18n.js';
import { timeOfDay } from '../format.js';
import { confirmAction } from './confirm.js';

/** A webhook delivery's state, as the log shows it. */
const DELIVERY_STATES = {
  pending: msgKey('webhooks.statePending'),
  delivered: msgKey('webhooks.stateDelivered'),
  resend: msgKey('webhooks.stateResend'),
};

function section(id, title, intro, ...children) {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { class: 'card-title', id: `${id}-title` }, title),
    h('p', { class: 'card-intro muted' }, intro),
    children);
}

function secretOnce(label, secret) {
  const input = h('input', { type: 'text', readOnly: true, class: 'input mono', value: secret, 'aria-label': label });
  return h('div', { class: 'secret-once' },
    h('p', { class: 'hint' }, t('secret.once', { label })),
    h('div', { class: 'inline-controls' }, input,
      h('button', { type: 'button', class: 'btn', onclick: () => copyText(secret) }, t('common.copy'))));
}

export function channelsCard() {
  const list = h('ul', { class: 'plain-list', id: 'channel-list' });
  const after = h('div');
  async function load() {
    try {
      const { channels } = await api.get('/api/channels');
      replace(list, channels.map((c) => h('li', null,
        h('strong', null, c.name), ` · ${c.kind}`,
        c.kind === 'sms_twilio' ? h('span', { class: 'muted' }, ` · ${c.settings.from_number} · `, parts('channels.twilioWebhook', { url: h('code', null, c.inbound_url) })) : null,
        c.kind === 'api' ? h('span', { class: 'muted' }, ` · ${c.settings.webhook_url}`) : null)));
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  const kind = h('select', { name: 'kind', class: 'select', id: 'channel-kind' },
    h('option', { value: 'sms_twilio' }, t('channels.kindSms')), h('option', { value: 'api' }, t('channels.kindApi')));
  const name = h('input', { name: 'name', class: 'input', required: true, id: 'channel-name' });
  const sid = h('input', { name: 'account_sid', class: 'input mono', id: 'channel-sid' });
  const token = h('input', { name: 'auth_token', class: 'input mono', type: 'password', autocomplete: 'off', id: 'channel-token' });
  const number = h('input', { name: 'from_number', class: 'input', placeholder: '+14155550100', id: 'channel-number' });
  const url = h('input', { name: 'webhook_url', class: 'input', placeholder: 'https://…', id: 'channel-url' });
  const smsFields = h('div', null, field(t('channels.sid'), sid), field(t('channels.token'), token), field(t('channels.number'), number));
  const apiFields = h('div', { hidden: true }, field(t('channels.webhookUrl'), url, t('channels.webhookUrlHint')));
  kind.addEventListener('change', () => {
    smsFields.hidden = kind.value !== 'sms_twilio';
    apiFields.hidden = kind.value !== 'api';
  });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'channel-form', novalidate: true },
    field(t('channels.kind'), kind), field(t('channels.name'), name), smsFields, apiFields, error,
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('channels.add')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const settings = kind.value === 'api'
      ? { webhook_url: url.value }
      : { account_sid: sid.value, auth_token: token.value, from_number: number.value };
    try {
      const created = await api.post('/api/channels', { kind: kind.value, name: name.value, settings });
      form.reset();
      replace(after, created.secret ? secretOnce(t('secret.signing'), created.secret) : null);
      toast(t('channels.added'));
      load();
    } catch (err) {
      showError(error, err, form);
    }
  });
  load();
  return section('channels', t('channels.title'), t('channels.intro'),
    list, form, after);
}

/** `subs` collects the page's subscriptions (a switched-off endpoint reloads the list). */
export function webhooksCard(subs = []) {
  const list = h('div', { id: 'webhook-list' });
  const after = h('div');
  async function showLog(hook, box) {
    try {
      const { deliveries } = await api.get(`/api/webhooks/${hook.id}/deliveries`);
      replace(box, h('table', { class: 'delivery-log' },
        h('thead', null, h('tr', null, [t('webhooks.colEvent'), t('webhooks.colState'), t('webhooks.colAttempts'), t('webhooks.colStatus'), t('webhooks.colTime'), ''].map((text) => h('th', null, text)))),
        h('tbody', null, deliveries.map((d) => {
          const again = h('button', { type: 'button', class: 'btn btn-small' }, t('webhooks.sendAgain'));
          again.addEventListener('click', async () => {
            try {
              await api.post(`/api/webhooks/${hook.id}/deliveries/${d.id}/retry`);
              toast(t('webhooks.queuedAgain'));
            } catch (err) {
              toast(err.message, 'error');
            }
          });
          return h('tr', null,
            h('td', null, `#${d.seq} ${d.kind}`), h('td', null, DELIVERY_STATES[d.state] ? t(DELIVERY_STATES[d.state]) : d.state, d.error ? ` (${d.error})` : ''),
            h('td', null, formatNumber(d.attempts)), h('td', null, d.status_code == null ? '–' : String(d.status_code)),
            h('td', null, d.response_ms == null ? '–' : formatNumber(d.response_ms, { style: 'unit', unit: 'millisecond', unitDisplay: 'short' })),
            h('td', null, d.state === 'delivered' || (d.state === 'pending' && !hook.active) ? again : null));
        }))));
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  async function load() {
    try {
      const { webhooks } = await api.get('/api/webhooks');
      replace(list, webhooks.map((w) => {
        const box = h('div');
        const remove = h('button', { type: 'button', class: 'btn btn-danger-ghost' }, t('webhooks.remove'));
        remove.addEventListener('click', async () => {
          const sure = await confirmAction({
            title: t('webhooks.removeTitle'), message: t('webhooks.removeMessage', { url: w.url }), action: t('webhooks.removeAction'),
          });
          if (!sure) return;
          await api.del(`/api/webhooks/${w.id}`).catch((err) => toast(err.message, 'error'));
          load();
        });
        const logButton = h('button', { type: 'button', class: 'btn' }, t('webhooks.log'));
        logButton.addEventListener('click', () => showLog(w, box));
        return h('div', { class: 'webhook-row' },
          h('p', null, h('code', null, w.url), ` · ${w.events.join(', ')} · `,
            w.active ? (w.next_retry_at ? t('webhooks.failing', { at: timeOfDay(w.next_retry_at) }) : t('webhooks.active')) : t('webhooks.switchedOff')),
          h('div', { class: 'inline-controls' }, logButton, remove), box);
      }));
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  const kinds = ['case.created', 'case.assigned', 'case.status_changed', 'message.created', 'note.created', 'teammate.changed', 'message.delivery'];
  const url = h('input', { name: 'url', class: 'input', placeholder: 'https://…', id: 'webhook-url' });
  const boxes = kinds.map((k) => h('label', { class: 'check-row' }, h('input', { type: 'checkbox', value: k, checked: k !== 'message.delivery' }), ` ${k}`));
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { class: 'webhook-form', novalidate: true },
    field(t('webhooks.url'), url), h('fieldset', null, h('legend', null, t('webhooks.events')), boxes), error,
    h('button', { type: 'submit', class: 'btn btn-primary' }, t('webhooks.add')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
    try {
      const created = await api.post('/api/webhooks', { url: url.value, events });
      url.value = '';
      replace(after, secretOnce(t('secret.signing'), created.secret));
      load();
    } catch (err) {
      showError(error, err, form);
    }
  });
  load();
  subs.push(on('webhooks', load));
  return section('webhooks', t('webhooks.title'), t('webhooks.intro'),
    list, form, after);
}
