// Settings: your notifications, availability, sessions and saved replies; for admins the team,
// invites, auto-assign rules, tags, workspace and audit log; for managers and up, bulk
// reassignment.

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { state, on, me, canAdmin, canBulk, canGrant, canWork, roleAtLeast } from '../store.js';
import { icon } from '../icons.js';
import { avatar, field, showError, clearError, toast, copyText, tagChip } from './common.js';
import { ROLES, roleLabel, toLocalInput, weekdays, awayLabel as awayText } from '../format.js';
import { enablePush, disablePush, pushSupported } from '../push.js';
import { channelsCard, webhooksCard } from './integrations.js';
import { sessionsCard, auditCard, ssoCard } from './trust.js';
import { totpPanel } from './totp.js';
import { appearanceControls, languageControl } from './appearance.js';
import { t, parts } from '../i18n.js';
import { confirmAction } from './confirm.js';

function card(id, title, intro, ...children) {
  return h('section', { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { class: 'card-title', id: `${id}-title` }, title),
    intro ? h('p', { class: 'card-intro muted' }, intro) : null,
    children);
}

function toggle(label, hint, checked, onChange) {
  const input = h('input', { type: 'checkbox', role: 'switch', checked });
  input.addEventListener('change', () => onChange(input.checked, input));
  return h('label', { class: 'switch-row' },
    input,
    h('span', { class: 'switch', 'aria-hidden': 'true' }),
    h('span', { class: 'switch-text' }, h('span', { class: 'switch-label' }, label), hint ? h('span', { class: 'hint' }, hint) : null));
}

