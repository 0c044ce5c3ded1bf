// Usage over time: how often a project's keys (or one key) authenticated,
// by outcome, over the last 24 hours, 7 days or 30 days, as a chart
// (`chart.js`); and a key's recent clients. Every value from the server is
// inserted as text.

import { h, icon, clear, append, timeEl } from './dom.js';
import { gql } from './api.js';
import { USAGE } from './queries.js';
import { errorBox, retryButton, uid } from './ui.js';
import { stackedBarChart } from './chart.js';

/** The outcomes an authentication is counted under, bottom to top in a bar. */
export const OUTCOMES = [
  { key: 'accepted', label: 'Accepted' },
  { key: 'refused', label: 'Refused' },
  { key: 'forbidden', label: 'Forbidden' },
  { key: 'throttled', label: 'Throttled' },
];

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

/**
 * The periods offered, each ending with the bucket of now: its buckets'
 * width (`UsageGranularity`) and how many there are. Hours and days are
 * UTC ones, as the server counts them.
 */
export const PERIODS = [
  { value: '24h', label: 'Last 24 hours', granularity: 'HOUR', step: HOUR, count: 24, per: 'hour' },
  { value: '7d', label: 'Last 7 days', granularity: 'HOUR', step: HOUR, count: 7 * 24, per: 'hour' },
  { value: '30d', label: 'Last 30 days', granularity: 'DAY', step: DAY, count: 30, per: 'day (UTC)' },
];

const hourFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const utcDayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const utcLongDayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
const hourLongFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/**
 * Every bucket of `period` up to now, oldest first, with the server's counts
 * (`rows`, buckets without traffic left out) and zeros where it has none.
 * The last bucket is that of now, or the server's latest if its clock is
 * ahead of this one.
 */
export function fillBuckets(period, rows, now = Date.now()) {
  const byStart = new Map(rows.map((row) => [Date.parse(row.start), row]));
  const latest = Math.max(Math.floor(now / period.step) * period.step, ...byStart.keys());
  const first = latest - (period.count - 1) * period.step;
  return Array.from({ length: period.count }, (_, index) => {
    const start = first + index * period.step;
    const row = byStart.get(start);
    return { start, values: Object.fromEntries(OUTCOMES.map(({ key }) => [key, row ? Number(row[key]) || 0 : 0])) };
  });
}

/** The first bucket's start to ask for: `count` buckets ending with now's. */
function sinceOf(period, now = Date.now()) {
  return new Date(Math.floor(now / period.step) * period.step - (period.count - 1) * period.step).toISOString();
}

/** Labels of the time axis: at most `max`, on round local hours or days (UTC days for day buckets). */
function ticksOf(period) {
  return (from, to, max) => {
    if (period.granularity === 'DAY') {
      const every = [1, 2, 5, 7, 14, 30].find((days) => (to - from) / (days * DAY) <= max) || 30;
      const ticks = [];
      for (let at = from, index = 0; at < to; at += DAY, index += 1) {
        if (index % every === 0) ticks.push({ at, label: utcDayFmt.format(at) });
      }
      return ticks;
    }
    const every = [1, 2, 3, 6, 12, 24, 48, 72, 168].find((hours) => (to - from) / (hours * HOUR) <= max) || 168;
    const ticks = [];
    const cursor = new Date(from);
    cursor.setMinutes(0, 0, 0);
    for (let at = cursor.getTime(); at < to; at += HOUR) {
      const local = new Date(at);
      if (at < from) continue;
      if (every < 24) {
        if (local.getHours() % every === 0) ticks.push({ at, label: local.getHours() === 0 ? dayFmt.format(local) : hourFmt.format(local) });
      } else if (local.getHours() === 0) {
        const day = Math.floor((at - from) / DAY);
        if (day % (every / 24) === 0) ticks.push({ at, label: dayFmt.format(local) });
      }
    }
    return ticks;
  };
}

function describeCounts(values) {
  return OUTCOMES.map(({ key }) => `${(values[key] || 0).toLocaleString()} ${key}`).join(', ');
}

function bucketName(period, start) {
  if (period.granularity === 'DAY') return `${utcLongDayFmt.format(start)} (UTC day)`;
  return `${hourLongFmt.format(start)}–${hourFmt.format(start + HOUR)}`;
}

/**
 * The usage card of a project (`what`: 'project') or a key ('key') with id
 * `id`: a period picker, Refresh, and the chart with its legend (each
 * outcome and its total over the period).
 */
