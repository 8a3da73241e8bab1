// Labels, names, dates: the small text helpers every view shares, in the chosen language.

import { t, msgKey, formatDate, formatRelative, formatNumber } from './i18n.js';

export const STATUSES = [
  ['needs_reply', msgKey('status.needsReply')],
  ['awaiting_customer', msgKey('status.awaitingCustomer')],
  ['follow_up_due', msgKey('status.followUpDue')],
  ['on_hold', msgKey('status.onHold')],
  ['won', msgKey('status.won')],
  ['lost', msgKey('status.lost')],
  ['archived', msgKey('status.archived')],
];
const STATUS_LABEL = Object.fromEntries(STATUSES);
export const statusLabel = (s) => (STATUS_LABEL[s] ? t(STATUS_LABEL[s]) : s);
export const isClosed = (s) => s === 'won' || s === 'lost' || s === 'archived';

export const ROLES = ['owner', 'admin', 'manager', 'agent', 'viewer'];
const ROLE_LABEL = {
  owner: msgKey('role.owner'),
  admin: msgKey('role.admin'),
  manager: msgKey('role.manager'),
  agent: msgKey('role.agent'),
  viewer: msgKey('role.viewer'),
};
export const roleLabel = (r) => (ROLE_LABEL[r] ? t(ROLE_LABEL[r]) : r);

export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  if (!parts.length) return '?';
  const first = [...parts[0]][0] || '';
  const last = parts.length > 1 ? [...parts[parts.length - 1]][0] || '' : '';
  return (first + last).toUpperCase();
}

/** A stable hue per id, for avatars. */
export function hue(id) {
  let h = 0;
  for (const c of String(id || '')) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 8;
}

export function relativeTime(iso, now = Date.now()) {
  const at = new Date(iso).getTime();
  if (!Number.isFinite(at)) return '';
  const secs = Math.round((at - now) / 1000);
  const abs = Math.abs(secs);
  const rel = (n, unit) => formatRelative(n, unit, { numeric: 'auto', style: 'short' });
  if (abs < 45) return rel(0, 'second');
  if (abs < 3600) return rel(Math.round(secs / 60), 'minute');
  if (abs < 86400) return rel(Math.round(secs / 3600), 'hour');
  if (abs < 7 * 86400) return rel(Math.round(secs / 86400), 'day');
  return formatDate(new Date(at), { month: 'short', day: 'numeric' });
}

/** "Mar 9, 9:00 AM" (short, for lists and the rail). */
export function dateTime(iso) {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  return formatDate(d, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
}

/** Date and time in full (the year, seconds), for tooltips. */
export function fullDateTime(iso) {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  return formatDate(d, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** A time of day, "9:00 AM" or "09:00". */
export function timeOfDay(iso) {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  return formatDate(d, { hour: 'numeric', minute: '2-digit' });
}

/** A calendar day given as `YYYY-MM-DD` ("Mar 9, 2026"; `options` for another form). */
export function formatDay(day, options = { dateStyle: 'medium' }) {
  const [y, m, d] = String(day).split('-').map(Number);
  if (!y || !m || !d) return String(day);
  return formatDate(new Date(y, m - 1, d), options);
}

/** `YYYY-MM-DDTHH:MM` in local time, for <input type="datetime-local">. */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const CHANNEL_LABEL = {
  email: msgKey('channel.email'),
  sms: msgKey('channel.sms'),
  web: msgKey('channel.webForm'),
  form: msgKey('channel.webForm'),
  chat: msgKey('channel.chat'),
};
export const channelLabel = (c) => (CHANNEL_LABEL[c] ? t(CHANNEL_LABEL[c]) : c || t('channel.message'));

/** "Away until Mar 9, 9:00 AM" and the like: away now or planned, with its dates; '' if neither. */
export function awayLabel(p) {
  if (!p) return '';
  if (p.away) return p.away_until ? t('away.until', { until: dateTime(p.away_until) }) : t('away.now');
  if (p.away_from && new Date(p.away_from).getTime() > Date.now()) {
    return p.away_until
      ? t('away.fromTo', { from: dateTime(p.away_from), until: dateTime(p.away_until) })
      : t('away.from', { from: dateTime(p.away_from) });
  }
  return '';
}

/** Weekday names, Monday first, short ("Mon", "Mo."). */
export function weekdays(style = 'short') {
  // 2024-01-01 was a Monday.
  return Array.from({ length: 7 }, (_, i) => formatDate(new Date(2024, 0, 1 + i), { weekday: style }));
}

/** `n` of an Intl unit ("second", "kilobyte"), short: "12 min", "3,5 Std.". */
const measure = (n, unit, digits = 0) => formatNumber(n, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: digits });

/** "45 sec", "12 min", "3.5 hr", "2.1 days"; an em dash when there is nothing to measure. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return measure(seconds, 'second');
  if (seconds < 3600) return measure(Math.round(seconds / 60), 'minute');
  if (seconds < 48 * 3600) return measure(seconds / 3600, 'hour', 1);
  return measure(seconds / 86400, 'day', 1);
}

/** A file size: "512 byte", "12 kB", "1.4 MB". */
export function fileSize(n) {
  if (n < 1024) return measure(n, 'byte');
  if (n < 1024 * 1024) return measure(Math.round(n / 1024), 'kilobyte');
  return measure(n / 1024 / 1024, 'megabyte', 1);
}
