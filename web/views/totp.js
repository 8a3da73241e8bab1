// Two-factor sign-in for the signed-in teammate: set up (QR code, first code, recovery codes)
// and turn off. Settings shows it; so does the page a workspace that requires two-factor
// sign-in sends an unenrolled member to (`onEnrolled` then lets them in).

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { state } from '../store.js';
import { icon } from '../icons.js';
import { field, showError, clearError, toast, copyText } from './common.js';

export function totpPanel({ onEnrolled = null } = {}) {
  const body = h('div', { class: 'stack' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const codeInput = (label) => field(label, h('input', { name: 'code', type: 'text', class: 'input', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 11, required: true }));
  function submitting(form, run) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearError(error);
      try {
        await run(new FormData(form).get('code'));
      } catch (err) {
        showError(error, err, form);
      }
    });
    return form;
  }
  function showOff() {
    const start = h('button', { type: 'button', class: 'btn' }, 'Set up two-factor sign-in');
    start.addEventListener('click', async () => {
      try {
        showEnrolment(await api.post('/api/me/totp'));
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    replace(body, h('p', { class: 'muted' }, 'Off. Signing in asks for your password only.'), start);
  }
  function showEnrolment(enrolment) {
    const qr = h('img', { class: 'totp-qr', width: 200, height: 200, alt: 'QR code for your authenticator app', src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qr_svg)}` });
    const form = submitting(h('form', { class: 'stack', novalidate: true }, error, codeInput('Code from the app'),
      h('button', { type: 'submit', class: 'btn btn-primary' }, 'Turn on')), async (code) => {
      const { recovery_codes: codes } = await api.post('/api/me/totp/confirm', { code });
      state.me.totp = true;
      showCodes(codes);
    });
    replace(body,
      h('p', null, 'Scan this with an authenticator app (1Password, Google Authenticator, Aegis…), then type the code it shows.'),
      qr,
      h('p', { class: 'muted' }, 'Or enter this key by hand: ', h('code', { class: 'mono' }, enrolment.secret)),
      form);
    form.querySelector('input').focus();
  }
  function showCodes(codes) {
    const list = h('ul', { class: 'recovery-codes mono' }, codes.map((c) => h('li', null, c)));
    replace(body,
      h('p', null, 'Two-factor sign-in is on. Keep these recovery codes somewhere safe: each signs you in once if you lose your phone. They are not shown again.'),
      list,
      h('div', { class: 'inline-controls' },
        h('button', { type: 'button', class: 'btn', onclick: () => copyText(codes.join('\n')) }, icon('copy'), 'Copy codes'),
        onEnrolled
          ? h('button', { type: 'button', class: 'btn btn-primary', onclick: onEnrolled }, 'Continue to the inbox')
          : h('button', { type: 'button', class: 'btn btn-primary', onclick: showOn }, 'Done')));
  }
  function showOn() {
    if (state.me.workspace.require_totp) {
      replace(body, h('p', null, 'On. Your workspace requires two-factor sign-in, so it stays on while the owner asks for it.'));
      return;
    }
    const form = submitting(h('form', { class: 'stack', novalidate: true }, error, codeInput('A current code or a recovery code'),
      h('button', { type: 'submit', class: 'btn btn-danger-ghost' }, 'Turn off')), async (code) => {
      await api.del('/api/me/totp', { code });
      state.me.totp = false;
      toast('Two-factor sign-in is off');
      showOff();
    });
    replace(body, h('p', null, 'On. Signing in asks for a code from your authenticator app after your password.'), form);
  }
  if (state.me.totp) showOn(); else if (onEnrolled) api.post('/api/me/totp').then(showEnrolment, (err) => toast(err.message, 'error')); else showOff();
  return body;
}
