// Labels, names, dates: the small text helpers every view shares.

export const STATUSES = [
  ['needs_reply', 'Needs reply'],
  ['awaiting_customer', 'Awaiting customer'],
  ['follow_up_due', 'Follow-up due'],
  ['on_hold', 'On hold'],
  ['won', 'Won'],
  ['lost', 'Lost'],
  ['archived', 'Archived'],
];
const STATUS_LABEL = Object.fromEntries(STATUSES);
export const statusLabel = (s) => STATUS_LABEL[s] || s;
export const isClosed = (s) => s === 'won' || s === 'lost' || s === 'archived';

export const ROLES = ['owner', 'admin', 'manager', 'agent', 'viewer'];
export const roleLabel = (r) => r.charAt(0).toUpperCase() + r.slice(1);

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

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

export function relativeTime(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (!Number.isFinite(t)) return '';
  const secs = Math.round((t - now) / 1000);
  const abs = Math.abs(secs);
  if (abs < 45) return 'now';
  if (abs < 3600) return rtf.format(Math.round(secs / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(secs / 3600), 'hour');
  if (abs < 7 * 86400) return rtf.format(Math.round(secs / 86400), 'day');
  return new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export function dateTime(iso) {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return '';
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
}

/** `YYYY-MM-DDTHH:MM` in local time, for <input type="datetime-local">. */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export const channelLabel = (c) => ({ email: 'Email', sms: 'SMS', web: 'Web form', form: 'Web form', chat: 'Chat' }[c] || c || 'Message');

/** "Away until Mar 9, 9:00 AM" and the like: away now or planned, with its dates; '' if neither. */
export function awayLabel(t) {
  if (!t) return '';
  if (t.away) return t.away_until ? `Away until ${dateTime(t.away_until)}` : 'Away';
  if (t.away_from && new Date(t.away_from).getTime() > Date.now()) {
    return `Away from ${dateTime(t.away_from)}${t.away_until ? ` to ${dateTime(t.away_until)}` : ''}`;
  }
  return '';
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
