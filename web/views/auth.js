// Sign-in, sign-up and invite acceptance: the pages you see before you are signed in.

import * as api from '../api.js';
import { h } from '../dom.js';
import { field, showError, clearError } from './common.js';
import { totpPanel } from './totp.js';

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
      showError(error, { message: `${label ? `${label.textContent}: ` : ''}${bad.validationMessage}`, field: bad.name }, form);
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
  const codeField = field('Code from your authenticator app', code, 'Six digits, or one of your recovery codes.');
  codeField.hidden = true;
  const form = authForm([
    field('Email', input('email', 'email', 'username', { autofocus: true })),
    field('Password', input('password', 'password', 'current-password')),
    codeField,
  ], 'Sign in', async ({ email, password, totp }) => {
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
  root.replaceChildren(page('Sign in', 'Welcome back. Your team’s inbox is waiting.', [form, ssoForm()],
    ['New to Baton? ', h('a', { href: '/signup' }, 'Create a workspace')]));
  form.querySelector('input').focus();
}

// What the sign-in page says when single sign-on came back refused (`/login?sso_error=…`).
const SSO_ERRORS = {
  invalid_state: 'That sign-in link was already used or has expired. Please start again.',
  code_rejected: 'The identity provider did not accept the sign-in. Please start again.',
  no_email: 'Your identity provider did not tell Baton your email address.',
  not_configured: 'Single sign-on is turned off for this workspace. Sign in with your password.',
  not_allowed: 'Your identity provider signed you in, but that account may not join this workspace. Ask an admin to invite you.',
  invalid_token: 'The identity provider’s answer could not be verified. Please try again, or ask an admin to check the single sign-on settings.',
  email_unverified: 'Your identity provider has not verified your email address.',
  provider_error: 'The identity provider did not sign you in.',
  provider_unreachable: 'The identity provider could not be reached. Please try again shortly.',
};

/** Single sign-on: the email's domain finds the workspace's identity provider. The form opens
 * from a button (or at once after a refused sign-in), so the page has one email field at first. */
function ssoForm() {
  const reason = new URLSearchParams(location.search).get('sso_error');
  const box = h('div', { class: 'stack sso-box' });
  function open() {
    const refused = h('p', { class: 'form-error', role: 'alert', hidden: !reason },
      reason ? (SSO_ERRORS[reason] || 'Single sign-on did not sign you in. Please try again.') : '');
    const form = authForm([
      field('Work email for single sign-on', input('email', 'email', 'username')),
    ], 'Continue with SSO', async ({ email }) => {
      const { url } = await api.post('/api/sso/start', { email }, { quiet401: true });
      location.assign(url);
    });
    box.replaceChildren(refused, form);
    form.querySelector('input').focus();
  }
  const button = h('button', { type: 'button', class: 'btn btn-block' }, 'Use single sign-on (SSO)');
  button.addEventListener('click', open);
  box.append(button);
  if (reason) open();
  return box;
}

export function signupView(root, { navigate }) {
  const form = authForm([
    field('Workspace name', input('workspace_name', 'text', 'organization', { maxlength: 100 })),
    field('Your name', input('name', 'text', 'name', { maxlength: 100 })),
    field('Work email', input('email', 'email', 'email')),
    field('Password', input('password', 'password', 'new-password', { minlength: 8 }), 'At least 8 characters.'),
  ], 'Create workspace', async (body) => {
    await api.post('/api/signup', body, { quiet401: true });
    navigate('/', { replace: true });
  });
  root.replaceChildren(page('Create your workspace', 'One inbox for your team, one owner for every case.', form,
    ['Already have an account? ', h('a', { href: '/login' }, 'Sign in')]));
  form.querySelector('input').focus();
}

export function inviteView(root, { navigate, params }) {
  const token = params[0];
  const confirm = input('confirm', 'password', 'new-password', { minlength: 8 });
  const form = authForm([
    field('Choose a password', input('password', 'password', 'new-password', { minlength: 8 }), 'At least 8 characters.'),
    field('Repeat the password', confirm),
  ], 'Join the team', async ({ password, confirm: again }) => {
    if (password !== again) throw Object.assign(new Error('The two passwords differ.'), { field: 'confirm' });
    await api.post(`/api/invites/${encodeURIComponent(token)}/accept`, { password }, { quiet401: true });
    navigate('/', { replace: true });
  });
  root.replaceChildren(page('You’re invited', 'Set a password to join your team’s inbox on Baton.', form,
    ['Already joined? ', h('a', { href: '/login' }, 'Sign in')]));
  form.querySelector('input').focus();
}

/** A member of a workspace that requires two-factor sign-in, signed in without it: they set it
 * up here before anything else (the API refuses them everything else until they have). */
export function enrolView(root, { workspaceName, onEnrolled, signOut }) {
  const out = h('button', { type: 'button', class: 'btn btn-ghost' }, 'Sign out');
  out.addEventListener('click', signOut);
  root.replaceChildren(page('Set up two-factor sign-in',
    `${workspaceName} asks everyone to sign in with a code from their phone as well as their password. Set it up now to continue.`,
    totpPanel({ onEnrolled }),
    out));
}
