// Reports (managers and up): the team's response and resolution times, replies and cases handled
// by teammate and by week, the hours customers write most, and each teammate's load now, with a
// CSV download. Charts are SVG drawn here; the table beside them holds the same numbers as text.

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { toast } from './common.js';

const NS = 'http://www.w3.org/2000/svg';
const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

/** "45 s", "12 min", "3.5 h", "2.1 d"; an em dash when there is nothing to measure. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function localDay(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function tile(label, value, detail) {
  return h('div', { class: 'report-tile' },
    h('div', { class: 'report-tile-label' }, label),
    h('div', { class: 'report-tile-value' }, value),
    detail ? h('div', { class: 'muted small' }, detail) : null);
}

/** Bars, one per week, with the value written above each; `label` describes the chart. */
function weekBars(label, weeks, value, format) {
  const width = 560;
  const height = 160;
  const top = 18;
  const bottom = 22;
  const values = weeks.map(value);
  const max = Math.max(1, ...values.map((v) => v || 0));
  const slot = width / Math.max(1, weeks.length);
  const bar = Math.min(48, slot * 0.6);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'report-chart', role: 'img', 'aria-label': label });
  chart.append(svg('line', { x1: 0, x2: width, y1: height - bottom, y2: height - bottom, class: 'chart-axis' }));
  weeks.forEach((w, i) => {
    const v = values[i];
    const x = i * slot + (slot - bar) / 2;
    const hgt = v ? ((height - top - bottom) * v) / max : 0;
    const y = height - bottom - hgt;
    const rect = svg('rect', { x, y, width: bar, height: Math.max(hgt, v ? 1 : 0), rx: 3, class: 'chart-bar' });
    rect.append(svg('title', null, document.createTextNode(`Week of ${w.week}: ${v === null ? 'none' : format(v)}`)));
    chart.append(rect,
      svg('text', { x: x + bar / 2, y: y - 4, class: 'chart-value', 'text-anchor': 'middle' }, document.createTextNode(v === null ? '' : format(v))),
      svg('text', { x: x + bar / 2, y: height - 6, class: 'chart-label', 'text-anchor': 'middle' }, document.createTextNode(w.week.slice(5))));
  });
  return h('figure', { class: 'report-figure' }, h('figcaption', { class: 'sub-title' }, label), chart);
}

/** Customer messages by weekday and hour: darker is busier. */
function heatmap(hours) {
  const cell = 20;
  const left = 36;
  const top = 16;
  const max = Math.max(1, ...hours.flat());
  const total = hours.flat().reduce((a, b) => a + b, 0);
  const chart = svg('svg', { viewBox: `0 0 ${left + 24 * cell} ${top + 7 * cell}`, class: 'report-heatmap', role: 'img',
    'aria-label': `Customer messages by weekday and hour, ${total} in all` });
  for (let hr = 0; hr < 24; hr += 3) {
    chart.append(svg('text', { x: left + hr * cell + cell / 2, y: 11, class: 'chart-label', 'text-anchor': 'middle' }, document.createTextNode(String(hr))));
  }
  hours.forEach((row, d) => {
    chart.append(svg('text', { x: 0, y: top + d * cell + 14, class: 'chart-label' }, document.createTextNode(DAYS[d])));
    row.forEach((n, hr) => {
      const rect = svg('rect', { x: left + hr * cell + 1, y: top + d * cell + 1, width: cell - 2, height: cell - 2, rx: 3,
        class: n ? 'heat-cell' : 'heat-cell heat-empty', 'fill-opacity': n ? (0.15 + (0.85 * n) / max).toFixed(2) : 1 });
      rect.append(svg('title', null, document.createTextNode(`${DAYS[d]} ${hr}:00–${hr + 1}:00: ${n} ${n === 1 ? 'message' : 'messages'}`)));
      chart.append(rect);
    });
  });
  return h('figure', { class: 'report-figure' }, h('figcaption', { class: 'sub-title' }, 'When customers write'), chart);
}

