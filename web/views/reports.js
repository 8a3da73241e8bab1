// Reports (managers and up): the team's response and resolution times, replies and cases handled
// by teammate and by week, the hours customers write most, and each teammate's load now, with a
// CSV download. Charts are SVG drawn here; the table beside them holds the same numbers as text.

import * as api from '../api.js';
import { h, replace } from '../dom.js';
import { toast } from './common.js';
import { duration, weekdays, formatDay } from '../format.js';
import { t, formatNumber } from '../i18n.js';

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c);
  return el;
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
    rect.append(svg('title', null, document.createTextNode(t('reports.weekOf', { week: formatDay(w.week), value: v === null ? t('reports.none') : format(v) }))));
    chart.append(rect,
      svg('text', { x: x + bar / 2, y: y - 4, class: 'chart-value', 'text-anchor': 'middle' }, document.createTextNode(v === null ? '' : format(v))),
      svg('text', { x: x + bar / 2, y: height - 6, class: 'chart-label', 'text-anchor': 'middle' }, document.createTextNode(formatDay(w.week, { month: 'numeric', day: 'numeric' }))));
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
  const days = weekdays();
  const chart = svg('svg', { viewBox: `0 0 ${left + 24 * cell} ${top + 7 * cell}`, class: 'report-heatmap', role: 'img',
    'aria-label': t('reports.heatmapLabel', { count: total }) });
  for (let hr = 0; hr < 24; hr += 3) {
    chart.append(svg('text', { x: left + hr * cell + cell / 2, y: 11, class: 'chart-label', 'text-anchor': 'middle' }, document.createTextNode(String(hr))));
  }
  hours.forEach((row, d) => {
    chart.append(svg('text', { x: 0, y: top + d * cell + 14, class: 'chart-label' }, document.createTextNode(days[d])));
    row.forEach((n, hr) => {
      const rect = svg('rect', { x: left + hr * cell + 1, y: top + d * cell + 1, width: cell - 2, height: cell - 2, rx: 3,
        class: n ? 'heat-cell' : 'heat-cell heat-empty', 'fill-opacity': n ? (0.15 + (0.85 * n) / max).toFixed(2) : 1 });
      rect.append(svg('title', null, document.createTextNode(t('reports.heatCell', { day: days[d], from: hr, to: hr + 1, count: n }))));
      chart.append(rect);
    });
  });
  return h('figure', { class: 'report-figure' }, h('figcaption', { class: 'sub-title' }, t('reports.whenCustomersWrite')), chart);
}

function teammatesTable(rows) {
  const head = [t('reports.colTeammate'), t('reports.colOpenNow'), t('reports.colReplies'), t('reports.colCasesHandled'),
    t('reports.colFirstMedian'), t('reports.colFirst90'), t('reports.colResolutionMedian'), t('reports.colResolution90')];
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'audit-table report-table' },
      h('caption', { class: 'sr-only' }, t('reports.byTeammateCaption')),
      h('thead', null, h('tr', null, head.map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', null, rows.map((p) => h('tr', null,
        h('th', { scope: 'row' }, p.name, p.active ? null : h('span', { class: 'muted small' }, ` ${t('reports.removed')}`)),
        h('td', { class: p.max_open !== null && p.open_now >= p.max_open ? 'at-limit' : null },
          p.max_open === null ? formatNumber(p.open_now) : t('reports.openOfMost', { open: p.open_now, most: p.max_open })),
        h('td', null, formatNumber(p.replies)),
        h('td', null, formatNumber(p.cases_handled)),
        h('td', null, duration(p.first_response.median_seconds)),
        h('td', null, duration(p.first_response.p90_seconds)),
        h('td', null, duration(p.resolution.median_seconds)),
        h('td', null, duration(p.resolution.p90_seconds)))))));
}

export function createReports() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const today = new Date();
  const from = h('input', { type: 'date', class: 'input', name: 'from', value: localDay(new Date(today.getTime() - 27 * 86400000)) });
  const to = h('input', { type: 'date', class: 'input', name: 'to', value: localDay(today) });
  const csv = h('a', { class: 'btn btn-small', download: '' }, t('reports.csv'));
  const body = h('div', { class: 'report-body', 'aria-live': 'polite', 'aria-busy': 'true' });
  const form = h('form', { class: 'inline-controls report-range', 'aria-label': t('reports.range') },
    h('label', { class: 'report-range-label' }, t('reports.from'), ' ', from),
    h('label', { class: 'report-range-label' }, t('reports.to'), ' ', to),
    h('button', { type: 'submit', class: 'btn btn-small btn-primary' }, t('reports.show')),
    csv);

  async function load() {
    const params = api.query({ from: from.value, to: to.value, tz });
    csv.href = `/api/reports.csv${params}`;
    body.setAttribute('aria-busy', 'true');
    try {
      const r = await api.get(`/api/reports${params}`);
      const team = r.team;
      const spread = (m) => t('reports.spread', { count: m.count, p90: duration(m.p90_seconds) });
      replace(body,
        h('p', { class: 'muted small' }, t('reports.period', { from: formatDay(r.from), to: formatDay(r.to), zone: r.time_zone })),
        h('div', { class: 'report-tiles' },
          tile(t('reports.firstResponse'), duration(team.first_response.median_seconds), spread(team.first_response)),
          tile(t('reports.resolution'), duration(team.resolution.median_seconds), spread(team.resolution)),
          tile(t('reports.repliesSent'), formatNumber(team.replies)),
          tile(t('reports.casesHandled'), formatNumber(team.cases_handled))),
        h('section', { class: 'card', 'aria-labelledby': 'report-weeks' },
          h('h2', { class: 'card-title', id: 'report-weeks' }, t('reports.byWeek')),
          h('div', { class: 'report-charts' },
            weekBars(t('reports.repliesSent'), r.weeks, (w) => w.replies, formatNumber),
            weekBars(t('reports.medianFirstResponse'), r.weeks, (w) => w.first_response.median_seconds, duration))),
        h('section', { class: 'card', 'aria-labelledby': 'report-team' },
          h('h2', { class: 'card-title', id: 'report-team' }, t('reports.byTeammate')),
          teammatesTable(r.teammates)),
        h('section', { class: 'card', 'aria-labelledby': 'report-hours' },
          h('h2', { class: 'card-title', id: 'report-hours' }, t('reports.busiestHours')),
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
    h('header', { class: 'settings-head' }, h('h1', null, t('nav.reports')), form),
    body);
  return { el, destroy() {} };
}
