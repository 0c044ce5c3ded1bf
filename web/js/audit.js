// The audit trail: a project's Audit tab, the administrators' server-wide
// trail, and the list both share (also on a key's own page): newest first,
// filtered by action, key and period, a page at a time with "Load more".
// Every value from the server is inserted as text.

import { h, icon, clear, timeEl } from './dom.js';
import { gql } from './api.js';
import { AUDIT, PROJECT_AUDIT, AUDIT_ACTIONS, PROJECT_KEY_CHOICES } from './queries.js';
import { errorBox, retryButton, uid, ROLE_LABELS } from './ui.js';
import { projectNotFound, projectPageHead, keyPageHref } from './projects.js';

/** Events per page. */
const PAGE_SIZE = 25;
/** How many of a project's keys the key filter lists. */
const KEY_CHOICES = 100;
const HOUR = 3600 * 1000;
/** The period filter's choices: how far back from now (null: any time). */
const PERIODS = [
  { value: '', label: 'Any time', back: null },
  { value: '1h', label: 'Last hour', back: HOUR },
  { value: '24h', label: 'Last 24 hours', back: 24 * HOUR },
  { value: '7d', label: 'Last 7 days', back: 7 * 24 * HOUR },
  { value: '30d', label: 'Last 30 days', back: 30 * 24 * HOUR },
  { value: 'custom', label: 'Between…', back: null },
];
const OUTCOME_TITLES = {
  SUCCEEDED: 'It happened',
  FORBIDDEN: 'Refused: the caller’s role does not allow it',
  NOT_FOUND: 'Refused: what it named does not exist or is not visible',
  CONFLICT: 'Refused: it contradicts the current state',
};

/** The actions an event may record (from the schema), loaded once. */
let actionsPromise = null;
function auditActions() {
  if (!actionsPromise) {
    actionsPromise = gql(AUDIT_ACTIONS).then(
      (data) => data.__type?.enumValues ?? [],
      (error) => {
        actionsPromise = null;
        throw error;
      },
    );
  }
  return actionsPromise;
}

/** KEY_CREATED → "Key created". */
export function actionLabel(action) {
  const text = action.toLowerCase().replaceAll('_', ' ');
  return text[0].toUpperCase() + text.slice(1);
}

/** A project's Audit tab. */
export function projectAuditView(root, app, projectId) {
  const body = h('div', { class: 'view-body' });
  root.append(body);
  let built = false;
  const trail = auditTrail({
    app,
    projectId,
    title: 'Events',
    onLoaded: (data) => {
      if (!root.isConnected) return false; // navigated away meanwhile
      if (!data.project) {
        projectNotFound(body, app);
        return false;
      }
      app.setTitle(`Audit · ${data.project.name}`);
      app.setCurrentProject(data.project);
      if (!built) {
        built = true;
        clear(body).append(
          ...projectPageHead(app, data.project, {
            title: 'Audit',
            tab: 'audit',
            lead: [
              'Project ',
              h('strong', {}, data.project.name),
              '. Every change to the project, its keys, members and webhooks, made or refused, and keys expiring: newest first.',
            ],
          }).filter(Boolean),
          trail.element,
        );
      }
      return true;
    },
    onFailed: (error, retry) => {
      if (!built) clear(body).append(errorBox(error.message, retryButton(retry)));
      return built;
    },
  });
}

/** The administrators' whole trail (`#/audit`). */
export function serverAuditView(root, app) {
  const trail = auditTrail({ app, projectId: null, title: 'Events' });
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('h1', { tabindex: '-1' }, 'Audit trail'),
        h('p', { class: 'lead' }, 'Every project’s events and the server-wide ones (access control, users, single sign-on), made or refused: newest first.'),
      ),
    ),
    trail.element,
  );
}

/**
 * The list of events with its filters. `projectId`: a project's trail
 * (null: the whole trail, administrators only); `keyId`: only that key's
 * events, fixed (a key's page). `onLoaded(data)` sees each answer first and
 * returns false to stop there (project gone); `onFailed(error, retry)`
 * returns false when it showed the error itself. Returns `{ element }`.
 */
