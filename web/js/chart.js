// A small chart of our own, in plain SVG: bars over time, each stacked from
// several series (bottom to top), with a legend, a y axis of counts and an
// x axis of times. Nothing is loaded from anywhere; every text is set as
// text (`textContent`), never parsed.
//
// The SVG is drawn at its container's width in pixels (its viewBox is
// that width, and it is drawn again when the width changes), so labels keep
// their size on a phone instead of shrinking with the picture.

import { h } from './dom.js';
import { uid } from './ui.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Height of the drawing, in pixels. */
const HEIGHT = 220;
/** A segment that is not zero is at least this tall, so one refusal among thousands shows. */
const MIN_SEGMENT = 2;
/** Room each x label needs, in pixels. */
const X_LABEL_ROOM = 60;

/** An SVG element; `text` attribute as its text. */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') el.textContent = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) el.append(child);
  return el;
}

/** Tick values for a count axis from 0 to at least `max`: whole numbers, 1, 2 or 5 × 10^n apart. */
export function countTicks(max, wanted = 4) {
  const top = Math.max(1, max);
  const rough = top / wanted;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((candidate) => candidate >= rough));
  const ticks = [];
  for (let value = 0; value < top + step; value += step) {
    ticks.push(value);
    if (value >= top) break;
  }
  return ticks;
}

/** 12345 → "12k", for the axis only (titles carry exact counts). */
function shortCount(value) {
  if (value < 10000) return String(value);
  if (value < 1e6) return `${Math.round(value / 1000)}k`;
  return `${Math.round(value / 1e5) / 10}M`;
}

/**
 * A stacked bar chart over time. Options:
 * - `title`, `description`: the picture's accessible name and description;
 * - `series`: `[{ key, label }]`, bottom to top; each is drawn with the CSS
 *   class `series-<key>` (its colour is the `--series` variable there);
 * - `points`: `[{ start, values: { <key>: count } }]`, oldest first, one per
 *   bucket of `step` milliseconds, none missing (zeros are points too);
 * - `pointTitle(point)`: the tooltip (and accessible text) of a bar;
 * - `xTicks(from, to, max)`: at most `max` labels `[{ at, label }]` for
 *   instants between `from` and `to` (milliseconds);
 * - `testid`: of the `<svg>`; each bar with counts is a `<g
 *   data-testid="chart-bar">` carrying `data-start` (ISO) and `data-<key>`.
 * Returns the chart's element (legend and picture).
 */
export function stackedBarChart({ title, description, series, points, pointTitle, xTicks, testid = 'chart' }) {
  const totals = Object.fromEntries(series.map(({ key }) => [key, 0]));
  for (const point of points) for (const { key } of series) totals[key] += point.values[key] || 0;

  const legend = h(
    'ul',
    { class: 'chart-legend', 'data-testid': `${testid}-legend` },
    series.map(({ key, label }) =>
      h(
        'li',
        { class: `series-${key}`, 'data-testid': `${testid}-legend-item`, 'data-series': key },
        h('span', { class: 'chart-swatch', 'aria-hidden': 'true' }),
        h('span', { class: 'chart-legend-label' }, label),
        h('span', { class: 'chart-legend-total', 'data-testid': `${testid}-total` }, totals[key].toLocaleString()),
      ),
    ),
  );
  const picture = h('div', { class: 'chart-picture' });
  const element = h('div', { class: 'chart' }, legend, picture);

  let drawnWidth = 0;
  const draw = () => {
    const width = Math.max(240, Math.round(picture.clientWidth || 720));
    if (width === drawnWidth) return;
    drawnWidth = width;
    picture.replaceChildren(drawing({ width, title, description, series, points, pointTitle, xTicks, testid }));
  };
  draw();
  if (typeof ResizeObserver === 'function') new ResizeObserver(draw).observe(picture);
  return element;
}

