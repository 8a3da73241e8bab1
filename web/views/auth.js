// Sign-in, sign-up and invite acceptance: the pages you see before you are signed in.

import * as api from '../api.js';
import { h } from '../dom.js';
import { field, showError, clearError } from './common.js';
import { totpPanel } from './totp.js';
import { t, parts, msgKey } from '../i18n.js';

function page(title, subtitle, form, footer) {
  return h('div', { class: 'auth' },
    h('main', { class: 'auth-card' },
      h('div', { class: 'brand brand-large' }, h('img', { src: '/favicon.svg', alt: '', class: 'brand-mark' }), h('span', null, 'Baton')),
      h('h1', null, title),
      subtitle ? h('p', { class: 'muted' }, subtitle) : null,
      form,
      footer ? h('p', { class: 'auth-footer' }, footer) : null));
}

function input(name, type, autocomplete, extra = {}) {
  return h('input', { name, type, autocomplete, required: true, ...extra });
}

function authForm(fields, submitLabel, submit) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const button = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, submitLabel);
  const form = h('form', { class: 'stack', novalidate: true }, error, fields, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError(error);
    if (!form.checkValidity()) {
      const bad = form.querySelector(':invalid');
      const label = form.querySelector(`label[for="${bad.id}"]`);
      const message = label ? t('auth.invalidField', { label: label.textContent, problem: bad.validationMessage }) : bad.validationMessage;
      showError(error, { message, field: bad.name }, form);
      return;
    }
    button.disabled = true;
    try {
      await submit(Object.fromEntries(new FormData(form)));
    } catch (err) {
      showError(error, err, form);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function loginView(root, { navigate }) {
  // Shown once the password was right and the account also asks for a two-factor code.
  const code = input('totp', 'text', 'one-time-code', { inputmode: 'numeric', maxlength: 11, disabled: true });
  const codeField = field(t('auth.totpCode'), code, t('auth.totpCodeHint'));
  codeField.hidden = true;
  const form = authForm([
    field(t('auth.email'), input('email', 'email', 'username', { autofocus: true })),
    field(t('auth.password'), input('password', 'password', 'current-password')),
    codeField,
  ], t('auth.signIn'), async ({ email, password, totp }) => {
    try {
      await api.post('/api/session', totp ? { email, password, totp } : { email, password }, { quiet401: true });
    } catch (err) {
      if (err.code !== 'totp_required') throw err;
      codeField.hidden = false;
      code.disabled = false;
      code.focus();
      return;
    }
    navigate('/', { replace: true });
  });
  root.replaceChildren(page(t('auth.signIn'), t('auth.signInIntro'), [form, ssoForm()],
    parts('auth.newToBaton', { link: h('a', { href: '/signup' }, t('auth.createWorkspaceLink')) })));
  form.querySelector('input').focus();
}

// What the sign-in page says when single sign-on came back refused (`/login?sso_error=…`).
const SSO_ERRORS = {
  invalid_state: msgKey('sso.errorInvalidState'),
  code_rejected: msgKey('sso.errorCodeRejected'),
  no_email: msgKey('sso.errorNoEmail'),
  not_configured: msgKey('sso.errorNotConfigured'),
  not_allowed: msgKey('sso.errorNotAllowed'),
  removed: msgKey('sso.errorRemoved'),
  invalid_token: msgKey('sso.errorInvalidToken'),
  email_unverified: msgKey('sso.errorEmailUnverified'),
  provider_error: msgKey('sso.errorProvider'),
  provider_unreachable: msgKey('sso.errorUnreachable'),
};

/** Single sign-on: the email's domain finds the workspace's identity provider. The form opens
 * from a button (or at once after a refused sign-in), so the page has one email field at first. */
function ssoForm() {
  const reason = new URLSearchParams(location.search).get('sso_error');
  const box = h('div', { class: 'stack sso-box' });
  function open() {
    const refused = h('p', { class: 'form-error', role: 'alert', hidden: !reason },
      reason ? (SSO_ERRORS[reason] ? t(SSO_ERRORS[reason]) : t('sso.errorOther')) : '');
    const form = authForm([
      field(t('sso.email'), input('email', 'email', 'username')),
    ], t('sso.continue'), async ({ email }) => {
      const { url } = await api.post('/api/sso/start', { email }, { quiet401: true });
      location.assign(url);
    });
    box.replaceChildren(refused, form);
    form.querySelector('input').focus();
  }
  const button = h('button', { type: 'button', class: 'btn btn-block' }, t('sso.use'));
  button.addEventListener('click', open);
  box.append(button);
  if (reason) open();
  return box;
}

export function signupView(root, { navigate }) {
  const form = authForm([
    field(t('auth.workspaceName'), input('workspace_name', 'text', 'organization', { maxlength: 100 })),
    field(t('auth.yourName'), input('name', 'text', 'name', { maxlength: 100 })),
    field(t('auth.workEmail'), input('email', 'email', 'email')),
    field(t('auth.password'), input('password', 'password', 'new-password', { minlength: 8 }), t('auth.passwordHint')),
  ], t('auth.createWorkspace'), async (body) => {
    await api.post('/api/signup', body, { quiet401: true });
    navigate('/', { replace: true });
  });
  root.replaceChildren(page(t('auth.signUpTitle'), t('auth.signUpIntro'), form,
    parts('auth.haveAccount', { link: h('a', { href: '/login' }, t('auth.signIn')) })));
  form.querySelector('input').focus();
}

export async function inviteView(root, { navigate, params }) {
  const token = encodeURIComponent(params[0]);
  const footer = () => parts('auth.alreadyJoined', { link: h('a', { href: '/login' }, t('auth.signIn')) });
  let invite;
  try {
    invite = await api.get(`/api/invites/${token}`, { quiet401: true });
  } catch (err) {
    const said = err.status === 404 ? t('auth.inviteGone') : err.message;
    root.replaceChildren(page(t('auth.invitedTitle'), null, h('p', { class: 'form-error', role: 'alert' }, said), footer()));
    return;
  }
  const who = t('auth.invitedAs', { workspace: invite.workspace_name, email: invite.email });
  const accept = async (body) => {
    await api.post(`/api/invites/${token}/accept`, body, { quiet401: true });
    navigate('/', { replace: true });
  };
  // A workspace that signs in through its identity provider only: joining takes no password,
  // and later sign-ins go through the provider.
  if (invite.sso_only) {
    const form = authForm([], t('auth.join'), () => accept({}));
    root.replaceChildren(page(t('auth.invitedTitle'), `${who} ${t('auth.invitedIntroSso')}`, form, footer()));
    form.querySelector('button').focus();
    return;
  }
  const confirm = input('confirm', 'password', 'new-password', { minlength: 8 });
  const form = authForm([
    field(t('auth.choosePassword'), input('password', 'password', 'new-password', { minlength: 8 }), t('auth.passwordHint')),
    field(t('auth.repeatPassword'), confirm),
  ], t('auth.join'), async ({ password, confirm: again }) => {
    if (password !== again) throw Object.assign(new Error(t('auth.passwordsDiffer')), { field: 'confirm' });
    await accept({ password });
  });
  root.replaceChildren(page(t('auth.invitedTitle'), `${who} ${t('auth.invitedIntro')}`, form, footer()));
  form.querySelector('input').focus();
}

/** A member of a workspace that requires two-factor sign-in, signed in without it: they set it
 * up here before anything else (the API refuses them everything else until they have). */
export function enrolView(root, { workspaceName, onEnrolled, signOut }) {
  const out = h('button', { type: 'button', class: 'btn btn-ghost' }, t('nav.signOut'));
  out.addEventListener('click', signOut);
  root.replaceChildren(page(t('totp.setUpTitle'),
    t('totp.requiredIntro', { workspace: workspaceName }),
    totpPanel({ onEnrolled }),
    out));
}