function teammatesTable(rows) {
  const head = ['Teammate', 'Open now', 'Replies', 'Cases handled', 'First response (median)', 'First response (90th)', 'Resolution (median)', 'Resolution (90th)'];
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'audit-table report-table' },
      h('caption', { class: 'sr-only' }, 'Figures by teammate'),
      h('thead', null, h('tr', null, head.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows.map((t) => h('tr', null,
        h('th', { scope: 'row' }, t.name, t.active ? null : h('span', { class: 'muted small' }, ' (removed)')),
        h('td', { class: t.max_open !== null && t.open_now >= t.max_open ? 'at-limit' : null },
          t.max_open === null ? String(t.open_now) : `${t.open_now} / ${t.max_open}`),
        h('td', null, String(t.replies)),
        h('td', null, String(t.cases_handled)),
        h('td', null, duration(t.first_response.median_seconds)),
        h('td', null, duration(t.first_response.p90_seconds)),
        h('td', null, duration(t.resolution.median_seconds)),
        h('td', null, duration(t.resolution.p90_seconds)))))));
}

export function createReports() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const today = new Date();
  const from = h('input', { type: 'date', class: 'input', name: 'from', value: localDay(new Date(today.getTime() - 27 * 86400000)) });
  const to = h('input', { type: 'date', class: 'input', name: 'to', value: localDay(today) });
  const csv = h('a', { class: 'btn btn-small', download: '' }, 'Download CSV');
  const body = h('div', { class: 'report-body', 'aria-live': 'polite', 'aria-busy': 'true' });
  const form = h('form', { class: 'inline-controls report-range', 'aria-label': 'Date range' },
    h('label', { class: 'report-range-label' }, 'From ', from),
    h('label', { class: 'report-range-label' }, 'to ', to),
    h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, 'Show'),
    csv);

  async function load() {
    const params = api.query({ from: from.value, to: to.value, tz });
    csv.href = `/api/reports.csv${params}`;
    body.setAttribute('aria-busy', 'true');
    try {
      const r = await api.get(`/api/reports${params}`);
      const t = r.team;
      replace(body,
        h('p', { class: 'muted small' }, `${r.from} to ${r.to}, ${r.time_zone}. Times are calendar time from the customer's message.`),
        h('div', { class: 'report-tiles' },
          tile('First response', duration(t.first_response.median_seconds), `median of ${t.first_response.count} · 90th ${duration(t.first_response.p90_seconds)}`),
          tile('Resolution', duration(t.resolution.median_seconds), `median of ${t.resolution.count} · 90th ${duration(t.resolution.p90_seconds)}`),
          tile('Replies sent', String(t.replies)),
          tile('Cases handled', String(t.cases_handled))),
        h('section', { class: 'card', 'aria-labelledby': 'report-weeks' },
          h('h2', { class: 'card-title', id: 'report-weeks' }, 'By week'),
          h('div', { class: 'report-charts' },
            weekBars('Replies sent', r.weeks, (w) => w.replies, String),
            weekBars('Median first response', r.weeks, (w) => w.first_response.median_seconds, duration))),
        h('section', { class: 'card', 'aria-labelledby': 'report-team' },
          h('h2', { class: 'card-title', id: 'report-team' }, 'By teammate'),
          teammatesTable(r.teammates)),
        h('section', { class: 'card', 'aria-labelledby': 'report-hours' },
          h('h2', { class: 'card-title', id: 'report-hours' }, 'Busiest hours'),
          heatmap(r.busiest_hours)));
    } catch (err) {
      replace(body, h('p', { class: 'form-error', role: 'alert' }, err.message));
      if (err.field === 'from' || err.field === 'to') (err.field === 'from' ? from : to).setAttribute('aria-invalid', 'true');
      toast(err.message, 'error');
    } finally {
      body.setAttribute('aria-busy', 'false');
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    from.removeAttribute('aria-invalid');
    to.removeAttribute('aria-invalid');
    load();
  });
  load();

  const el = h('div', { class: 'settings reports' },
    h('header', { class: 'settings-head' }, h('h1', null, 'Reports'), form),
    body);
  return { el, destroy() {} };
}
