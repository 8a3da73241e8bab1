// The HTTP API: JSON in and out, the session cookie, and one error shape
// (`{"error":{"code","message","field?"}}`) turned into ApiError. The server's messages are
// English: an error whose code says all there is to say is told in the chosen language from its
// code; one that names a field or a value keeps the server's words.

import { t, msgKey } from './i18n.js';

/** Server error codes whose message carries nothing beyond the code, in the reader's language. */
const SERVER_ERRORS = {
  unauthorized: msgKey('serverError.unauthorized'),
  totp_required: msgKey('serverError.totpRequired'),
  totp_enrolment_required: msgKey('serverError.totpEnrolmentRequired'),
  sso_required: msgKey('serverError.ssoRequired'),
  sso_not_configured: msgKey('serverError.ssoNotConfigured'),
  not_found: msgKey('serverError.notFound'),
  conflict: msgKey('serverError.conflict'),
  rate_limited: msgKey('serverError.rateLimited'),
  too_large: msgKey('serverError.tooLarge'),
  unavailable: msgKey('serverError.unavailable'),
  internal: msgKey('serverError.internal'),
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    const known = SERVER_ERRORS[error.code];
    super(known ? t(known) : error.message || (status ? t('error.requestFailedStatus', { status: String(status) }) : t('error.requestFailed')));
    this.status = status;
    this.code = error.code || 'error';
    this.field = error.field || null;
    this.current = error.current || null;
  }
}

let onUnauthorized = null;

/** Called when a request answers 401 while signed in (the session ended). */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function request(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: { code: 'network', message: t('error.network') } });
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !quiet401 && onUnauthorized) onUnauthorized(err);
    // The workspace began requiring two-factor sign-in while this tab was open: the app's
    // start page walks this teammate through it.
    if (err.code === 'totp_enrolment_required' && location.pathname !== '/') location.assign('/');
    throw err;
  }
  return data;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const post = (path, body, opts) => request('POST', path, body === undefined ? {} : body, opts);
export const put = (path, body, opts) => request('PUT', path, body, opts);
export const patch = (path, body, opts) => request('PATCH', path, body, opts);
export const del = (path, body, opts) => request('DELETE', path, body, opts);

/** Uploads one file for the next reply or note; answers `{id, filename, content_type, size}`. */
export async function upload(file) {
  let res;
  try {
    res = await fetch(`/api/attachments?filename=${encodeURIComponent(file.name)}`, {
      method: 'POST', credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': file.type || 'application/octet-stream' },
      body: file,
    });
  } catch {
    throw new ApiError(0, { error: { code: 'network', message: t('error.network') } });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 413) throw new ApiError(413, { error: { code: 'too_large', message: t('error.fileTooLarge', { name: file.name }) } });
    throw new ApiError(res.status, data);
  }
  return data;
}

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}