export function usageCard({ id, what, name }) {
  const titleId = uid('usage-title');
  const periodId = uid('usage-period');
  let period = PERIODS[0];
  let seq = 0;
  const select = h(
    'select',
    { id: periodId, class: 'input input-sm', 'data-testid': 'usage-period' },
    PERIODS.map((choice) => h('option', { value: choice.value }, choice.label)),
  );
  select.addEventListener('change', () => {
    period = PERIODS.find((choice) => choice.value === select.value) || PERIODS[0];
    load();
  });
  const refresh = h('button', { type: 'button', class: 'btn btn-secondary btn-sm usage-refresh', 'data-testid': 'usage-refresh' }, icon('refresh'), h('span', {}, 'Refresh'));
  refresh.addEventListener('click', () => load());
  const lead = h('p', { class: 'muted small usage-lead' });
  const slot = h('div', { class: 'usage-slot' });
  const card = h(
    'section',
    { class: 'card usage-card', 'aria-labelledby': titleId, 'data-testid': 'usage' },
    h(
      'div',
      { class: 'usage-head' },
      h('h2', { id: titleId, class: 'card-title' }, icon('chart'), ' Usage'),
      h('div', { class: 'toolbar' }, h('div', { class: 'inline-field' }, h('label', { for: periodId }, 'Period'), select), refresh),
    ),
    lead,
    slot,
  );

  async function load() {
    const mine = ++seq;
    const asked = period;
    card.setAttribute('aria-busy', 'true');
    card.dataset.period = asked.value;
    card.dataset.granularity = asked.granularity;
    lead.textContent = `Authentications of ${what === 'key' ? 'this key' : 'the project’s keys'} per ${asked.per}, by outcome. Times are ${asked.granularity === 'DAY' ? 'UTC days' : 'in your time zone'}.`;
    try {
      const data = await gql(USAGE, { id, since: sinceOf(asked), granularity: asked.granularity });
      if (mine !== seq) return;
      const points = fillBuckets(asked, data.node?.usage ?? []);
      const totals = Object.fromEntries(OUTCOMES.map(({ key }) => [key, points.reduce((sum, point) => sum + point.values[key], 0)]));
      const quiet = OUTCOMES.every(({ key }) => totals[key] === 0);
      append(clear(slot), [
        stackedBarChart({
          title: `Usage of ${what} ${name}, ${asked.label.toLowerCase()}`,
          description: `Authentications per ${asked.per} from ${bucketName(asked, points[0].start)} to now: ${describeCounts(totals)}.`,
          series: OUTCOMES,
          points,
          pointTitle: (point) => `${bucketName(asked, point.start)}: ${describeCounts(point.values)}`,
          xTicks: ticksOf(asked),
          testid: 'usage-chart',
        }),
        quiet ? h('p', { class: 'muted small usage-empty', 'data-testid': 'usage-empty' }, `No authentications ${asked.label.toLowerCase().replace('last', 'in the last')}.`) : null,
      ]);
    } catch (error) {
      if (error.handled || mine !== seq) return;
      clear(slot).append(errorBox(error.message, retryButton(() => load())));
    } finally {
      if (mine === seq) card.removeAttribute('aria-busy');
    }
  }

  load();
  return card;
}

/**
 * A key's recent clients (`ApiKey.recentClients`): address, user agent
 * (whatever the client sent: text, never markup) and when last seen.
 */
export function recentClientsCard(clients) {
  const titleId = uid('clients-title');
  const rows = clients.map((client) =>
    h(
      'tr',
      { 'data-testid': 'client-row', 'data-address': client.address },
      h('td', { class: 'cell-name', 'data-label': 'Address' }, h('code', { class: 'access-key', 'data-testid': 'client-address' }, client.address)),
      h(
        'td',
        { class: 'cell-agent', 'data-label': 'User agent' },
        client.userAgent ? h('span', { class: 'user-agent', 'data-testid': 'client-user-agent' }, client.userAgent) : h('span', { class: 'muted', 'data-testid': 'client-user-agent' }, 'None sent'),
      ),
      h('td', { class: 'cell-when', 'data-label': 'Last seen' }, h('span', { 'data-testid': 'client-last-seen' }, timeEl(client.lastSeenAt, { style: 'near' }))),
    ),
  );
  return h(
    'section',
    { class: 'card card-flush', 'aria-labelledby': titleId, 'data-testid': 'key-clients' },
    h(
      'div',
      { class: 'card-head' },
      h('h2', { id: titleId, class: 'card-title' }, 'Recent clients ', h('span', { class: 'count', 'data-testid': 'client-count' }, String(clients.length))),
      h('p', { class: 'muted small' }, 'The last addresses the key was used from, and what each said it was.'),
    ),
    clients.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table table-clients' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Address'), h('th', { scope: 'col' }, 'User agent'), h('th', { scope: 'col' }, 'Last seen'))),
            h('tbody', {}, rows),
          ),
        )
      : h('p', { class: 'empty empty-sm', 'data-testid': 'clients-empty' }, 'Not used yet.'),
  );
}