function select(name, options, value, extra = {}) {
  return h('select', { name, class: 'select', ...extra },
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

const assignable = () => state.teammates.filter((person) => person.active !== false && person.role !== 'viewer');


/** Away from/until for one teammate: it starts and ends by itself. */
function awayDates(person, onSaved) {
  const from = h('input', { type: 'datetime-local', class: 'input', value: toLocalInput(person.away_from), 'aria-label': t('away.fromLabel', { name: person.name }) });
  const until = h('input', { type: 'datetime-local', class: 'input', value: toLocalInput(person.away_until), 'aria-label': t('away.untilLabel', { name: person.name }) });
  const iso = (input) => (input.value ? new Date(input.value).toISOString() : null);
  const save = h('button', { type: 'button', class: 'btn btn-small' }, t('away.saveDates'));
  save.addEventListener('click', async () => {
    try {
      await api.patch(`/api/teammates/${person.id}`, { away_from: iso(from), away_until: iso(until) });
      toast(t('away.datesSaved'));
      onSaved();
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  return h('div', { class: 'inline-controls away-dates' }, h('span', { class: 'muted small' }, t('away.fromWord')), from,
    h('span', { class: 'muted small' }, t('away.untilWord')), until, save);
}

export function createSettings(ctx) {
  const el = h('div', { class: 'settings' });
  const subs = [];

  // --- You and your notifications -------------------------------------------------------
  function youCard() {
    const person = me();
    const away = toggle(t('you.away'), t('you.awayHint'), person.away, async (value, input) => {
      try {
        await api.patch(`/api/teammates/${person.id}`, { away: value });
        await ctx.reloadMe();
        toast(value ? t('you.markedAway') : t('you.welcomeBack'));
      } catch (err) {
        input.checked = !value;
        toast(err.message, 'error');
      }
    });
    return card('you', t('you.title'), null,
      h('div', { class: 'person' }, avatar(person, 'lg'), h('div', null,
        h('div', { class: 'person-name' }, person.name),
        h('div', { class: 'muted' }, [person.email, roleLabel(person.role), awayText(person)].filter(Boolean).join(' · ')))),
      roleAtLeast('agent') ? away : null,
      roleAtLeast('agent') ? awayDates(person, ctx.reloadMe) : null);
  }

  // --- Two-factor sign-in -----------------------------------------------------------------
  function securityCard() {
    // The owner can require it of everyone (once it is on for themselves).
    const requireAll = me().role === 'owner' ? toggle(t('security.requireAll'),
      t('security.requireAllHint'),
      !!state.me.workspace.require_totp, async (checked, input) => {
        try {
          await api.patch('/api/workspace', { require_totp: checked });
          await ctx.reloadMe();
          toast(checked ? t('security.requiredToast') : t('security.optionalToast'));
        } catch (err) {
          input.checked = !checked;
          toast(err.message, 'error');
        }
      }) : null;
    return card('security', t('security.title'), t('security.intro'), totpPanel(), requireAll);
  }

  function notificationsCard() {
    const prefs = { ...state.me.notifications };
    const status = h('p', { class: 'save-status muted small', role: 'status', 'aria-live': 'polite' });
    async function save(patch, input, previous) {
      const next = { ...prefs, ...patch };
      try {
        const saved = await api.put('/api/me/notifications', next);
        Object.assign(prefs, saved);
        state.me.notifications = { ...saved };
        status.textContent = t('notifications.saved');
      } catch (err) {
        if (input) input.checked = previous;
        status.textContent = '';
        toast(err.message, 'error');
      }
    }
    const push = toggle(t('notifications.push'), pushSupported()
      ? t('notifications.pushHint')
      : t('push.unsupported'), prefs.web_push, async (value, input) => {
      input.disabled = true;
      try {
        if (value) await enablePush();
        else await disablePush();
        await save({ web_push: value }, input, !value);
      } catch (err) {
        input.checked = !value;
        toast(err.message, 'error');
      } finally {
        input.disabled = false;
      }
    });
    const here = h('div', { class: 'device-note', hidden: true });
    (async () => {
      if (!prefs.web_push || !pushSupported()) return;
      if (Notification.permission === 'denied') {
        replace(here, h('span', null, t('notifications.blocked')));
        here.hidden = false;
        return;
      }
      const reg = await navigator.serviceWorker.getRegistration();
      const sub = reg && (await reg.pushManager.getSubscription());
      if (sub) return;
      const setUp = h('button', { type: 'button', class: 'btn btn-small' }, t('notifications.setUpBrowser'));
      setUp.addEventListener('click', async () => {
        setUp.disabled = true;
        try {
          await enablePush();
          here.hidden = true;
          toast(t('notifications.browserSetUp'));
        } catch (err) {
          toast(err.message, 'error');
        } finally {
          setUp.disabled = false;
        }
      });
      replace(here, h('span', null, t('notifications.notSubscribed')), setUp);
      here.hidden = false;
    })();
    const after = (secs) => (secs >= 3600 && secs % 3600 === 0
      ? t('notifications.afterHours', { count: secs / 3600 })
      : t('notifications.afterMinutes', { count: Math.round(secs / 60) }));
    const delays = [[0, t('notifications.rightAway')], ...[60, 300, 900, 1800, 3600].map((secs) => [secs, after(secs)])];
    if (!delays.some(([v]) => v === prefs.email_delay_secs)) delays.push([prefs.email_delay_secs, after(prefs.email_delay_secs)]);
    const delay = select('email_delay_secs', delays.map(([v, l]) => [String(v), l]), String(prefs.email_delay_secs), { id: 'email-delay' });
    delay.addEventListener('change', () => save({ email_delay_secs: Number(delay.value) }));
    return card('notifications', t('notifications.title'), t('notifications.intro'),
      h('div', { class: 'switches' },
        push,
        here,
        toggle(t('notifications.email'), t('notifications.emailHint'), prefs.email, (v, i) => save({ email: v }, i, !v)),
        toggle(t('notifications.chime'), t('notifications.chimeHint'), prefs.chime, (v, i) => save({ chime: v }, i, !v)),
        toggle(t('notifications.unassigned'), t('notifications.unassignedHint'), prefs.unassigned, (v, i) => save({ unassigned: v }, i, !v))),
      h('div', { class: 'field field-inline' }, h('label', { for: 'email-delay' }, t('notifications.sendEmail')), delay),
      status);
  }

  // --- Team ---------------------------------------------------------------------------------
  function teamCard() {
    const table = h('ul', { class: 'team-list', 'aria-label': t('team.list') });
    function render() {
      const self = me();
      replace(table, state.teammates.filter((person) => person.active !== false).map((person) => {
        const isSelf = person.id === self.id;
        const roleOptions = ROLES.filter((r) => canGrant(r) || r === person.role).map((r) => [r, roleLabel(r)]);
        const editable = !isSelf && (person.role !== 'owner' || self.role === 'owner');
        const role = select('role', roleOptions, person.role, { disabled: !editable, 'aria-label': t('team.roleOf', { name: person.name }) });
        role.addEventListener('change', async () => {
          try {
            await api.patch(`/api/teammates/${person.id}`, { role: role.value });
            toast(t('team.roleChanged', { name: person.name, role: roleLabel(role.value) }));
            ctx.loadTeammates();
          } catch (err) {
            role.value = person.role;
            toast(err.message, 'error');
          }
        });
        const away = h('input', { type: 'checkbox', checked: person.away, 'aria-label': t('team.isAway', { name: person.name }) });
        away.addEventListener('change', async () => {
          try {
            await api.patch(`/api/teammates/${person.id}`, { away: away.checked });
            ctx.loadTeammates();
          } catch (err) {
            away.checked = !away.checked;
            toast(err.message, 'error');
          }
        });
        const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', disabled: !editable }, t('team.remove'));
        // Open cases against the limit (empty: the workspace default).
        const open = state.openCases[person.id] || 0;
        const limit = h('input', {
          type: 'number', min: 0, max: 100000, class: 'input input-narrow', value: person.max_open ?? '',
          placeholder: t('team.limitDefault'), disabled: !canAdmin(), 'aria-label': t('team.limitOf', { name: person.name }),
        });
        limit.addEventListener('change', async () => {
          try {
            await api.patch(`/api/teammates/${person.id}`, { max_open: limit.value === '' ? null : Number(limit.value) });
            ctx.loadTeammates();
          } catch (err) {
            limit.value = person.max_open ?? '';
            toast(err.message, 'error');
          }
        });
        const load = person.role === 'viewer' ? null : h('span', { class: 'team-load small', title: t('team.loadTitle') },
          parts('team.load', { open, limit }));
        const datesToggle = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, t('team.awayDates'));
        const row = h('li', { class: 'team-row' },
          h('div', { class: 'person' }, avatar(person, 'md'), h('div', null,
            h('div', { class: 'person-name' }, person.name, isSelf ? h('span', { class: 'muted' }, ` ${t('team.you')}`) : null),
            h('div', { class: 'muted small' }, person.email, awayText(person) ? ` · ${awayText(person)}` : ''))),
          h('div', { class: 'team-controls' },
            load,
            h('label', { class: 'away-check' }, away, t('you.away')),
            canAdmin() || isSelf ? datesToggle : null,
            role,
            remove));
        datesToggle.addEventListener('click', () => {
          const next = row.nextElementSibling;
          if (next && next.classList.contains('away-dates')) { next.remove(); return; }
          row.after(awayDates(person, ctx.loadTeammates));
        });
        remove.addEventListener('click', () => openRemoval(row, person));
        return row;
      }));
    }

    function openRemoval(row, person) {
      if (row.nextElementSibling && row.nextElementSibling.classList.contains('removal')) return;
      const others = assignable().filter((x) => x.id !== person.id);
      const choiceName = `removal-${person.id}`;
      const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
      const target = select('reassign_to', others.map((x) => [x.id, x.name]), others[0] ? others[0].id : '', { 'aria-label': t('team.reassignTo') });
      const toPerson = h('input', { type: 'radio', name: choiceName, value: 'person', required: true, disabled: !others.length });
      const toPool = h('input', { type: 'radio', name: choiceName, value: 'pool', required: true });
      const form = h('form', { class: 'removal', novalidate: true },
        h('fieldset', null,
          h('legend', null, t('team.removeQuestion', { name: person.name })),
          h('label', { class: 'radio-row' }, toPerson, parts('team.reassignThem', { person: target })),
          h('label', { class: 'radio-row' }, toPool, t('team.returnToPool'))),
        error,
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => form.remove() }, t('common.cancel')),
          h('button', { type: 'submit', class: 'btn btn-danger' }, t('team.removeName', { name: person.name }))));
      target.addEventListener('change', () => { toPerson.checked = true; });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (!toPerson.checked && !toPool.checked) {
          showError(error, { message: t('team.chooseFirst') });
          return;
        }
        try {
          const { moved } = await api.del(`/api/teammates/${person.id}`, { reassign_to: toPerson.checked ? target.value : null });
          toast(t('team.removed', { name: person.name, count: moved }));
          form.remove();
          ctx.loadTeammates();
        } catch (err) {
          showError(error, err);
        }
      });
      row.after(form);
      (others.length ? toPerson : toPool).focus();
    }

    subs.push(on('teammates', render));
    render();

    // Invite.
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const result = h('div', { class: 'invite-result', hidden: true });
    const roleOptions = ROLES.filter((r) => r !== 'owner' && canGrant(r)).map((r) => [r, roleLabel(r)]);
    const form = h('form', { class: 'invite-form', novalidate: true },
      h('div', { class: 'grid-3' },
        field(t('invite.name'), h('input', { name: 'name', type: 'text', required: true, maxlength: 100, autocomplete: 'off', id: 'invite-name' })),
        field(t('invite.email'), h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off', id: 'invite-email' })),
        field(t('invite.role'), select('role', roleOptions, 'agent', { id: 'invite-role' }))),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, t('invite.create'))),
      result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearError(error);
      const body = Object.fromEntries(new FormData(form));
      try {
        const { url } = await api.post('/api/invites', body);
        const link = h('input', { type: 'text', readOnly: true, value: url, class: 'input mono', 'aria-label': t('invite.link'), id: 'invite-link' });
        replace(result,
          h('p', null, t('invite.sendLink', { name: body.name })),
          h('div', { class: 'inline-controls' }, link,
            h('button', { type: 'button', class: 'btn', onclick: () => copyText(url) }, icon('copy'), t('common.copy'))));
        result.hidden = false;
        link.select();
        form.querySelector('[name=name]').value = '';
        form.querySelector('[name=email]').value = '';
      } catch (err) {
        showError(error, err, form);
      }
    });

    return card('team', t('team.title'), t('team.intro'), table,
      h('h3', { class: 'sub-title' }, t('invite.title')), form);
  }

  // --- Bulk reassign ------------------------------------------------------------------------
  function bulkCard() {
    const from = h('select', { name: 'from', class: 'select', id: 'bulk-from' });
    const to = h('select', { name: 'to', class: 'select', id: 'bulk-to' });
    function render() {
      const people = assignable();
      const keepFrom = from.value;
      const keepTo = to.value;
      replace(from, people.map((person) => h('option', { value: person.id }, person.name)));
      replace(to, h('option', { value: '' }, t('bulk.pool')), people.map((person) => h('option', { value: person.id }, person.name)));
      if (keepFrom) from.value = keepFrom;
      if (keepTo !== undefined) to.value = keepTo;
    }
    subs.push(on('teammates', render));
    render();
    const status = h('p', { class: 'save-status muted small', role: 'status' });
    const form = h('form', { class: 'grid-3 align-end' },
      field(t('bulk.from'), from),
      field(t('bulk.to'), to),
      h('div', { class: 'field' }, h('button', { type: 'submit', class: 'btn' }, t('bulk.move'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (from.value && from.value === to.value) {
        toast(t('bulk.different'), 'error');
        return;
      }
      try {
        const { moved } = await api.post('/api/cases/bulk-reassign', { from: from.value, to: to.value || null });
        status.textContent = t('bulk.moved', { count: moved });
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return card('bulk', t('bulk.title'), t('bulk.intro'), form, status);
  }

  // --- Auto-assign rules -------------------------------------------------------------------
  function rulesCard() {
    const body = h('div', { class: 'rules-body' }, h('p', { class: 'muted' }, t('rules.loading')));
    let rules = null;

    function editor() {
      const people = assignable();
      const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
      const modes = [
        ['round_robin', t('rules.roundRobin'), t('rules.roundRobinHint')],
        ['by_category', t('rules.byCategory'), t('rules.byCategoryHint')],
        ['unassigned', t('rules.leaveUnassigned'), t('rules.leaveUnassignedHint')],
      ];
      const modeInputs = modes.map(([value, label, hint]) => h('label', { class: 'radio-card' },
        h('input', { type: 'radio', name: 'mode', value, checked: rules.mode === value }),
        h('span', null, h('span', { class: 'radio-title' }, label), h('span', { class: 'hint' }, hint))));
      const pool = h('fieldset', { class: 'pool' }, h('legend', null, t('rules.pool')),
        people.length ? people.map((person) => h('label', { class: 'check-row' },
          h('input', { type: 'checkbox', name: 'pool', value: person.id, checked: rules.pool.includes(person.id) }),
          avatar(person, 'sm'), person.name, person.away ? h('span', { class: 'tag tag-muted' }, t('away.now')) : null))
          : h('p', { class: 'muted' }, t('rules.nobody')));
      const personOptions = [['', t('rules.nobodyOption')]].concat(people.map((person) => [person.id, person.name]));
      const known = Object.keys(state.me.workspace.category_keywords || {});
      const categories = [...new Set(known.concat(Object.keys(rules.categories)))].sort();
      const catRows = h('div', { class: 'cat-rows' });
      function catRow(name, who) {
        const nameInput = h('input', { type: 'text', class: 'input', value: name, placeholder: t('rules.categoryPlaceholder'), 'aria-label': t('rules.category'), maxlength: 100 });
        const whoSelect = select('category_to', personOptions, who || '', { 'aria-label': t('rules.goesTo') });
        const rm = h('button', { type: 'button', class: 'btn-icon', 'aria-label': t('rules.removeCategory'), title: t('rules.remove') }, '×');
        const row = h('div', { class: 'cat-row' }, nameInput, h('span', { class: 'muted', 'aria-hidden': 'true' }, '→'), whoSelect, rm);
        rm.addEventListener('click', () => row.remove());
        return row;
      }
      replace(catRows, categories.map((c) => catRow(c, rules.categories[c])));
      const addCat = h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => catRows.append(catRow('', '')) }, t('rules.addCategory'));
      const fallback = select('fallback', personOptions, rules.fallback || '', { id: 'rules-fallback' });
      const byCategory = h('fieldset', { class: 'by-category' }, h('legend', null, t('rules.categories')), catRows, addCat, field(t('rules.fallback'), fallback));
      // Capacity, absence, response target.
      const num = (name, value, extra = {}) => h('input', { type: 'number', name, class: 'input input-narrow', value: value ?? '', min: 0, ...extra });
      const capacity = num('capacity', rules.capacity, { id: 'rules-capacity', placeholder: t('rules.noLimit') });
      const awayBehaviour = select('away_behaviour', [
        ['reassign', t('rules.awayReassign')],
        ['pool', t('rules.awayPool')],
        ['keep', t('rules.awayKeep')],
      ], rules.away_behaviour || 'reassign', { id: 'rules-away' });
      const target = num('response_target_minutes', rules.response_target_minutes, { id: 'rules-target', min: 1, placeholder: t('rules.none') });
      const takeBack = h('input', { type: 'checkbox', name: 'take_back', checked: !!rules.take_back });
      const onlineOnly = h('input', { type: 'checkbox', name: 'online_only', checked: !!rules.online_only });
      const hours = rules.business_hours || null;
      const names = weekdays();
      const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d, i) => [d, names[i]]);
      const firstInterval = hours && Object.values(hours.days || {}).find((d) => d.length);
      const useHours = h('input', { type: 'checkbox', name: 'use_hours', checked: !!hours });
      const tz = h('input', { type: 'text', class: 'input', name: 'time_zone', value: hours ? hours.time_zone : Intl.DateTimeFormat().resolvedOptions().timeZone, 'aria-label': t('rules.timeZone'), maxlength: 64 });
      const opens = h('input', { type: 'time', class: 'input', value: firstInterval ? firstInterval[0][0] : '09:00', 'aria-label': t('rules.opensAt') });
      const closes = h('input', { type: 'time', class: 'input', value: firstInterval ? firstInterval[0][1] : '17:00', 'aria-label': t('rules.closesAt') });
      const dayBoxes = DAYS.map(([d, label]) => h('label', { class: 'check-row inline' },
        h('input', { type: 'checkbox', name: 'day', value: d, checked: hours ? !!(hours.days[d] && hours.days[d].length) : !['sat', 'sun'].includes(d) }), label));
      const routing = h('fieldset', { class: 'routing' }, h('legend', null, t('rules.routing')),
        field(t('rules.capacity'), capacity, t('rules.capacityHint')),
        h('label', { class: 'check-row' }, onlineOnly, t('rules.onlineOnly')),
        field(t('rules.awayBehaviour'), awayBehaviour, t('rules.awayBehaviourHint')),
        field(t('rules.target'), target, t('rules.targetHint')),
        h('label', { class: 'check-row' }, takeBack, t('rules.takeBack')),
        h('label', { class: 'check-row' }, useHours, t('rules.businessHours')),
        h('div', { class: 'inline-controls business-hours' }, tz, opens, h('span', { class: 'muted' }, t('rules.to')), closes),
        h('div', { class: 'inline-controls' }, dayBoxes));
      const form = h('form', { class: 'rules-form' },
        h('fieldset', { class: 'modes' }, h('legend', { class: 'sr-only' }, t('rules.mode')), modeInputs),
        pool, byCategory, routing, error,
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, t('rules.save'))));
      function showMode() {
        const mode = form.querySelector('input[name=mode]:checked').value;
        pool.hidden = mode !== 'round_robin';
        byCategory.hidden = mode !== 'by_category';
      }
      form.addEventListener('change', (e) => { if (e.target.name === 'mode') showMode(); });
      showMode();
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearError(error);
        const cats = {};
        for (const row of catRows.querySelectorAll('.cat-row')) {
          const name = row.querySelector('input').value.trim().toLowerCase();
          const who = row.querySelector('select').value;
          if (name && who) cats[name] = who;
        }
        const next = {
          mode: form.querySelector('input[name=mode]:checked').value,
          pool: [...form.querySelectorAll('input[name=pool]:checked')].map((i) => i.value),
          categories: cats,
          fallback: fallback.value || null,
          capacity: capacity.value === '' ? null : Number(capacity.value),
          away_behaviour: awayBehaviour.value,
          online_only: onlineOnly.checked,
          response_target_minutes: target.value === '' ? null : Number(target.value),
          take_back: takeBack.checked,
          business_hours: useHours.checked ? {
            time_zone: tz.value.trim(),
            days: Object.fromEntries([...form.querySelectorAll('input[name=day]:checked')].map((i) => [i.value, [[opens.value, closes.value]]])),
          } : null,
        };
        try {
          rules = await api.put('/api/assign-rules', next);
          toast(t('rules.saved'));
        } catch (err) {
          showError(error, err);
        }
      });
      return form;
    }

    async function load() {
      try {
        rules = await api.get('/api/assign-rules');
        replace(body, editor());
      } catch (err) {
        replace(body, h('p', { class: 'form-error' }, t('rules.loadFailed', { reason: err.message })));
      }
    }
    subs.push(on('rules', () => { if (!body.contains(document.activeElement)) load(); }));
    load();
    return card('rules', t('rules.title'), t('rules.intro'), body);
  }

  // --- Saved replies ------------------------------------------------------------------------
  function savedRepliesCard() {
    const list = h('ul', { class: 'saved-list', 'aria-label': t('saved.title') });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const name = h('input', { name: 'name', type: 'text', maxlength: 100, required: true, id: 'saved-name' });
    const body = h('textarea', { name: 'body', rows: 4, required: true, id: 'saved-body', placeholder: t('saved.bodyPlaceholder', { variable: '{{customer.first_name}}' }) });
    const scope = select('scope', [['personal', t('saved.onlyMe')], ['workspace', t('saved.everyone')]], 'personal', { id: 'saved-scope' });
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, t('saved.save'));
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, t('common.cancel'));
    let editing = null;
    const form = h('form', { class: 'saved-form', novalidate: true },
      field(t('saved.name'), name, t('saved.nameHint')),
      field(t('saved.text'), body, t('saved.textHint', { variables: '{{customer.first_name}}, {{customer.name}}, {{teammate.name}}, {{case.number}}' })),
      canAdmin() ? field(t('saved.scope'), scope) : null,
      error,
      h('div', { class: 'actions' }, save, cancel));
    function startEdit(r) {
      editing = r;
      name.value = r.name;
      body.value = r.body;
      scope.value = r.scope;
      scope.disabled = true;
      cancel.hidden = false;
      replace(save, t('saved.saveChanges'));
      name.focus();
    }
    function reset() {
      editing = null;
      form.reset();
      scope.disabled = false;
      cancel.hidden = true;
      replace(save, t('saved.save'));
    }
    cancel.addEventListener('click', reset);
    const mayChange = (r) => (r.scope === 'personal' ? r.owner_id === me().id : canAdmin());
    async function load() {
      try {
        const { saved_replies: replies } = await api.get('/api/saved-replies');
        replace(list, replies.length ? replies.map((r) => h('li', { class: 'saved-item' },
          h('div', { class: 'saved-head' }, h('strong', null, r.name), h('span', { class: 'chip' }, r.scope === 'personal' ? t('saved.onlyMe') : t('saved.workspace'))),
          h('p', { class: 'saved-text muted' }, r.body),
          mayChange(r) ? h('div', { class: 'button-row' },
            h('button', { type: 'button', class: 'btn btn-small', onclick: () => startEdit(r) }, t('saved.edit')),
            h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', onclick: async () => {
              const sure = await confirmAction({
                title: t('saved.deleteTitle', { name: r.name }), message: t('saved.deleteMessage'), action: t('saved.deleteAction'),
              });
              if (!sure) return;
              try {
                await api.del(`/api/saved-replies/${r.id}`);
                load();
              } catch (err) {
                toast(err.message, 'error');
              }
            } }, t('saved.delete'))) : null))
          : h('li', { class: 'muted' }, t('saved.none')));
      } catch (err) {
        replace(list, h('li', { class: 'form-error' }, err.message));
      }
    }
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearError(error);
      try {
        if (editing) await api.patch(`/api/saved-replies/${editing.id}`, { name: name.value, body: body.value });
        else await api.post('/api/saved-replies', { name: name.value, body: body.value, scope: canAdmin() ? scope.value : 'personal' });
        reset();
        load();
        toast(t('saved.stored'));
      } catch (err) {
        showError(error, err, form);
      }
    });
    load();
    return card('saved-replies', t('saved.title'), t('saved.intro'), list, form);
  }

  // --- Tags ---------------------------------------------------------------------------------
  function tagsCard() {
    const list = h('ul', { class: 'tag-admin-list', 'aria-label': t('tags.title') });
    const lock = toggle(t('tags.lock'), t('tags.lockHint'), !!state.me.workspace.tags_locked, async (checked, input) => {
      try {
        await api.patch('/api/workspace', { tags_locked: checked });
        await ctx.reloadMe();
        toast(checked ? t('tags.locked') : t('tags.unlocked'));
      } catch (err) {
        input.checked = !checked;
        toast(err.message, 'error');
      }
    });
    const name = h('input', { type: 'text', maxlength: 40, class: 'input', 'aria-label': t('tags.newName'), placeholder: t('tags.newPlaceholder') });
    const color = h('input', { type: 'color', value: '#2563eb', class: 'input-color', 'aria-label': t('tags.newColour') });
    const add = h('form', { class: 'inline-controls' }, name, color, h('button', { type: 'submit', class: 'btn btn-small' }, t('tags.add')));
    add.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api.post('/api/tags', { name: name.value, color: color.value });
        name.value = '';
        load();
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    async function load() {
      try {
        const { tags } = await api.get('/api/tags');
        replace(list, tags.length ? tags.map((tag) => {
          const recolor = h('input', { type: 'color', value: tag.color, class: 'input-color', 'aria-label': t('tags.colourOf', { name: tag.name }) });
          recolor.addEventListener('change', async () => {
            try {
              await api.patch(`/api/tags/${tag.id}`, { color: recolor.value });
              load();
            } catch (err) {
              toast(err.message, 'error');
            }
          });
          const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost' }, t('tags.delete'));
          remove.addEventListener('click', async () => {
            const sure = await confirmAction({
              title: t('tags.deleteTitle', { name: tag.name }), message: t('tags.deleteMessage'), action: t('tags.deleteAction'),
            });
            if (!sure) return;
            try {
              await api.del(`/api/tags/${tag.id}`);
              load();
            } catch (err) {
              toast(err.message, 'error');
            }
          });
          return h('li', { class: 'tag-admin' }, tagChip(tag), h('span', { class: 'muted small' }, t('tags.openCases', { count: tag.counts.all })), recolor, remove);
        }) : h('li', { class: 'muted' }, t('tags.none')));
      } catch (err) {
        replace(list, h('li', { class: 'form-error' }, err.message));
      }
    }
    load();
    subs.push(on('tags', load));
    return card('tags', t('tags.title'), t('tags.intro'), lock, list, add);
  }

  // --- Workspace ----------------------------------------------------------------------------
  function workspaceCard() {
    const ws = state.me.workspace;
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const keywords = Object.entries(ws.category_keywords || {}).map(([c, words]) => `${c}: ${words.join(', ')}`).join('\n');
    const form = h('form', { class: 'workspace-form', novalidate: true },
      field(t('workspace.name'), h('input', { name: 'name', type: 'text', value: ws.name, required: true, maxlength: 100, id: 'ws-name' })),
      h('div', { class: 'grid-2' },
        field(t('workspace.prefix'), h('input', { name: 'case_prefix', type: 'text', value: ws.case_prefix, maxlength: 8, pattern: '[A-Za-z0-9]{1,8}', id: 'ws-prefix', class: 'mono' }), t('workspace.prefixHint')),
        field(t('workspace.reopen'), h('input', { name: 'reopen_days', type: 'number', min: 0, max: 3650, value: String(ws.reopen_days), id: 'ws-reopen' }), t('workspace.reopenHint'))),
      field(t('workspace.keywords'), h('textarea', { name: 'category_keywords', rows: 4, value: keywords, id: 'ws-keywords', class: 'mono', placeholder: t('workspace.keywordsPlaceholder') }), t('workspace.keywordsHint')),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, t('workspace.save'))));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearError(error);
      const data = new FormData(form);
      const categoryKeywords = {};
      for (const line of String(data.get('category_keywords')).split('\n')) {
        if (!line.trim()) continue;
        const [name, rest = ''] = line.split(':');
        const words = rest.split(',').map((w) => w.trim()).filter(Boolean);
        if (!name.trim() || !words.length) {
          showError(error, { message: t('workspace.keywordsUnreadable', { line: line.trim() }), field: 'category_keywords' }, form);
          return;
        }
        categoryKeywords[name.trim().toLowerCase()] = words;
      }
      try {
        await api.patch('/api/workspace', {
          name: String(data.get('name')),
          case_prefix: String(data.get('case_prefix')),
          reopen_days: Number(data.get('reopen_days')),
          category_keywords: categoryKeywords,
        });
        await ctx.reloadMe();
        toast(t('workspace.saved'));
      } catch (err) {
        showError(error, err, form);
      }
    });
    const exportLink = me().role === 'owner'
      ? h('p', { class: 'muted small' },
        parts('workspace.export', { link: h('a', { href: '/api/workspace/export', download: '' }, t('workspace.exportLink')) }))
      : null;
    return card('workspace', t('workspace.title'), null, form, exportLink);
  }

  function ingestCard() {
    const token = h('input', { type: 'text', readOnly: true, class: 'input mono', value: state.me.workspace.ingest_token || '', 'aria-label': t('ingest.title'), id: 'ingest-token' });
    const rotate = h('button', { type: 'button', class: 'btn btn-danger-ghost' }, t('ingest.rotate'));
    rotate.addEventListener('click', async () => {
      const sure = await confirmAction({
        title: t('ingest.rotateTitle'), message: t('ingest.rotateMessage'), action: t('ingest.rotateAction'),
      });
      if (!sure) return;
      try {
        const { ingest_token: fresh } = await api.post('/api/workspace/ingest-token');
        token.value = fresh;
        state.me.workspace.ingest_token = fresh;
        toast(t('ingest.rotated'));
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return card('ingest', t('ingest.title'), t('ingest.intro'),
      h('div', { class: 'inline-controls' }, token,
        h('button', { type: 'button', class: 'btn', onclick: () => copyText(token.value) }, icon('copy'), t('common.copy')),
        rotate));
  }

  function render() {
    const sections = [['you', t('you.title')], ['appearance', t('appearance.title')], ['notifications', t('notifications.title')], ['security', t('settings.navSecurity')], ['sessions', t('sessions.title')]];
    if (canWork()) sections.push(['saved-replies', t('saved.title')]);
    if (canAdmin()) sections.push(['team', t('team.title')], ['tags', t('tags.title')]);
    if (canBulk()) sections.push(['bulk', t('bulk.title')]);
    if (canAdmin()) {
      sections.push(['rules', t('rules.title')], ['workspace', t('workspace.title')], ['ingest', t('ingest.title')], ['sso', t('ssoSettings.title')],
        ['channels', t('channels.title')], ['webhooks', t('webhooks.title')], ['audit', t('settings.navAudit')]);
    }
    subs.splice(0).forEach((off) => off());
    replace(el,
      h('header', { class: 'settings-head' }, h('h1', null, t('nav.settings')),
        h('nav', { class: 'settings-nav', 'aria-label': t('settings.sections') }, sections.map(([id, label]) => h('a', { href: `#${id}` }, label)))),
      youCard(),
      card('appearance', t('appearance.title'), t('appearance.intro'), appearanceControls(), languageControl()),
      notificationsCard(),
      securityCard(),
      sessionsCard(),
      canWork() ? savedRepliesCard() : null,
      canAdmin() ? teamCard() : null,
      canAdmin() ? tagsCard() : null,
      canBulk() ? bulkCard() : null,
      canAdmin() ? rulesCard() : null,
      canAdmin() ? workspaceCard() : null,
      canAdmin() ? ingestCard() : null,
      canAdmin() ? ssoCard() : null,
      canAdmin() ? channelsCard() : null,
      canAdmin() ? webhooksCard(subs) : null,
      canAdmin() ? auditCard() : null);
  }
  render();
  let lastRole = me().role;
  const offMe = on('me', () => {
    if (me() && me().role !== lastRole) {
      lastRole = me().role;
      render();
    }
  });

  return {
    el,
    destroy() {
      offMe();
      subs.forEach((off) => off());
    },
  };
}
