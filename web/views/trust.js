// Settings → Sessions (each teammate's own browsers and API tokens, with Revoke) and, for owners
// and admins, Settings → Audit (who did what, from where, with filters and older pages).

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { state } from '../store.js';
import { toast } from './common.js';
import { dateTime, relativeTime } from '../format.js';

function section(id, title, intro, ...children) {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { class: 'card-title', id: `${id}-title` }, title),
    h('p', { class: 'card-intro muted' }, intro),
    children);
}

/** "Firefox on Linux" from a User-Agent, or the raw string when it names nothing known. */
function browserName(ua) {
  if (!ua) return 'Unknown client';
  const browser = [['Edg/', 'Edge'], ['OPR/', 'Opera'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']]
    .find(([mark]) => ua.includes(mark));
  const system = [['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Android', 'Android'], ['Mac OS X', 'macOS'], ['Windows', 'Windows'], ['Linux', 'Linux']]
    .find(([mark]) => ua.includes(mark));
  if (!browser) return ua.length > 60 ? `${ua.slice(0, 60)}…` : ua;
  return system ? `${browser[1]} on ${system[1]}` : browser[1];
}

export function sessionsCard() {
  const list = h('ul', { class: 'plain-list session-list', 'aria-label': 'Sessions' });
  async function load() {
    try {
      const { sessions } = await api.get('/api/me/sessions');
      replace(list, sessions.map((s) => {
        const revoke = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', disabled: s.current,
          title: s.current ? 'Sign out to end this session' : null }, 'Revoke');
        revoke.addEventListener('click', async () => {
          const what = s.kind === 'api' ? 'this API token' : 'this session';
          if (!window.confirm(`Revoke ${what}? It stops working at once.`)) return;
          try {
            await api.del(`/api/me/sessions/${s.id}`);
            toast(s.kind === 'api' ? 'API token revoked' : 'Session revoked');
            load();
          } catch (err) {
            toast(err.message, 'error');
          }
        });
        const used = s.last_used_at ? `last used ${relativeTime(s.last_used_at)}` : 'never used';
        return h('li', { class: 'session-row' },
          h('div', null,
            h('strong', null, s.kind === 'api' ? 'API token' : browserName(s.user_agent)),
            s.current ? h('span', { class: 'badge-pill' }, 'This browser') : null,
            h('div', { class: 'muted small' }, [s.ip || 'unknown address', used, `created ${dateTime(s.created_at)}`].join(' · '))),
          revoke);
      }));
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  load();
  return section('sessions', 'Sessions', 'Where you are signed in, and your API tokens. Revoke any you do not recognise: it stops working at once, and its live connection closes.', list);
}

const ACTIONS = [
  'sign_in.succeeded', 'sign_in.failed', 'teammate.invited', 'teammate.updated', 'teammate.removed',
  'rules.changed', 'channel.created', 'channel.updated', 'channel.deleted', 'token.created',
  'session.revoked', 'workspace.updated', 'workspace.ingest_token_rotated', 'webhook.created',
  'webhook.deleted', 'webhook.resent', 'totp.enabled', 'totp.disabled', 'workspace.exported', 'customer.erased', 'customer.merged', 'sso.updated', 'sso.deleted',
];

/** What changed, as short text: `role: agent → manager`. */
function changesText(changes) {
  return Object.entries(changes || {}).map(([field, v]) => {
    const show = (x) => (typeof x === 'string' ? x : JSON.stringify(x));
    if (v && typeof v === 'object' && 'before' in v && 'after' in v) return `${field}: ${show(v.before)} → ${show(v.after)}`;
    return `${field}: ${show(v)}`;
  }).join('; ');
}

export function auditCard() {
  const action = h('select', { class: 'select', 'aria-label': 'Action' },
    h('option', { value: '' }, 'All actions'), ACTIONS.map((a) => h('option', { value: a }, a)));
  const actor = h('select', { class: 'select', 'aria-label': 'Who' },
    h('option', { value: '' }, 'Anyone'), state.teammates.map((t) => h('option', { value: t.id }, t.name)));
  const since = h('input', { type: 'date', class: 'input', 'aria-label': 'From' });
  const until = h('input', { type: 'date', class: 'input', 'aria-label': 'Until' });
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'btn btn-small', hidden: true }, 'Older entries');
  let cursor = null;

  function row(e) {
    const who = e.actor_name || e.email || 'unknown';
    return h('tr', null,
      h('td', { class: 'nowrap' }, dateTime(e.at)),
      h('td', null, who),
      h('td', { class: 'mono' }, e.action),
      h('td', null, changesText(e.changes)),
      h('td', { class: 'mono' }, e.ip || ''));
  }

  async function load(append) {
    const day = (input, plus) => (input.value ? new Date(`${input.value}T00:00:00`).getTime() + plus : null);
    const untilMs = day(until, 86400000);
    const params = {
      action: action.value, actor: actor.value, limit: 50,
      since: since.value ? new Date(day(since, 0)).toISOString() : null,
      until: untilMs ? new Date(untilMs).toISOString() : null,
      before: append ? cursor : null,
    };
    try {
      const page = await api.get(`/api/audit${api.query(params)}`);
      const fresh = page.entries.map(row);
      if (append) rows.append(...fresh);
      else replace(rows, fresh.length ? fresh : h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'Nothing recorded for these filters.')));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  [action, actor, since, until].forEach((input) => input.addEventListener('change', () => load(false)));
  more.addEventListener('click', () => load(true));
  load(false);
  return section('audit', 'Audit log', 'Sign-ins and every change to the team, rules, channels, tokens, settings and webhooks: who, when, from which address and what changed.',
    h('div', { class: 'inline-controls audit-filters' }, action, actor, since, until),
    h('div', { class: 'table-scroll' },
      h('table', { class: 'audit-table' },
        h('thead', null, h('tr', null, ['When', 'Who', 'Action', 'What changed', 'Address'].map((t) => h('th', { scope: 'col' }, t)))),
        rows)),
    more);
}
