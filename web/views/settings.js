// Settings: your notifications, availability, sessions and saved replies; for admins the team,
// invites, auto-assign rules, tags, workspace and audit log; for managers and up, bulk
// reassignment.

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { state, on, me, canAdmin, canBulk, canGrant, canWork, roleAtLeast } from '../store.js';
import { icon } from '../icons.js';
import { avatar, field, showError, clearError, toast, copyText, tagChip } from './common.js';
import { ROLES, roleLabel, plural, toLocalInput, awayLabel as awayText } from '../format.js';
import { enablePush, disablePush, pushSupported } from '../push.js';
import { channelsCard, webhooksCard } from './integrations.js';
import { sessionsCard, auditCard, ssoCard } from './trust.js';
import { totpPanel } from './totp.js';
import { appearanceControls } from './appearance.js';

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

const assignable = () => state.teammates.filter((t) => t.active !== false && t.role !== 'viewer');


/** Away from/until for one teammate: it starts and ends by itself. */
function awayDates(t, onSaved) {
  const from = h('input', { type: 'datetime-local', class: 'input', value: toLocalInput(t.away_from), 'aria-label': `${t.name} away from` });
  const until = h('input', { type: 'datetime-local', class: 'input', value: toLocalInput(t.away_until), 'aria-label': `${t.name} back on` });
  const iso = (input) => (input.value ? new Date(input.value).toISOString() : null);
  const save = h('button', { type: 'button', class: 'btn btn-small' }, 'Save dates');
  save.addEventListener('click', async () => {
    try {
      await api.patch(`/api/teammates/${t.id}`, { away_from: iso(from), away_until: iso(until) });
      toast('Away dates saved');
      onSaved();
    } catch (err) {
      toast(err.message, 'error');
    }
  });
  return h('div', { class: 'inline-controls away-dates' }, h('span', { class: 'muted small' }, 'Away from'), from,
    h('span', { class: 'muted small' }, 'until'), until, save);
}

