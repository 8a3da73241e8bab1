// Two-factor sign-in for the signed-in teammate: set up (QR code, first code, recovery codes)
// and turn off. Settings shows it; so does the page a workspace that requires two-factor
// sign-in sends an unenrolled member to (`onEnrolled` then lets them in).

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { state } from '../store.js';
import { icon } from '../icons.js';
import { field, showError, clearError, toast, copyText } from './common.js';
import { t, parts } from '../i18n.js';

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
    const start = h('button', { type: 'button', class: 'btn' }, t('totp.setUpTitle'));
    start.addEventListener('click', async () => {
      try {
        showEnrolment(await api.post('/api/me/totp'));
      } catch (err) {
        toast(err.message, 'error');
      }
    });
    replace(body, h('p', { class: 'muted' }, t('totp.off')), start);
  }
  function showEnrolment(enrolment) {
    const qr = h('img', { class: 'totp-qr', width: 200, height: 200, alt: t('totp.qrAlt'), src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qr_svg)}` });
    const form = submitting(h('form', { class: 'stack', novalidate: true }, error, codeInput(t('totp.codeFromApp')),
      h('button', { type: 'submit', class: 'btn btn-primary' }, t('totp.turnOn'))), async (code) => {
      const { recovery_codes: codes } = await api.post('/api/me/totp/confirm', { code });
      state.me.totp = true;
      showCodes(codes);
    });
    replace(body,
      h('p', null, t('totp.scan')),
      qr,
      h('p', { class: 'muted' }, parts('totp.byHand', { key: h('code', { class: 'mono' }, enrolment.secret) })),
      form);
    form.querySelector('input').focus();
  }
  function showCodes(codes) {
    const list = h('ul', { class: 'recovery-codes mono' }, codes.map((c) => h('li', null, c)));
    replace(body,
      h('p', null, t('totp.codesIntro')),
      list,
      h('div', { class: 'inline-controls' },
        h('button', { type: 'button', class: 'btn', onclick: () => copyText(codes.join('\n')) }, icon('copy'), t('totp.copyCodes')),
        onEnrolled
          ? h('button', { type: 'button', class: 'btn btn-primary', onclick: onEnrolled }, t('totp.continue'))
          : h('button', { type: 'button', class: 'btn btn-primary', onclick: showOn }, t('totp.done'))));
  }
  function showOn() {
    if (state.me.workspace.require_totp) {
      replace(body, h('p', null, t('totp.onRequired')));
      return;
    }
    const form = submitting(h('form', { class: 'stack', novalidate: true }, error, codeInput(t('totp.currentCode')),
      h('button', { type: 'submit', class: 'btn btn-danger-ghost' }, t('totp.turnOff'))), async (code) => {
      await api.del('/api/me/totp', { code });
      state.me.totp = false;
      toast(t('totp.offToast'));
      showOff();
    });
    replace(body, h('p', null, t('totp.on')), form);
  }
  if (state.me.totp) showOn(); else if (onEnrolled) api.post('/api/me/totp').then(showEnrolment, (err) => toast(err.message, 'error')); else showOff();
  return body;
}