export function auditTrail({ app, projectId, keyId = null, title, onLoaded = () => true, onFailed = () => true }) {
  const state = {
    action: '',
    keyId: keyId || '',
    period: '',
    since: '',
    until: '',
    events: [],
    cursor: null,
    hasNext: false,
    total: 0,
    seq: 0,
  };
  /** Keys the key filter offers: id → label (a project's first keys, and keys picked from events). */
  const keyChoices = new Map();

  const ids = { action: uid('audit-action'), key: uid('audit-key'), period: uid('audit-period'), since: uid('audit-since'), until: uid('audit-until') };
  const actionSelect = h('select', { id: ids.action, class: 'input input-sm', 'data-testid': 'audit-action' }, h('option', { value: '' }, 'All actions'));
  const keySelect = h('select', { id: ids.key, class: 'input input-sm', 'data-testid': 'audit-key' });
  const periodSelect = h(
    'select',
    { id: ids.period, class: 'input input-sm', 'data-testid': 'audit-period' },
    PERIODS.map((period) => h('option', { value: period.value }, period.label)),
  );
  const sinceInput = h('input', { id: ids.since, type: 'datetime-local', class: 'input input-sm', 'data-testid': 'audit-since' });
  const untilInput = h('input', { id: ids.until, type: 'datetime-local', class: 'input input-sm', 'data-testid': 'audit-until' });
  const applyButton = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'audit-apply' }, 'Apply');
  const custom = h(
    'div',
    { class: 'audit-custom', hidden: true },
    h('div', { class: 'inline-field' }, h('label', { for: ids.since }, 'From'), sinceInput),
    h('div', { class: 'inline-field' }, h('label', { for: ids.until }, 'Until'), untilInput),
    applyButton,
  );
  const countEl = h('span', { class: 'count', 'data-testid': 'audit-count' });
  const listSlot = h('div', { class: 'audit-list', 'aria-live': 'polite' });
  const moreSlot = h('div');

  const filters = h(
    'div',
    { class: 'toolbar audit-filters' },
    h('div', { class: 'inline-field' }, h('label', { for: ids.action }, 'Action'), actionSelect),
    keyId ? null : h('div', { class: 'inline-field' }, h('label', { for: ids.key }, 'Key'), keySelect),
    h('div', { class: 'inline-field' }, h('label', { for: ids.period }, 'Period'), periodSelect),
    custom,
  );
  const titleId = uid('audit-title');
  const element = h(
    'section',
    { class: 'card card-flush', 'aria-labelledby': titleId, 'data-testid': 'audit-trail' },
    h('div', { class: 'card-head card-head-wrap' }, h('h2', { id: titleId, class: 'card-title' }, title, ' ', countEl), filters),
    listSlot,
    moreSlot,
  );

  auditActions().then(
    (actions) => {
      for (const { name, description } of actions) {
        actionSelect.append(h('option', { value: name, title: description || null }, actionLabel(name)));
      }
      actionSelect.value = state.action;
    },
    () => {
      // Without the list, the filter offers "All actions" only.
    },
  );
  renderKeyChoices();
  if (projectId && !keyId) {
    gql(PROJECT_KEY_CHOICES, { id: projectId, first: KEY_CHOICES }).then(
      (data) => {
        for (const { node } of data.project?.apiKeys.edges ?? []) keyChoices.set(node.id, `${node.name} (${node.accessKey})`);
        renderKeyChoices();
      },
      () => {
        // Keys picked from the events stay offered.
      },
    );
  }

  actionSelect.addEventListener('change', () => {
    state.action = actionSelect.value;
    reload();
  });
  keySelect.addEventListener('change', () => {
    state.keyId = keySelect.value;
    reload();
  });
  periodSelect.addEventListener('change', () => {
    state.period = periodSelect.value;
    custom.hidden = state.period !== 'custom';
    if (state.period !== 'custom') reload();
    else sinceInput.focus();
  });
  applyButton.addEventListener('click', () => {
    state.since = sinceInput.value;
    state.until = untilInput.value;
    reload();
  });

  function renderKeyChoices() {
    clear(keySelect).append(
      h('option', { value: '' }, 'All keys'),
      [...keyChoices].map(([id, label]) => h('option', { value: id }, label)),
    );
    keySelect.value = state.keyId;
  }

  /** Shows only key `id`'s events (picked from an event: `label` names it). */
  function filterByKey(id, label) {
    if (keyId) return;
    if (!keyChoices.has(id)) keyChoices.set(id, label);
    state.keyId = id;
    renderKeyChoices();
    reload();
    keySelect.focus();
  }

  /** The `since` and `until` of the period chosen, as ISO instants. */
  function period() {
    if (state.period === 'custom') {
      const since = state.since ? new Date(state.since) : null;
      const until = state.until ? new Date(state.until) : null;
      return {
        since: since && !Number.isNaN(since.getTime()) ? since.toISOString() : null,
        until: until && !Number.isNaN(until.getTime()) ? until.toISOString() : null,
      };
    }
    const back = PERIODS.find((p) => p.value === state.period)?.back;
    return { since: back ? new Date(Date.now() - back).toISOString() : null, until: null };
  }

  function reload() {
    state.events = [];
    state.cursor = null;
    load(false);
  }

  async function load(more) {
    state.seq += 1;
    const seq = state.seq;
    element.setAttribute('aria-busy', 'true');
    const { since, until } = period();
    const variables = {
      first: PAGE_SIZE,
      after: more ? state.cursor : null,
      action: state.action || null,
      keyId: state.keyId || null,
      since,
      until,
    };
    try {
      const data = projectId ? await gql(PROJECT_AUDIT, { id: projectId, ...variables }) : await gql(AUDIT, variables);
      if (seq !== state.seq) return; // a newer request superseded this one
      app.refreshViewer(data.viewer);
      if (onLoaded(data) === false) return;
      if (!element.isConnected) return; // navigated away meanwhile
      const connection = projectId ? data.project.auditEvents : data.auditEvents;
      const events = connection.edges.map(({ node }) => node);
      state.events = more ? [...state.events, ...events] : events;
      state.cursor = connection.pageInfo.endCursor;
      state.hasNext = connection.pageInfo.hasNextPage;
      state.total = connection.totalCount;
      render(more ? events : null);
    } catch (error) {
      if (error.handled || seq !== state.seq) return;
      if (onFailed(error, () => load(more)) === false) return;
      clear(moreSlot);
      const box = errorBox(error.message, retryButton(() => load(more)));
      if (more) moreSlot.append(box);
      else clear(listSlot).append(box);
    } finally {
      if (seq === state.seq) element.removeAttribute('aria-busy');
    }
  }

  /** Shows the events: all of them, or only `added` below those shown. */
  function render(added) {
    countEl.textContent = String(state.total);
    let tbody = listSlot.querySelector('tbody');
    if (!added || !tbody) {
      clear(listSlot);
      tbody = null;
      if (state.events.length === 0) {
        const filtered = state.action || (state.keyId && !keyId) || state.period;
        listSlot.append(
          h(
            'div',
            { class: 'empty', 'data-testid': 'audit-empty' },
            icon('list', { size: 32 }),
            h('p', {}, filtered ? 'No events match these filters.' : 'No events yet.'),
          ),
        );
      } else {
        tbody = h('tbody', { role: 'rowgroup' });
        listSlot.append(
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'table table-audit', role: 'table', 'aria-label': 'Audit events', 'data-testid': 'audit-table' },
              h(
                'thead',
                { role: 'rowgroup' },
                h(
                  'tr',
                  { role: 'row' },
                  ['When', 'Action', 'Outcome', 'Who', 'On what', 'Request'].map((label) => h('th', { scope: 'col', role: 'columnheader' }, label)),
                ),
              ),
              tbody,
            ),
          ),
        );
        added = state.events;
      }
    }
    if (tbody) tbody.append(...added.map(eventRow));
    clear(moreSlot);
    if (state.events.length > 0) {
      const more = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'audit-more' }, icon('chevronDown'), h('span', {}, 'Load more'));
      more.addEventListener('click', () => load(true));
      moreSlot.append(
        h(
          'nav',
          { class: 'pager', 'aria-label': 'Audit events pages' },
          h('span', { class: 'pager-summary', 'data-testid': 'audit-summary' }, `Showing ${state.events.length} of ${state.total}`),
          state.hasNext ? h('div', { class: 'pager-buttons' }, more) : null,
        ),
      );
    }
  }

  function eventRow(event) {
    return h(
      'tr',
      { role: 'row', 'data-testid': 'audit-row', 'data-event-id': event.id, 'data-action': event.action, 'data-outcome': event.outcome },
      h('td', { role: 'cell', 'data-label': 'When', class: 'cell-when' }, timeEl(event.at, { style: 'seconds' })),
      h(
        'td',
        { role: 'cell', 'data-label': 'Action', class: 'cell-name' },
        h('span', { class: 'row-title', 'data-testid': 'audit-action-text', title: event.action }, actionLabel(event.action)),
        !projectId && event.projectId ? h('div', { class: 'row-sub' }, projectLink(event)) : null,
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Outcome' },
        outcomeBadge(event.outcome),
        event.reason ? h('div', { class: 'row-sub', 'data-testid': 'audit-reason' }, event.reason) : null,
      ),
      h('td', { role: 'cell', 'data-label': 'Who', 'data-testid': 'audit-actor', 'data-kind': event.actorKind }, actor(event)),
      h('td', { role: 'cell', 'data-label': 'On what', 'data-testid': 'audit-target' }, target(event)),
      h(
        'td',
        { role: 'cell', 'data-label': 'Request', class: 'cell-request' },
        event.requestId ? h('code', { class: 'request-id', 'data-testid': 'audit-request-id' }, event.requestId) : h('span', { class: 'muted' }, '—'),
      ),
    );
  }

  /** The project of an event of the whole trail: a link while it exists. */
  function projectLink(event) {
    if (!event.project) return h('span', { class: 'muted' }, 'a deleted project');
    return ['in ', h('a', { href: `#/projects/${encodeURIComponent(event.project.id)}/audit` }, event.project.name)];
  }

  /**
   * A key named by an event: its access key (or "a key"), a link to its
   * page in a project's trail, and a button showing only its events.
   */
  function keyRef(id, accessKey, eventProjectId) {
    const label = accessKey || 'a key';
    const pageHref = id && eventProjectId ? keyPageHref(eventProjectId, id) : null;
    const name = h('code', { class: 'access-key' }, label);
    return h(
      'span',
      { class: 'key-ref' },
      pageHref && id !== keyId ? h('a', { href: pageHref, 'data-testid': 'audit-key-link', title: 'Open the key’s page' }, name) : name,
      id && !keyId
        ? h(
            'button',
            {
              type: 'button',
              class: 'btn-icon btn-filter',
              'data-testid': 'audit-filter-key',
              'aria-label': `Only events of key ${label}`,
              title: 'Only this key’s events',
              onClick: () => filterByKey(id, accessKey || id),
            },
            icon('filter', { size: 14 }),
          )
        : null,
    );
  }

  function actor(event) {
    const where = event.clientAddress ? h('div', { class: 'row-sub mono', title: 'Client address' }, event.clientAddress) : null;
    switch (event.actorKind) {
      case 'API_KEY':
        return [
          h('span', { class: 'actor' }, icon('key'), keyRef(event.actorKeyId, event.actorAccessKey, event.projectId)),
          event.actorRole ? h('div', { class: 'row-sub' }, `${ROLE_LABELS[event.actorRole] || event.actorRole} key`) : null,
          where,
        ];
      case 'ADMIN':
      case 'USER':
        return [
          h(
            'span',
            { class: 'actor' },
            icon(event.actorKind === 'ADMIN' ? 'shield' : 'user'),
            h('span', { class: 'actor-name' }, event.actorUsername || 'a person'),
          ),
          h('div', { class: 'row-sub' }, event.actorKind === 'ADMIN' ? 'Administrator' : 'User'),
          where,
        ];
      case 'SYSTEM':
        return [h('span', { class: 'actor' }, icon('clock'), h('span', { class: 'actor-name' }, 'keyward')), h('div', { class: 'row-sub' }, 'Itself, or the command line')];
      default:
        return [h('span', { class: 'actor' }, icon('warning'), h('span', { class: 'actor-name' }, 'Anonymous')), h('div', { class: 'row-sub' }, 'Access control was off'), where];
    }
  }

  function target(event) {
    const parts = [];
    if (event.targetKeyId || event.targetAccessKey) {
      parts.push(h('div', { class: 'target' }, h('span', { class: 'muted' }, 'Key '), keyRef(event.targetKeyId, event.targetAccessKey, event.projectId)));
    }
    if (event.newKeyId) {
      parts.push(h('div', { class: 'target' }, h('span', { class: 'muted' }, 'New key '), keyRef(event.newKeyId, null, event.projectId)));
    }
    if (event.targetUsername || event.targetUserId) {
      parts.push(h('div', { class: 'target' }, h('span', { class: 'muted' }, 'User '), h('span', {}, event.targetUsername || 'a user')));
    }
    if (event.targetProvider) {
      parts.push(h('div', { class: 'target' }, h('span', { class: 'muted' }, 'Identity provider '), h('span', {}, event.targetProvider)));
    }
    if (event.targetGroup) {
      parts.push(h('div', { class: 'target' }, h('span', { class: 'muted' }, 'Group '), h('span', {}, event.targetGroup)));
    }
    if (parts.length === 0) {
      if (event.projectId) parts.push(h('span', {}, 'The project'));
      else parts.push(h('span', { class: 'muted' }, 'The server'));
    }
    return parts;
  }

  load(false);
  return { element, reload };
}

/** SUCCEEDED, or the refusal, as a badge. */
function outcomeBadge(outcome) {
  const ok = outcome === 'SUCCEEDED';
  return h(
    'span',
    {
      class: `badge ${ok ? 'badge-active' : 'badge-expired'}`,
      'data-testid': 'audit-outcome',
      'data-outcome': outcome,
      title: OUTCOME_TITLES[outcome] || outcome,
    },
    h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
    ok ? 'Succeeded' : `Refused: ${actionLabel(outcome).toLowerCase()}`,
  );
}