function drawing({ width, title, description, series, points, pointTitle, xTicks, testid }) {
  const totalOf = (point) => series.reduce((sum, { key }) => sum + (point.values[key] || 0), 0);
  const ticks = countTicks(Math.max(0, ...points.map(totalOf)));
  const yMax = ticks[ticks.length - 1];
  const labelWidth = Math.max(...ticks.map((tick) => shortCount(tick).length)) * 7 + 12;
  const margin = { top: 12, right: 12, bottom: 26, left: labelWidth };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = HEIGHT - margin.top - margin.bottom;
  const bottom = margin.top + plotHeight;
  const count = Math.max(1, points.length);
  const slot = plotWidth / count;
  const gap = slot >= 4 ? Math.min(slot * 0.25, 6) : 0;
  const step = points.length > 1 ? points[1].start - points[0].start : 1;
  const from = points.length ? points[0].start : 0;
  const to = from + count * step;
  const xOf = (instant) => margin.left + ((instant - from) / step) * slot;
  const yOf = (value) => bottom - (value / yMax) * plotHeight;

  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  const svg = s('svg', {
    class: 'chart-svg',
    viewBox: `0 0 ${width} ${HEIGHT}`,
    width: '100%',
    role: 'img',
    'aria-labelledby': `${titleId} ${descId}`,
    'data-testid': testid,
    'data-buckets': points.length,
  });
  svg.append(s('title', { id: titleId, text: title }), s('desc', { id: descId, text: description }));

  // The count axis: grid lines and their labels.
  const grid = s('g', { class: 'chart-grid', 'aria-hidden': 'true' });
  for (const tick of ticks) {
    const y = Math.round(yOf(tick)) + 0.5;
    grid.append(
      s('line', { x1: margin.left, x2: width - margin.right, y1: y, y2: y, class: tick === 0 ? 'chart-baseline' : null }),
      s('text', { x: margin.left - 6, y, dy: '0.32em', 'text-anchor': 'end', text: shortCount(tick) }),
    );
  }
  svg.append(grid);

  // The time axis: a label under each tick, kept inside the picture.
  const axis = s('g', { class: 'chart-axis', 'aria-hidden': 'true' });
  const maxLabels = Math.max(2, Math.floor(plotWidth / X_LABEL_ROOM));
  for (const { at, label } of xTicks(from, to, maxLabels)) {
    const x = xOf(at);
    if (x < margin.left - 0.5 || x > width - margin.right + 0.5) continue;
    const anchor = x - margin.left < 24 ? 'start' : width - margin.right - x < 24 ? 'end' : 'middle';
    axis.append(
      s('line', { x1: Math.round(x) + 0.5, x2: Math.round(x) + 0.5, y1: bottom, y2: bottom + 4 }),
      s('text', { x, y: bottom + 16, 'text-anchor': anchor, text: label }),
    );
  }
  svg.append(axis);

  // The bars: only buckets with counts, each with its tooltip and data.
  const bars = s('g', { class: 'chart-bars' });
  points.forEach((point, index) => {
    if (totalOf(point) === 0) return;
    const x = margin.left + index * slot + gap / 2;
    const barWidth = Math.max(1, slot - gap);
    const attrs = { class: 'chart-bar', 'data-testid': 'chart-bar', 'data-start': new Date(point.start).toISOString() };
    for (const { key } of series) attrs[`data-${key}`] = point.values[key] || 0;
    const bar = s('g', attrs, s('title', { text: pointTitle(point) }));
    // A bar thinner than a finger still shows its tooltip over its whole slot.
    bar.append(s('rect', { class: 'chart-hit', x: margin.left + index * slot, y: margin.top, width: slot, height: plotHeight }));
    let top = bottom;
    for (const { key } of series) {
      const value = point.values[key] || 0;
      if (!value) continue;
      const height = Math.max(MIN_SEGMENT, (value / yMax) * plotHeight);
      top = Math.max(0, top - height);
      bar.append(s('rect', { class: `series-${key}`, x, y: top, width: barWidth, height: Math.min(height, bottom - top), 'data-series': key }));
    }
    bars.append(bar);
  });
  svg.append(bars);
  return svg;
}
