// Settings → Sessions (each teammate's own browsers and API tokens, with Revoke) and, for owners
// and admins, Settings → Audit (who did what, from where, with filters and older pages).

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { state } from '../store.js';
import { toast, showError, clearError } from './common.js';
import { dateTime, relativeTime } from '../format.js';
import { t, parts } from '../i18n.js';
import { confirmAction } from './confirm.js';

function section(id, title, intro, ...children) {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { class: 'card-title', id: `${id}-title` }, title),
    h('p', { class: 'card-intro muted' }, intro),
    children);
}

/** "Firefox on Linux" from a User-Agent, or the raw string when it names nothing known. */
function browserName(ua) {
  if (!ua) return t('sessions.unknownClient');
  const browser = [['Edg/', 'Edge'], ['OPR/', 'Opera'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Safari/', 'Safari']]
    .find(([mark]) => ua.includes(mark));
  const system = [['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Android', 'Android'], ['Mac OS X', 'macOS'], ['Windows', 'Windows'], ['Linux', 'Linux']]
    .find(([mark]) => ua.includes(mark));
  if (!browser) return ua.length > 60 ? `${ua.slice(0, 60)}…` : ua;
  return system ? t('sessions.browserOn', { browser: browser[1], system: system[1] }) : browser[1];
}

export function sessionsCard() {
  const list = h('ul', { class: 'plain-list session-list', 'aria-label': t('sessions.title') });
  async function load() {
    try {
      const { sessions } = await api.get('/api/me/sessions');
      replace(list, sessions.map((s) => {
        const revoke = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', disabled: s.current,
          title: s.current ? t('sessions.currentHint') : null }, t('sessions.revoke'));
        revoke.addEventListener('click', async () => {
          const sure = await confirmAction(s.kind === 'api'
            ? { title: t('sessions.revokeTokenTitle'), message: t('sessions.revokeTokenMessage'), action: t('sessions.revokeTokenAction') }
            : { title: t('sessions.revokeSessionTitle'), message: t('sessions.revokeSessionMessage'), action: t('sessions.revokeSessionAction') });
          if (!sure) return;
          try {
            await api.del(`/api/me/sessions/${s.id}`);
            toast(s.kind === 'api' ? t('sessions.tokenRevoked') : t('sessions.sessionRevoked'));
            load();
          } catch (err) {
            toast(err.message, 'error');
          }
        });
        const used = s.last_used_at ? t('sessions.lastUsed', { when: relativeTime(s.last_used_at) }) : t('sessions.neverUsed');
        return h('li', { class: 'session-row' },
          h('div', null,
            h('strong', null, s.kind === 'api' ? t('sessions.apiToken') : browserName(s.user_agent)),
            s.current ? h('span', { class: 'badge-pill' }, t('sessions.thisBrowser')) : null,
            h('div', { class: 'muted small' }, [s.ip || t('sessions.unknownAddress'), used, t('sessions.created', { when: dateTime(s.created_at) })].join(' · '))),
          revoke);
      }));
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  load();
  return section('sessions', t('sessions.title'), t('sessions.intro'), list);
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
  const action = h('select', { class: 'select', 'aria-label': t('audit.action') },
    h('option', { value: '' }, t('audit.allActions')), ACTIONS.map((a) => h('option', { value: a }, a)));
  const actor = h('select', { class: 'select', 'aria-label': t('audit.who') },
    h('option', { value: '' }, t('audit.anyone')), state.teammates.map((p) => h('option', { value: p.id }, p.name)));
  const since = h('input', { type: 'date', class: 'input', 'aria-label': t('audit.from') });
  const until = h('input', { type: 'date', class: 'input', 'aria-label': t('audit.until') });
  const rows = h('tbody');
  const more = h('button', { type: 'button', class: 'btn btn-small', hidden: true }, t('audit.older'));
  let cursor = null;

  function row(e) {
    const who = e.actor_name || e.email || t('audit.unknown');
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
      else replace(rows, fresh.length ? fresh : h('tr', null, h('td', { colspan: 5, class: 'muted' }, t('audit.nothing'))));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      toast(err.message, 'error');
    }
  }
  [action, actor, since, until].forEach((input) => input.addEventListener('change', () => load(false)));
  more.addEventListener('click', () => load(true));
  load(false);
  return section('audit', t('audit.title'), t('audit.intro'),
    h('div', { class: 'inline-controls audit-filters' }, action, actor, since, until),
    h('div', { class: 'table-scroll' },
      h('table', { class: 'audit-table' },
        h('thead', null, h('tr', null, [t('audit.when'), t('audit.who'), t('audit.action'), t('audit.changes'), t('audit.address')].map((text) => h('th', { scope: 'col' }, text)))),
        rows)),
    more);
}

/** A checkbox with its label and a hint, for the single sign-on form. */
function check(name, label, hint, checked) {
  return h('label', { class: 'switch-row' },
    h('input', { type: 'checkbox', role: 'switch', name, checked }),
    h('span', { class: 'switch', 'aria-hidden': 'true' }),
    h('span', { class: 'switch-text' }, h('span', { class: 'switch-label' }, label), h('span', { class: 'hint' }, hint)));
}

function labelled(label, input, hint) {
  const id = input.id || (input.id = `sso-${input.name}`);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint' }, hint) : null);
}

/** Settings → Single sign-on (owners and admins): the workspace's OpenID Connect provider. */
export function ssoCard() {
  const body = h('div', null, h('p', { class: 'muted' }, t('common.loading')));
  async function load() {
    let current;
    try {
      current = await api.get('/api/workspace/sso');
    } catch (err) {
      replace(body, h('p', { class: 'form-error' }, err.message));
      return;
    }
    const c = current || { issuer: '', client_id: '', domains: [], join_role: null, sso_only: false, enabled: true, client_secret_set: false };
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const input = (name, value, extra = {}) => h('input', { name, type: 'text', class: 'input', value, ...extra });
    const form = h('form', { class: 'stack', novalidate: true },
      labelled(t('ssoSettings.issuer'), input('issuer', c.issuer, { type: 'url', placeholder: 'https://login.example.com', required: true }),
        t('ssoSettings.issuerHint')),
      h('div', { class: 'grid-2' },
        labelled(t('ssoSettings.clientId'), input('client_id', c.client_id, { required: true, class: 'input mono' })),
        labelled(t('ssoSettings.clientSecret'), input('client_secret', '', { type: 'password', autocomplete: 'new-password', placeholder: c.client_secret_set ? t('ssoSettings.secretStored') : '' }))),
      labelled(t('ssoSettings.domains'), input('domains', c.domains.join(', '), { placeholder: 'example.com', required: true }),
        t('ssoSettings.domainsHint')),
      current ? h('p', { class: 'hint' }, parts('ssoSettings.redirect', { uri: h('code', null, current.redirect_uri) })) : null,
      check('enabled', t('ssoSettings.enabled'), t('ssoSettings.enabledHint'), c.enabled),
      check('join', t('ssoSettings.join'), t('ssoSettings.joinHint'), c.join_role === 'agent'),
      check('sso_only', t('ssoSettings.only'), t('ssoSettings.onlyHint'), c.sso_only),
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn btn-primary' }, t('ssoSettings.save')),
        current ? h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-remove': '' }, t('ssoSettings.remove')) : null));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearError(error);
      const data = new FormData(form);
      const secret = String(data.get('client_secret') || '');
      try {
        await api.put('/api/workspace/sso', {
          issuer: String(data.get('issuer')),
          client_id: String(data.get('client_id')),
          client_secret: secret || null,
          domains: String(data.get('domains')).split(/[\s,]+/).filter(Boolean),
          join_role: data.get('join') ? 'agent' : null,
          sso_only: !!data.get('sso_only'),
          enabled: !!data.get('enabled'),
        });
        toast(t('ssoSettings.saved'));
        load();
      } catch (err) {
        showError(error, err, form);
      }
    });
    const remove = form.querySelector('[data-remove]');
    if (remove) {
      remove.addEventListener('click', async () => {
        const sure = await confirmAction({
          title: t('ssoSettings.removeTitle'), message: t('ssoSettings.removeMessage'), action: t('ssoSettings.removeAction'),
        });
        if (!sure) return;
        try {
          await api.del('/api/workspace/sso');
          toast(t('ssoSettings.removed'));
          load();
        } catch (err) {
          toast(err.message, 'error');
        }
      });
    }
    replace(body, form);
  }
  load();
  return section('sso', t('ssoSettings.title'), t('ssoSettings.intro'), body);
}