export function createSettings(ctx) {
  const el = h('div', { class: 'settings' });
  const subs = [];

  // --- You and your notifications -------------------------------------------------------
  function youCard() {
    const t = me();
    const away = toggle('Away', 'Round-robin skips you while you are away.', t.away, async (value, input) => {
      try {
        await api.patch(`/api/teammates/${t.id}`, { away: value });
        await ctx.reloadMe();
        toast(value ? 'You are marked away' : 'Welcome back');
      } catch (err) {
        input.checked = !value;
        toast(err.message, 'error');
      }
    });
    return card('you', 'You', null,
      h('div', { class: 'person' }, avatar(t, 'lg'), h('div', null,
        h('div', { class: 'person-name' }, t.name),
        h('div', { class: 'muted' }, t.email, ' · ', roleLabel(t.role), awayText(t) ? ` · ${awayText(t)}` : ''))),
      roleAtLeast('agent') ? away : null,
      roleAtLeast('agent') ? awayDates(t, ctx.reloadMe) : null);
  }

  // --- Two-factor sign-in -----------------------------------------------------------------
  function securityCard() {
    // The owner can require it of everyone (once it is on for themselves).
    const requireAll = me().role === 'owner' ? toggle('Require it for everyone',
      'Members without it are walked through setting it up before they can do anything else. API tokens keep working.',
      !!state.me.workspace.require_totp, async (checked, input) => {
        try {
          await api.patch('/api/workspace', { require_totp: checked });
          await ctx.reloadMe();
          toast(checked ? 'Everyone now signs in with two-factor' : 'Two-factor sign-in is up to each teammate');
        } catch (err) {
          input.checked = !checked;
          toast(err.message, 'error');
        }
      }) : null;
    return card('security', 'Two-factor sign-in', 'A code from your phone on top of your password. API tokens keep working without one.', totpPanel(), requireAll);
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
        status.textContent = 'Saved.';
      } catch (err) {
        if (input) input.checked = previous;
        status.textContent = '';
        toast(err.message, 'error');
      }
    }
    const push = toggle('Push notifications', pushSupported()
      ? 'On this device, when no Baton tab is open.'
      : 'This browser does not support push notifications.', prefs.web_push, async (value, input) => {
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
        replace(here, h('span', null, 'Notifications are blocked for Baton in this browser’s site settings.'));
        here.hidden = false;
        return;
      }
      const reg = await navigator.serviceWorker.getRegistration();
      const sub = reg && (await reg.pushManager.getSubscription());
      if (sub) return;
      const setUp = h('button', { type: 'button', class: 'btn btn-small' }, 'Set up this browser');
      setUp.addEventListener('click', async () => {
        setUp.disabled = true;
        try {
          await enablePush();
          here.hidden = true;
          toast('This browser will get push notifications');
        } catch (err) {
          toast(err.message, 'error');
        } finally {
          setUp.disabled = false;
        }
      });
      replace(here, h('span', null, 'Push is on for your account but this browser is not subscribed yet.'), setUp);
      here.hidden = false;
    })();
    const delays = [[0, 'right away'], [60, 'after 1 minute'], [300, 'after 5 minutes'], [900, 'after 15 minutes'], [1800, 'after 30 minutes'], [3600, 'after 1 hour']];
    if (!delays.some(([v]) => v === prefs.email_delay_secs)) delays.push([prefs.email_delay_secs, `after ${Math.round(prefs.email_delay_secs / 60)} minutes`]);
    const delay = select('email_delay_secs', delays.map(([v, l]) => [String(v), l]), String(prefs.email_delay_secs), { id: 'email-delay' });
    delay.addEventListener('change', () => save({ email_delay_secs: Number(delay.value) }));
    return card('notifications', 'Notifications', 'How Baton reaches you about your cases.',
      h('div', { class: 'switches' },
        push,
        here,
        toggle('Email', 'Only if a case is still unread after the delay below.', prefs.email, (v, i) => save({ email: v }, i, !v)),
        toggle('Chime', 'A short sound in this tab when a customer writes on one of your cases.', prefs.chime, (v, i) => save({ chime: v }, i, !v)),
        toggle('Unassigned inquiries', 'Count and notify new cases nobody owns yet.', prefs.unassigned, (v, i) => save({ unassigned: v }, i, !v))),
      h('div', { class: 'field field-inline' }, h('label', { for: 'email-delay' }, 'Send the email'), delay),
      status);
  }

  // --- Team ---------------------------------------------------------------------------------
  function teamCard() {
    const table = h('ul', { class: 'team-list', 'aria-label': 'Teammates' });
    function render() {
      const self = me();
      replace(table, state.teammates.filter((t) => t.active !== false).map((t) => {
        const isSelf = t.id === self.id;
        const roleOptions = ROLES.filter((r) => canGrant(r) || r === t.role).map((r) => [r, roleLabel(r)]);
        const editable = !isSelf && (t.role !== 'owner' || self.role === 'owner');
        const role = select('role', roleOptions, t.role, { disabled: !editable, 'aria-label': `Role of ${t.name}` });
        role.addEventListener('change', async () => {
          try {
            await api.patch(`/api/teammates/${t.id}`, { role: role.value });
            toast(`${t.name} is now ${roleLabel(role.value).toLowerCase()}`);
            ctx.loadTeammates();
          } catch (err) {
            role.value = t.role;
            toast(err.message, 'error');
          }
        });
        const away = h('input', { type: 'checkbox', checked: t.away, 'aria-label': `${t.name} is away` });
        away.addEventListener('change', async () => {
          try {
            await api.patch(`/api/teammates/${t.id}`, { away: away.checked });
            ctx.loadTeammates();
          } catch (err) {
            away.checked = !away.checked;
            toast(err.message, 'error');
          }
        });
        const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', disabled: !editable }, 'Remove');
        // Open cases against the limit (empty: the workspace default).
        const open = state.openCases[t.id] || 0;
        const limit = h('input', {
          type: 'number', min: 0, max: 100000, class: 'input input-narrow', value: t.max_open ?? '',
          placeholder: 'default', disabled: !canAdmin(), 'aria-label': `Most open cases for ${t.name}`,
        });
        limit.addEventListener('change', async () => {
          try {
            await api.patch(`/api/teammates/${t.id}`, { max_open: limit.value === '' ? null : Number(limit.value) });
            ctx.loadTeammates();
          } catch (err) {
            limit.value = t.max_open ?? '';
            toast(err.message, 'error');
          }
        });
        const load = t.role === 'viewer' ? null : h('span', { class: 'team-load small', title: 'Open cases / most open cases' },
          `${open} open / `, limit);
        const datesToggle = h('button', { type: 'button', class: 'btn btn-small btn-ghost' }, 'Away dates…');
        const row = h('li', { class: 'team-row' },
          h('div', { class: 'person' }, avatar(t, 'md'), h('div', null,
            h('div', { class: 'person-name' }, t.name, isSelf ? h('span', { class: 'muted' }, ' (you)') : null),
            h('div', { class: 'muted small' }, t.email, awayText(t) ? ` · ${awayText(t)}` : ''))),
          load,
          h('label', { class: 'away-check' }, away, 'Away'),
          canAdmin() || isSelf ? datesToggle : null,
          role,
          remove);
        datesToggle.addEventListener('click', () => {
          const next = row.nextElementSibling;
          if (next && next.classList.contains('away-dates')) { next.remove(); return; }
          row.after(awayDates(t, ctx.loadTeammates));
        });
        remove.addEventListener('click', () => openRemoval(row, t));
        return row;
      }));
    }

    function openRemoval(row, t) {
      if (row.nextElementSibling && row.nextElementSibling.classList.contains('removal')) return;
      const others = assignable().filter((x) => x.id !== t.id);
      const choiceName = `removal-${t.id}`;
      const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
      const target = select('reassign_to', others.map((x) => [x.id, x.name]), others[0] ? others[0].id : '', { 'aria-label': 'Reassign to' });
      const toPerson = h('input', { type: 'radio', name: choiceName, value: 'person', required: true, disabled: !others.length });
      const toPool = h('input', { type: 'radio', name: choiceName, value: 'pool', required: true });
      const form = h('form', { class: 'removal', novalidate: true },
        h('fieldset', null,
          h('legend', null, `Remove ${t.name}? Choose who takes their open cases:`),
          h('label', { class: 'radio-row' }, toPerson, 'Reassign them to ', target),
          h('label', { class: 'radio-row' }, toPool, 'Return them to the unassigned pool')),
        error,
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-ghost', onclick: () => form.remove() }, 'Cancel'),
          h('button', { type: 'submit', class: 'btn btn-danger' }, `Remove ${t.name}`)));
      target.addEventListener('change', () => { toPerson.checked = true; });
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (!toPerson.checked && !toPool.checked) {
          showError(error, { message: 'Choose what happens to their open cases first.' });
          return;
        }
        try {
          const { moved } = await api.del(`/api/teammates/${t.id}`, { reassign_to: toPerson.checked ? target.value : null });
          toast(`${t.name} was removed; ${plural(moved, 'open case')} moved.`);
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
        field('Name', h('input', { name: 'name', type: 'text', required: true, maxlength: 100, autocomplete: 'off', id: 'invite-name' })),
        field('Email', h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off', id: 'invite-email' })),
        field('Role', select('role', roleOptions, 'agent', { id: 'invite-role' }))),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create invite link')),
      result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearError(error);
      const body = Object.fromEntries(new FormData(form));
      try {
        const { url } = await api.post('/api/invites', body);
        const link = h('input', { type: 'text', readOnly: true, value: url, class: 'input mono', 'aria-label': 'Invite link', id: 'invite-link' });
        replace(result,
          h('p', null, `Send this link to ${body.name}. It works for 7 days.`),
          h('div', { class: 'inline-controls' }, link,
            h('button', { type: 'button', class: 'btn', onclick: () => copyText(url) }, icon('copy'), 'Copy')));
        result.hidden = false;
        link.select();
        form.querySelector('[name=name]').value = '';
        form.querySelector('[name=email]').value = '';
      } catch (err) {
        showError(error, err, form);
      }
    });

    return card('team', 'Team', 'Who is on the team, their roles, their open cases against their limit, and who is away.', table,
      h('h3', { class: 'sub-title' }, 'Invite a teammate'), form);
  }

  // --- Bulk reassign ------------------------------------------------------------------------
  function bulkCard() {
    const from = h('select', { name: 'from', class: 'select', id: 'bulk-from' });
    const to = h('select', { name: 'to', class: 'select', id: 'bulk-to' });
    function render() {
      const people = assignable();
      const keepFrom = from.value;
      const keepTo = to.value;
      replace(from, people.map((t) => h('option', { value: t.id }, t.name)));
      replace(to, h('option', { value: '' }, 'The unassigned pool'), people.map((t) => h('option', { value: t.id }, t.name)));
      if (keepFrom) from.value = keepFrom;
      if (keepTo !== undefined) to.value = keepTo;
    }
    subs.push(on('teammates', render));
    render();
    const status = h('p', { class: 'save-status muted small', role: 'status' });
    const form = h('form', { class: 'grid-3 align-end' },
      field('Move all open cases of', from),
      field('To', to),
      h('div', { class: 'field' }, h('button', { type: 'submit', class: 'btn' }, 'Move cases')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (from.value && from.value === to.value) {
        toast('Pick two different teammates.', 'error');
        return;
      }
      try {
        const { moved } = await api.post('/api/cases/bulk-reassign', { from: from.value, to: to.value || null });
        status.textContent = `${plural(moved, 'case')} moved.`;
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return card('bulk', 'Bulk reassign', 'Hand a whole queue to someone else, for holidays or a changing team.', form, status);
  }

  // --- Auto-assign rules -------------------------------------------------------------------
  function rulesCard() {
    const body = h('div', { class: 'rules-body' }, h('p', { class: 'muted' }, 'Loading the rules…'));
    let rules = null;

    function editor() {
      const people = assignable();
      const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
      const modes = [
        ['round_robin', 'Round-robin', 'New cases rotate through the people you pick, skipping anyone away.'],
        ['by_category', 'By category', 'Each category goes to one person; the rest to a fallback.'],
        ['unassigned', 'Leave unassigned', 'New cases wait in the unassigned pool.'],
      ];
      const modeInputs = modes.map(([value, label, hint]) => h('label', { class: 'radio-card' },
        h('input', { type: 'radio', name: 'mode', value, checked: rules.mode === value }),
        h('span', null, h('span', { class: 'radio-title' }, label), h('span', { class: 'hint' }, hint))));
      const pool = h('fieldset', { class: 'pool' }, h('legend', null, 'Rotation pool'),
        people.length ? people.map((t) => h('label', { class: 'check-row' },
          h('input', { type: 'checkbox', name: 'pool', value: t.id, checked: rules.pool.includes(t.id) }),
          avatar(t, 'sm'), t.name, t.away ? h('span', { class: 'tag tag-muted' }, 'Away') : null))
          : h('p', { class: 'muted' }, 'Nobody can be assigned yet.'));
      const personOptions = [['', 'Nobody (leave unassigned)']].concat(people.map((t) => [t.id, t.name]));
      const known = Object.keys(state.me.workspace.category_keywords || {});
      const categories = [...new Set(known.concat(Object.keys(rules.categories)))].sort();
      const catRows = h('div', { class: 'cat-rows' });
      function catRow(name, who) {
        const nameInput = h('input', { type: 'text', class: 'input', value: name, placeholder: 'category', 'aria-label': 'Category', maxlength: 100 });
        const whoSelect = select('category_to', personOptions, who || '', { 'aria-label': 'Goes to' });
        const rm = h('button', { type: 'button', class: 'btn-icon', 'aria-label': 'Remove this category rule', title: 'Remove' }, '×');
        const row = h('div', { class: 'cat-row' }, nameInput, h('span', { class: 'muted', 'aria-hidden': 'true' }, '→'), whoSelect, rm);
        rm.addEventListener('click', () => row.remove());
        return row;
      }
      replace(catRows, categories.map((c) => catRow(c, rules.categories[c])));
      const addCat = h('button', { type: 'button', class: 'btn btn-small btn-ghost', onclick: () => catRows.append(catRow('', '')) }, '+ Add a category');
      const fallback = select('fallback', personOptions, rules.fallback || '', { id: 'rules-fallback' });
      const byCategory = h('fieldset', { class: 'by-category' }, h('legend', null, 'Categories'), catRows, addCat, field('Everything else goes to', fallback));
      // Capacity, absence, response target.
      const num = (name, value, extra = {}) => h('input', { type: 'number', name, class: 'input input-narrow', value: value ?? '', min: 0, ...extra });
      const capacity = num('capacity', rules.capacity, { id: 'rules-capacity', placeholder: 'no limit' });
      const awayBehaviour = select('away_behaviour', [
        ['reassign', 'Reassign it by these rules'],
        ['pool', 'Return it to the unassigned pool'],
        ['keep', 'Keep it with them (they are pinged anyway)'],
      ], rules.away_behaviour || 'reassign', { id: 'rules-away' });
      const target = num('response_target_minutes', rules.response_target_minutes, { id: 'rules-target', min: 1, placeholder: 'none' });
      const takeBack = h('input', { type: 'checkbox', name: 'take_back', checked: !!rules.take_back });
      const onlineOnly = h('input', { type: 'checkbox', name: 'online_only', checked: !!rules.online_only });
      const hours = rules.business_hours || null;
      const DAYS = [['mon', 'Mon'], ['tue', 'Tue'], ['wed', 'Wed'], ['thu', 'Thu'], ['fri', 'Fri'], ['sat', 'Sat'], ['sun', 'Sun']];
      const firstInterval = hours && Object.values(hours.days || {}).find((d) => d.length);
      const useHours = h('input', { type: 'checkbox', name: 'use_hours', checked: !!hours });
      const tz = h('input', { type: 'text', class: 'input', name: 'time_zone', value: hours ? hours.time_zone : Intl.DateTimeFormat().resolvedOptions().timeZone, 'aria-label': 'Time zone', maxlength: 64 });
      const opens = h('input', { type: 'time', class: 'input', value: firstInterval ? firstInterval[0][0] : '09:00', 'aria-label': 'Opens at' });
      const closes = h('input', { type: 'time', class: 'input', value: firstInterval ? firstInterval[0][1] : '17:00', 'aria-label': 'Closes at' });
      const dayBoxes = DAYS.map(([d, label]) => h('label', { class: 'check-row inline' },
        h('input', { type: 'checkbox', name: 'day', value: d, checked: hours ? !!(hours.days[d] && hours.days[d].length) : !['sat', 'sun'].includes(d) }), label));
      const routing = h('fieldset', { class: 'routing' }, h('legend', null, 'Capacity, absence and response'),
        field('Most open cases per teammate', capacity, 'Empty: no limit. A teammate’s own limit (Team) wins. When nobody has room, new cases wait in Unassigned and go out oldest first as room appears.'),
        h('label', { class: 'check-row' }, onlineOnly, 'Assign only to teammates who are online now (waiting cases go out as they connect)'),
        field('When the customer writes on the case of someone away', awayBehaviour, 'Cases of removed teammates and viewers always go through the rules.'),
        field('First-response target (minutes)', target, 'Empty: none. Past it, a case is flagged Breached.'),
        h('label', { class: 'check-row' }, takeBack, 'Past the target, take the case back from its owner and give it to the next by these rules (once)'),
        h('label', { class: 'check-row' }, useHours, 'Count only business hours'),
        h('div', { class: 'inline-controls business-hours' }, tz, opens, h('span', { class: 'muted' }, 'to'), closes),
        h('div', { class: 'inline-controls' }, dayBoxes));
      const form = h('form', { class: 'rules-form' },
        h('fieldset', { class: 'modes' }, h('legend', { class: 'sr-only' }, 'Mode'), modeInputs),
        pool, byCategory, routing, error,
        h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save rules')));
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
          toast('Auto-assign rules saved');
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
        replace(body, h('p', { class: 'form-error' }, `The rules could not load: ${err.message}`));
      }
    }
    subs.push(on('rules', () => { if (!body.contains(document.activeElement)) load(); }));
    load();
    return card('rules', 'Auto-assign', 'Who gets a new case the moment it arrives, and a case whose owner can no longer act on it (removed, a viewer, away) when its customer writes again.', body);
  }

  // --- Saved replies ------------------------------------------------------------------------
  function savedRepliesCard() {
    const list = h('ul', { class: 'saved-list', 'aria-label': 'Saved replies' });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const name = h('input', { name: 'name', type: 'text', maxlength: 100, required: true, id: 'saved-name' });
    const body = h('textarea', { name: 'body', rows: 4, required: true, id: 'saved-body', placeholder: 'Hi {{customer.first_name}}, …' });
    const scope = select('scope', [['personal', 'Only me'], ['workspace', 'Everyone in the workspace']], 'personal', { id: 'saved-scope' });
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save reply');
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', hidden: true }, 'Cancel');
    let editing = null;
    const form = h('form', { class: 'saved-form', novalidate: true },
      field('Name', name, 'Type / and the first letters of the name in the composer to insert it.'),
      field('Text', body, 'Variables: {{customer.first_name}}, {{customer.name}}, {{teammate.name}}, {{case.number}}.'),
      canAdmin() ? field('Who sees it', scope) : null,
      error,
      h('div', { class: 'actions' }, save, cancel));
    function startEdit(r) {
      editing = r;
      name.value = r.name;
      body.value = r.body;
      scope.value = r.scope;
      scope.disabled = true;
      cancel.hidden = false;
      replace(save, 'Save changes');
      name.focus();
    }
    function reset() {
      editing = null;
      form.reset();
      scope.disabled = false;
      cancel.hidden = true;
      replace(save, 'Save reply');
    }
    cancel.addEventListener('click', reset);
    const mayChange = (r) => (r.scope === 'personal' ? r.owner_id === me().id : canAdmin());
    async function load() {
      try {
        const { saved_replies: replies } = await api.get('/api/saved-replies');
        replace(list, replies.length ? replies.map((r) => h('li', { class: 'saved-item' },
          h('div', { class: 'saved-head' }, h('strong', null, r.name), h('span', { class: 'chip' }, r.scope === 'personal' ? 'Only me' : 'Workspace')),
          h('p', { class: 'saved-text muted' }, r.body),
          mayChange(r) ? h('div', { class: 'button-row' },
            h('button', { type: 'button', class: 'btn btn-small', onclick: () => startEdit(r) }, 'Edit'),
            h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', onclick: async () => {
              if (!window.confirm(`Delete the saved reply “${r.name}”?`)) return;
              try {
                await api.del(`/api/saved-replies/${r.id}`);
                load();
              } catch (err) {
                toast(err.message, 'error');
              }
            } }, 'Delete')) : null))
          : h('li', { class: 'muted' }, 'No saved replies yet.'));
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
        toast('Saved reply stored');
      } catch (err) {
        showError(error, err, form);
      }
    });
    load();
    return card('saved-replies', 'Saved replies', 'Answers you give often. The server fills in the variables for the case you are on.', list, form);
  }

  // --- Tags ---------------------------------------------------------------------------------
  function tagsCard() {
    const list = h('ul', { class: 'tag-admin-list', 'aria-label': 'Tags' });
    const lock = toggle('Only admins add tags', 'Agents then tag cases with the tags on this list only.', !!state.me.workspace.tags_locked, async (checked, input) => {
      try {
        await api.patch('/api/workspace', { tags_locked: checked });
        await ctx.reloadMe();
        toast(checked ? 'The tag list is locked' : 'Everyone can add tags');
      } catch (err) {
        input.checked = !checked;
        toast(err.message, 'error');
      }
    });
    const name = h('input', { type: 'text', maxlength: 40, class: 'input', 'aria-label': 'New tag name', placeholder: 'New tag' });
    const color = h('input', { type: 'color', value: '#2563eb', class: 'input-color', 'aria-label': 'New tag colour' });
    const add = h('form', { class: 'inline-controls' }, name, color, h('button', { type: 'submit', class: 'btn btn-small' }, 'Add tag'));
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
        replace(list, tags.length ? tags.map((t) => {
          const recolor = h('input', { type: 'color', value: t.color, class: 'input-color', 'aria-label': `Colour of ${t.name}` });
          recolor.addEventListener('change', async () => {
            try {
              await api.patch(`/api/tags/${t.id}`, { color: recolor.value });
              load();
            } catch (err) {
              toast(err.message, 'error');
            }
          });
          const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost' }, 'Delete');
          remove.addEventListener('click', async () => {
            if (!window.confirm(`Delete the tag “${t.name}”? It comes off every case.`)) return;
            try {
              await api.del(`/api/tags/${t.id}`);
              load();
            } catch (err) {
              toast(err.message, 'error');
            }
          });
          return h('li', { class: 'tag-admin' }, tagChip(t), h('span', { class: 'muted small' }, `${plural(t.counts.all, 'open case')}`), recolor, remove);
        }) : h('li', { class: 'muted' }, 'No tags yet: teammates make them as they tag cases.'));
      } catch (err) {
        replace(list, h('li', { class: 'form-error' }, err.message));
      }
    }
    load();
    subs.push(on('tags', load));
    return card('tags', 'Tags', 'Labels on cases, filterable in every view.', lock, list, add);
  }

  // --- Workspace ----------------------------------------------------------------------------
  function workspaceCard() {
    const ws = state.me.workspace;
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const keywords = Object.entries(ws.category_keywords || {}).map(([c, words]) => `${c}: ${words.join(', ')}`).join('\n');
    const form = h('form', { class: 'workspace-form', novalidate: true },
      field('Workspace name', h('input', { name: 'name', type: 'text', value: ws.name, required: true, maxlength: 100, id: 'ws-name' })),
      h('div', { class: 'grid-2' },
        field('Case number prefix', h('input', { name: 'case_prefix', type: 'text', value: ws.case_prefix, maxlength: 8, pattern: '[A-Za-z0-9]{1,8}', id: 'ws-prefix', class: 'mono' }), 'Up to 8 letters or digits, as in BT-000123.'),
        field('Reopen window (days)', h('input', { name: 'reopen_days', type: 'number', min: 0, max: 3650, value: String(ws.reopen_days), id: 'ws-reopen' }), 'A customer writing again within this time reopens the same case.')),
      field('Category keywords', h('textarea', { name: 'category_keywords', rows: 4, value: keywords, id: 'ws-keywords', class: 'mono', placeholder: 'pricing: price, quote, cost' }), 'One category per line: the name, a colon, then keywords separated by commas.'),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save workspace')));
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
          showError(error, { message: `Cannot read “${line.trim()}”: write it as “category: word, word”.`, field: 'category_keywords' }, form);
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
        toast('Workspace saved');
      } catch (err) {
        showError(error, err, form);
      }
    });
    const exportLink = me().role === 'owner'
      ? h('p', { class: 'muted small' },
        h('a', { href: '/api/workspace/export', download: '' }, 'Download everything'),
        ' — cases, messages, notes, customers, teammates and files, as a .tar.gz of NDJSON files (no passwords or secrets).')
      : null;
    return card('workspace', 'Workspace', null, form, exportLink);
  }

  function ingestCard() {
    const token = h('input', { type: 'text', readOnly: true, class: 'input mono', value: state.me.workspace.ingest_token || '', 'aria-label': 'Ingest token', id: 'ingest-token' });
    const rotate = h('button', { type: 'button', class: 'btn btn-danger-ghost' }, 'Rotate');
    rotate.addEventListener('click', async () => {
      if (!window.confirm('Rotate the ingest token? The current one stops working at once.')) return;
      try {
        const { ingest_token: fresh } = await api.post('/api/workspace/ingest-token');
        token.value = fresh;
        state.me.workspace.ingest_token = fresh;
        toast('New ingest token ready');
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    return card('ingest', 'Ingest token', 'Your email, SMS or form provider posts customer messages to /api/inbound with this bearer token.',
      h('div', { class: 'inline-controls' }, token,
        h('button', { type: 'button', class: 'btn', onclick: () => copyText(token.value) }, icon('copy'), 'Copy'),
        rotate));
  }

  function render() {
    const sections = [['you', 'You'], ['appearance', 'Appearance'], ['notifications', 'Notifications'], ['security', 'Two-factor'], ['sessions', 'Sessions']];
    if (canWork()) sections.push(['saved-replies', 'Saved replies']);
    if (canAdmin()) sections.push(['team', 'Team'], ['tags', 'Tags']);
    if (canBulk()) sections.push(['bulk', 'Bulk reassign']);
    if (canAdmin()) sections.push(['rules', 'Auto-assign'], ['workspace', 'Workspace'], ['ingest', 'Ingest token'], ['sso', 'Single sign-on'], ['channels', 'Channels'], ['webhooks', 'Webhooks'], ['audit', 'Audit']);
    subs.splice(0).forEach((off) => off());
    replace(el,
      h('header', { class: 'settings-head' }, h('h1', null, 'Settings'),
        h('nav', { class: 'settings-nav', 'aria-label': 'Sections' }, sections.map(([id, label]) => h('a', { href: `#${id}` }, label)))),
      youCard(),
      card('appearance', 'Appearance', 'Light or dark, in this browser.', appearanceControls()),
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
