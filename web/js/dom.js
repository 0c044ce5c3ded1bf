// Small DOM helpers: element construction without innerHTML (so text from
// the server is never parsed as HTML), icons, and date formatting.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on<Event>` (function),
 * boolean values (set/omitted), `dataset`-style `data-*` strings, anything
 * else as an attribute. Children: nodes, strings, arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value') el.value = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Hand-drawn 24x24 stroke icons.
const ICONS = {
  plus: ['M12 5v14', 'M5 12h14'],
  copy: ['M9 9h10v11H9z', 'M5 15H4V4h11v1'],
  more: [], // drawn as dots below
  warning: ['M12 3 2 20h20L12 3z', 'M12 10v4', 'M12 17v.5'],
  check: ['M5 12.5 10 17 19 7'],
  x: ['M6 6l12 12', 'M18 6 6 18'],
  key: ['M14.5 9.5a4.5 4.5 0 1 1-9 0 4.5 4.5 0 0 1 9 0z', 'M13.2 12.7 20 19.5', 'M17 16.5l2-2', 'M15 14.5l1.5-1.5'],
  logout: ['M9 4H5v16h4', 'M16 8l4 4-4 4', 'M20 12H10'],
  api: ['M8 5C5.5 5 6 8.5 6 10s-1 2-2 2c1 0 2 .5 2 2s-.5 5 2 5', 'M16 5c2.5 0 2 3.5 2 5s1 2 2 2c-1 0-2 .5-2 2s.5 5-2 5'],
  chevronLeft: ['M15 6l-6 6 6 6'],
  chevronRight: ['M9 6l6 6-6 6'],
  chevronDown: ['M6 9l6 6 6-6'],
  folder: ['M3 6h6l2 2h10v11H3z'],
  shield: ['M12 3 4 6v6c0 4.5 3.4 8 8 9 4.6-1 8-4.5 8-9V6l-8-3z'],
  refresh: ['M20 11a8 8 0 1 0-2.3 5.7', 'M20 4v7h-7'],
  pencil: ['M4 20h4L19 9l-4-4L4 16z'],
  trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13'],
  power: ['M12 3v9', 'M6.3 7a8 8 0 1 0 11.4 0'],
  user: ['M16 8a4 4 0 1 1-8 0 4 4 0 0 1 8 0z', 'M4 21c0-4 3.6-7 8-7s8 3 8 7'],
  users: ['M13 8a3.5 3.5 0 1 1-7 0 3.5 3.5 0 0 1 7 0z', 'M2.5 20c0-3.6 3-6 7-6s7 2.4 7 6', 'M15.5 4.8a3.5 3.5 0 0 1 0 6.4', 'M18 14.4c2.1.8 3.5 2.8 3.5 5.6'],
  lock: ['M6 11h12v10H6z', 'M8.5 11V7.5a3.5 3.5 0 0 1 7 0V11'],
  list: ['M9 6h11', 'M9 12h11', 'M9 18h11', 'M4 6h.5', 'M4 12h.5', 'M4 18h.5'],
  send: ['M21 3 10 14', 'M21 3l-7 18-4-7-7-4 18-7z'],
  filter: ['M3 5h18l-7 8v6l-4 2v-8z'],
  chart: ['M4 4v16h16', 'M8 16v-5', 'M12 16V7', 'M16 16v-3'],
  clock: ['M21 12a9 9 0 1 1-18 0 9 9 0 0 1 18 0z', 'M12 7v5l3 2'],
};

export function icon(name, { size = 16, label } = {}) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('class', 'icon');
  if (label) {
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', label);
  } else {
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
  }
  if (name === 'more') {
    for (const cy of [5, 12, 19]) {
      const c = document.createElementNS(SVG_NS, 'circle');
      c.setAttribute('cx', '12');
      c.setAttribute('cy', String(cy));
      c.setAttribute('r', '1.6');
      c.setAttribute('fill', 'currentColor');
      c.setAttribute('stroke', 'none');
      svg.append(c);
    }
  }
  for (const d of ICONS[name] || []) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

// ---- dates ---------------------------------------------------------------

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const withSeconds = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });
const relativeFmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function formatAbsolute(iso) {
  return absolute.format(new Date(iso));
}

export function formatRelative(iso, now = Date.now()) {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return seconds <= 0 ? 'just now' : 'in a few seconds';
  const units = [
    ['year', 31536000],
    ['month', 2592000],
    ['week', 604800],
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (abs >= size * 0.9 || unit === 'minute') {
      return relativeFmt.format(Math.round(seconds / size), unit);
    }
  }
  return absolute.format(new Date(iso));
}

/**
 * A <time> element (full date and time in its tooltip). `style`: 'absolute'
 * (date and time), 'seconds' (date and time to the second), 'date' (date
 * only), 'relative' ("5 minutes ago"), or
 * 'near' (relative within two days of now, else the date). null → fallback.
 */
export function timeEl(iso, { style = 'absolute', fallback = '—' } = {}) {
  if (!iso) return h('span', { class: 'muted' }, fallback);
  let text;
  if (style === 'relative') text = formatRelative(iso);
  else if (style === 'date') text = dateOnly.format(new Date(iso));
  else if (style === 'seconds') text = withSeconds.format(new Date(iso));
  else if (style === 'near') {
    const near = Math.abs(new Date(iso).getTime() - Date.now()) < 2 * 86400 * 1000;
    text = near ? formatRelative(iso) : dateOnly.format(new Date(iso));
  } else text = formatAbsolute(iso);
  return h('time', { datetime: iso, title: full.format(new Date(iso)) }, text);
}
