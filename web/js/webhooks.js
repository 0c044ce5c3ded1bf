// A project's Webhooks tab (administrators and the project's OWNERs): the
// webhooks (add, with the signing secret shown once; edit; enable; disable;
// delete) and each one's deliveries, with Redeliver.

import { h, icon, clear, timeEl, append } from './dom.js';
import { gql } from './api.js';
import {
  PROJECT_WEBHOOKS,
  WEBHOOK_DELIVERIES,
  CREATE_WEBHOOK,
  UPDATE_WEBHOOK,
  DELETE_WEBHOOK,
  REDELIVER_WEBHOOK_EVENT,
  AUDIT_ACTIONS,
} from './queries.js';
import {
  field,
  formDialog,
  confirmDialog,
  secretDialog,
  menuButton,
  errorBox,
  retryButton,
  announce,
  keepFocus,
  showRowError,
  clearRowErrors,
  uid,
} from './ui.js';
import { projectNotFound, projectPageHead } from './projects.js';
import { actionLabel } from './audit.js';

/** Deliveries per page. */
const DELIVERY_PAGE = 20;
const DELIVERY_STATES = {
  DELIVERED: { label: 'Delivered', badge: 'badge-active', title: 'The receiver accepted it (a 2xx answer)' },
  FAILED: { label: 'Given up', badge: 'badge-expired', title: 'Every attempt failed and the retry window has passed' },
  RETRYING: { label: 'Retrying', badge: 'badge-warning', title: 'The last attempt failed; another is due' },
  PENDING: { label: 'Pending', badge: 'badge-inactive', title: 'Queued; no attempt yet' },
};

/** Where a delivery stands: DELIVERED, FAILED, RETRYING or PENDING. */
function deliveryState(delivery) {
  if (delivery.deliveredAt) return 'DELIVERED';
  if (delivery.failedAt) return 'FAILED';
  return delivery.attempts > 0 ? 'RETRYING' : 'PENDING';
}

export function webhooksView(root, app, projectId) {
  const state = { data: null, selected: null };
  const body = h('div', { class: 'view-body' });
  root.append(body);
  let listSlot = null;
  let countEl = null;
  let deliveriesSlot = null;
  let built = false;
  let access = app.access(projectId);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      state.data = await gql(PROJECT_WEBHOOKS, { id: projectId });
      if (!root.isConnected) return;
      app.refreshViewer(state.data.viewer);
      access = app.access(projectId);
      if (!state.data.project) {
        projectNotFound(body, app);
        return;
      }
      if (!built) {
        build();
        built = true;
      }
      app.setTitle(`Webhooks · ${state.data.project.name}`);
      app.setCurrentProject(state.data.project);
      const webhooks = state.data.project.webhooks;
      if (!webhooks.some((webhook) => webhook.id === state.selected)) state.selected = webhooks[0]?.id ?? null;
      keepFocus(listSlot, renderList);
      deliveries.show(webhooks.find((webhook) => webhook.id === state.selected) ?? null);
    } catch (error) {
      if (error.handled) return;
      if (!built && error.code === 'FORBIDDEN') {
        clear(body).append(forbidden(error));
        return;
      }
      clear(built ? listSlot : body).append(errorBox(error.message, retryButton(load)));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  /** Webhooks are not for this caller: say why, with the tabs to go elsewhere. */
  function forbidden(error) {
    return h(
      'div',
      { class: 'card empty', 'data-testid': 'webhooks-forbidden' },
      h('h1', { tabindex: '-1' }, 'Webhooks'),
      h('p', { class: 'muted' }, `Only an administrator or an owner of the project manages its webhooks (${error.message}).`),
      h('a', { href: `#/projects/${encodeURIComponent(projectId)}`, class: 'btn btn-secondary' }, 'Back to API & Keys'),
    );
  }

  function build() {
    const project = state.data.project;
    const addButton = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'webhook-add' }, icon('plus'), h('span', {}, 'Add Webhook'));
    addButton.addEventListener('click', openAdd);
    countEl = h('span', { class: 'count', 'data-testid': 'webhook-count' });
    listSlot = h('div');
    deliveriesSlot = h('div');
    append(clear(body), [
      ...projectPageHead(app, project, {
        title: 'Webhooks',
        tab: 'webhooks',
        lead: [
          'Project ',
          h('strong', {}, project.name),
          '. Each webhook receives the project’s audit events as signed POST requests (Standard Webhooks); failed deliveries are retried.',
        ],
      }),
      h(
        'section',
        { class: 'card card-flush', 'aria-labelledby': 'webhooks-title' },
        h('div', { class: 'card-head' }, h('h2', { id: 'webhooks-title', class: 'card-title' }, 'Webhooks ', countEl), h('div', { class: 'toolbar' }, addButton)),
        listSlot,
      ),
      deliveriesSlot,
    ]);
    deliveriesSlot.append(deliveries.element);
  }

  // ---- the list -----------------------------------------------------------------

  function renderList() {
    const webhooks = state.data.project.webhooks;
    countEl.textContent = String(webhooks.length);
    clear(listSlot);
    if (webhooks.length === 0) {
      listSlot.append(
        h(
          'div',
          { class: 'empty', 'data-testid': 'webhooks-empty' },
          icon('send', { size: 32 }),
          h('p', {}, 'No webhooks yet.'),
          h('p', { class: 'muted' }, 'Add one to have the project’s audit events sent to a URL of yours.'),
        ),
      );
      return;
    }
    listSlot.append(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-webhooks', role: 'table', 'aria-labelledby': 'webhooks-title', 'data-testid': 'webhooks-table' },
          h(
            'thead',
            { role: 'rowgroup' },
            h(
              'tr',
              { role: 'row' },
              ['State', 'URL', 'Actions', 'Created'].map((label) => h('th', { scope: 'col', role: 'columnheader' }, label)),
              h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Manage')),
            ),
          ),
          h('tbody', { role: 'rowgroup' }, webhooks.map(webhookRow)),
        ),
      ),
    );
  }

  function webhookRow(webhook) {
    const selected = webhook.id === state.selected;
    const show = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-secondary btn-sm',
        'data-testid': 'webhook-deliveries-show',
        'aria-pressed': selected ? 'true' : 'false',
        'aria-label': `Deliveries of the webhook to ${webhook.url}`,
      },
      icon('list'),
      h('span', {}, 'Deliveries'),
    );
    show.addEventListener('click', () => {
      state.selected = webhook.id;
      keepFocus(listSlot, renderList);
      deliveries.show(webhook);
      deliveries.element.scrollIntoView({ block: 'nearest' });
    });
    return h(
      'tr',
      {
        role: 'row',
        class: selected ? 'row-selected' : null,
        'data-testid': 'webhook-row',
        'data-webhook-id': webhook.id,
        'data-enabled': String(webhook.enabled),
        'data-focus-key': webhook.id,
      },
      h('td', { role: 'cell', 'data-label': 'State', class: 'cell-state' }, webhookState(webhook)),
      h(
        'td',
        { role: 'cell', 'data-label': 'URL', class: 'cell-name' },
        h('code', { class: 'webhook-url', 'data-testid': 'webhook-url' }, webhook.url),
        webhook.description ? h('div', { class: 'row-sub', 'data-testid': 'webhook-description' }, webhook.description) : null,
      ),
      h('td', { role: 'cell', 'data-label': 'Actions', 'data-testid': 'webhook-actions-list' }, actionList(webhook.actions)),
      h('td', { role: 'cell', 'data-label': 'Created' }, timeEl(webhook.createdAt, { style: 'date' })),
      h(
        'td',
        { role: 'cell', class: 'col-actions' },
        h(
          'div',
          { class: 'row-actions' },
          show,
          menuButton({
            label: `Actions for the webhook to ${webhook.url}`,
            testid: 'webhook-actions',
            items: () => [
              { label: 'Edit', testid: 'action-edit', icon: 'pencil', onSelect: () => openEdit(webhook) },
              webhook.enabled
                ? { label: 'Disable', testid: 'action-disable', icon: 'power', onSelect: () => setEnabled(webhook, false) }
                : { label: 'Enable', testid: 'action-enable', icon: 'check', onSelect: () => setEnabled(webhook, true) },
              'separator',
              { label: 'Delete', testid: 'action-delete', icon: 'trash', danger: true, onSelect: () => confirmDelete(webhook) },
            ],
          }),
        ),
      ),
    );
  }

  // ---- changes ----------------------------------------------------------------------

  function rowOf(webhook) {
    return listSlot.querySelector(`tr[data-webhook-id="${CSS.escape(webhook.id)}"]`);
  }

  async function setEnabled(webhook, enabled) {
    clearRowErrors(listSlot);
    const row = rowOf(webhook);
    row?.setAttribute('aria-busy', 'true');
    try {
      await gql(UPDATE_WEBHOOK, { input: { id: webhook.id, enabled } });
      announce(`Webhook to ${webhook.url} ${enabled ? 'enabled' : 'disabled'}.`);
      await load();
    } catch (error) {
      row?.removeAttribute('aria-busy');
      if (!error.handled) showRowError(listSlot, row, error.message, { 'data-webhook-id': webhook.id });
    }
  }

  function confirmDelete(webhook) {
    confirmDialog({
      title: 'Delete webhook?',
      confirmLabel: 'Delete webhook',
      message: [
        h('p', {}, 'Delete the webhook to ', h('code', { 'data-testid': 'confirm-name' }, webhook.url), '?'),
        h('p', {}, 'Its deliveries go with it, and events still queued for it are not sent. This cannot be undone.'),
      ],
      onConfirm: async () => {
        await gql(DELETE_WEBHOOK, { input: { id: webhook.id } });
        announce(`Webhook to ${webhook.url} deleted.`);
        await load();
      },
    });
  }

  async function webhookDialog({ title, testid, submitLabel, webhook, onSubmit }) {
    let actions = [];
    try {
      actions = (await gql(AUDIT_ACTIONS)).__type?.enumValues ?? [];
    } catch (error) {
      if (error.handled) return;
      announce(`Could not load the actions: ${error.message}`, 'error');
      return;
    }
    const chosen = new Set(webhook?.actions ?? []);
    const legendId = uid('webhook-actions');
    formDialog({
      title,
      testid,
      submitLabel,
      submitTestid: 'webhook-submit',
      fields: [
        field({
          label: 'URL',
          name: 'url',
          type: 'url',
          testid: 'webhook-url-input',
          required: true,
          maxlength: 2048,
          value: webhook?.url,
          autocomplete: 'off',
          spellcheck: 'false',
          hint: 'http or https, without a user name or password. Events are POSTed there.',
        }),
        field({ label: 'Description', name: 'description', type: 'textarea', testid: 'webhook-description-input', maxlength: 1024, value: webhook?.description || '', optional: true }),
        h(
          'fieldset',
          { class: 'allowed-users', 'aria-labelledby': legendId },
          h('legend', { id: legendId }, 'Actions ', h('span', { class: 'optional' }, '(none checked: every action)')),
          h(
            'div',
            { class: 'check-list', 'data-testid': 'webhook-actions-input' },
            actions.map(({ name, description }) => {
              const id = uid('webhook-action');
              return h(
                'label',
                { for: id, class: 'check', title: description || null, 'data-action': name },
                h('input', { type: 'checkbox', id, name: 'action', value: name, class: 'checkbox', checked: chosen.has(name) }),
                h('span', {}, actionLabel(name)),
              );
            }),
          ),
        ),
      ],
      onSubmit: async (values, form) => {
        const picked = [...form.querySelectorAll('input[name="action"]:checked')].map((input) => input.value);
        await onSubmit({
          url: values.url.trim(),
          description: values.description.trim() === '' ? null : values.description,
          actions: picked,
        });
      },
    });
  }

  function openAdd() {
    webhookDialog({
      title: 'Add Webhook',
      testid: 'webhook-dialog',
      submitLabel: 'Create',
      onSubmit: async ({ url, description, actions }) => {
        const input = { projectId, url };
        if (description !== null) input.description = description;
        if (actions.length) input.actions = actions;
        const data = await gql(CREATE_WEBHOOK, { input });
        const { webhook, signingSecret } = data.createWebhook;
        state.selected = webhook.id;
        // After the form dialog has closed (focus then returns to "Add Webhook").
        setTimeout(() => showSecret(webhook, signingSecret), 0);
        load();
      },
    });
  }

  function openEdit(webhook) {
    webhookDialog({
      title: 'Edit webhook',
      testid: 'edit-dialog',
      submitLabel: 'Save',
      webhook,
      onSubmit: async ({ url, description, actions }) => {
        await gql(UPDATE_WEBHOOK, { input: { id: webhook.id, url, description, actions } });
        announce(`Webhook to ${url} saved.`);
        await load();
      },
    });
  }

  function showSecret(webhook, signingSecret) {
    const title = 'Webhook created';
    secretDialog({
      title,
      warning: {
        title: 'This signing secret will not be shown again.',
        text: 'Copy it now into the receiver, which checks each delivery’s webhook-signature with it. If it is lost, delete this webhook and add a new one.',
      },
      values: [{ label: 'Signing secret', value: signingSecret, testid: 'new-signing-secret', copyTestid: 'copy-signing-secret', what: 'signing secret' }],
      details: h('p', { class: 'muted small' }, 'Deliveries go to ', h('code', {}, webhook.url), '.'),
    });
    announce(`${title}. Copy its signing secret now.`);
  }

  // ---- deliveries ------------------------------------------------------------------------

  const deliveries = deliveriesPanel();

  load();
}

/** A webhook's state: enabled, disabled, disabled by keyward, failing. */
function webhookState(webhook) {
  let label = 'Enabled';
  let badge = 'badge-active';
  let title = 'Events are delivered to it';
  if (!webhook.enabled) {
    label = 'Disabled';
    badge = 'badge-inactive';
    title = webhook.disabledAt ? 'keyward disabled it: its deliveries had all failed for five days' : 'Events are not queued for it';
  }
  return h(
    'span',
    {},
    h(
      'span',
      { class: `badge ${badge}`, 'data-testid': 'webhook-state', 'data-state': webhook.enabled ? 'ENABLED' : 'DISABLED', title },
      h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
      label,
    ),
    webhook.failingSince
      ? h('div', { class: 'row-sub text-expired', 'data-testid': 'webhook-failing' }, 'Failing since ', timeEl(webhook.failingSince, { style: 'relative' }))
      : null,
  );
}

/** The actions a webhook receives as tags, or "Every action". */
function actionList(actions) {
  if (!actions.length) return h('span', { class: 'muted' }, 'Every action');
  return h('span', { class: 'tag-list' }, actions.map((action) => h('span', { class: 'tag tag-muted', title: action }, actionLabel(action))));
}

/**
 * The deliveries of one webhook (`show(webhook)`, null for none), newest
 * first, "Load more" for older ones; Refresh; Redeliver on each.
 */
function deliveriesPanel() {
  let webhook = null;
  let items = [];
  let cursor = null;
  let hasNext = false;
  let total = 0;
  let seq = 0;
  const urlEl = h('code', { class: 'webhook-url' });
  const countEl = h('span', { class: 'count', 'data-testid': 'delivery-count' });
  const refresh = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'deliveries-refresh' }, icon('refresh'), h('span', {}, 'Refresh'));
  refresh.addEventListener('click', () => load(false));
  const listSlot = h('div');
  const element = h(
    'section',
    { class: 'card card-flush', 'aria-labelledby': 'deliveries-title', 'data-testid': 'webhook-deliveries', hidden: true },
    h(
      'div',
      { class: 'card-head card-head-wrap' },
      h('h2', { id: 'deliveries-title', class: 'card-title' }, 'Deliveries ', countEl),
      h('div', { class: 'toolbar' }, h('span', { class: 'muted small deliveries-of' }, 'to ', urlEl), refresh),
    ),
    listSlot,
  );

  function show(next) {
    const changed = next?.id !== webhook?.id;
    webhook = next;
    element.hidden = !webhook;
    if (!webhook) return;
    urlEl.textContent = webhook.url;
    if (changed) clear(listSlot);
    load(false);
  }

  async function load(more) {
    if (!webhook) return;
    seq += 1;
    const mine = seq;
    element.setAttribute('aria-busy', 'true');
    try {
      const data = await gql(WEBHOOK_DELIVERIES, { id: webhook.id, first: DELIVERY_PAGE, after: more ? cursor : null });
      if (mine !== seq) return;
      const connection = data.webhook?.deliveries;
      if (!connection) {
        clear(listSlot).append(errorBox('This webhook no longer exists.'));
        return;
      }
      const page = connection.edges.map(({ node }) => node);
      items = more ? [...items, ...page] : page;
      cursor = connection.pageInfo.endCursor;
      hasNext = connection.pageInfo.hasNextPage;
      total = connection.totalCount;
      keepFocus(listSlot, render);
    } catch (error) {
      if (error.handled || mine !== seq) return;
      clear(listSlot).append(errorBox(error.message, retryButton(() => load(more))));
    } finally {
      if (mine === seq) element.removeAttribute('aria-busy');
    }
  }

  function render() {
    countEl.textContent = String(total);
    clear(listSlot);
    if (items.length === 0) {
      listSlot.append(
        h('div', { class: 'empty empty-sm', 'data-testid': 'deliveries-empty' }, h('p', {}, 'No deliveries yet: each new event of the actions it receives is queued for it.')),
      );
      return;
    }
    listSlot.append(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-deliveries', role: 'table', 'aria-labelledby': 'deliveries-title', 'data-testid': 'deliveries-table' },
          h(
            'thead',
            { role: 'rowgroup' },
            h(
              'tr',
              { role: 'row' },
              ['Event', 'Status', 'Attempts', 'Response', 'Time'].map((label) => h('th', { scope: 'col', role: 'columnheader' }, label)),
              h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Redeliver')),
            ),
          ),
          h('tbody', { role: 'rowgroup' }, items.map(deliveryRow)),
        ),
      ),
    );
    const more = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', 'data-testid': 'deliveries-more' }, icon('chevronDown'), h('span', {}, 'Load more'));
    more.addEventListener('click', () => load(true));
    listSlot.append(
      h(
        'nav',
        { class: 'pager', 'aria-label': 'Deliveries pages' },
        h('span', { class: 'pager-summary', 'data-testid': 'deliveries-summary' }, `Showing ${items.length} of ${total}`),
        hasNext ? h('div', { class: 'pager-buttons' }, more) : null,
      ),
    );
  }

  function deliveryRow(delivery) {
    const status = deliveryState(delivery);
    const info = DELIVERY_STATES[status];
    const event = delivery.event;
    const redeliver = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-secondary btn-sm',
        'data-testid': 'delivery-redeliver',
        'aria-label': `Redeliver ${event ? actionLabel(event.action) : 'the event'} now`,
      },
      icon('refresh'),
      h('span', {}, 'Redeliver'),
    );
    const row = h(
      'tr',
      {
        role: 'row',
        'data-testid': 'delivery-row',
        'data-delivery-id': delivery.id,
        'data-event-id': delivery.eventId,
        'data-status': status,
        'data-attempts': String(delivery.attempts),
        'data-focus-key': delivery.id,
      },
      h(
        'td',
        { role: 'cell', 'data-label': 'Event', class: 'cell-name' },
        event
          ? [h('span', { class: 'row-title', 'data-testid': 'delivery-action', title: event.action }, actionLabel(event.action)), h('div', { class: 'row-sub' }, timeEl(event.at, { style: 'seconds' }))]
          : h('span', { class: 'muted' }, 'An event since pruned from the trail'),
        h('div', { class: 'row-sub mono', title: 'The webhook-id header of every attempt' }, delivery.messageId),
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Status' },
        h('span', { class: `badge ${info.badge}`, 'data-testid': 'delivery-status', 'data-status': status, title: info.title }, h('span', { class: 'badge-dot', 'aria-hidden': 'true' }), info.label),
        delivery.nextAttemptAt ? h('div', { class: 'row-sub' }, 'Next attempt ', timeEl(delivery.nextAttemptAt, { style: 'relative' })) : null,
      ),
      h('td', { role: 'cell', 'data-label': 'Attempts', 'data-testid': 'delivery-attempts' }, String(delivery.attempts)),
      h(
        'td',
        { role: 'cell', 'data-label': 'Response' },
        delivery.lastStatus !== null
          ? h('code', { 'data-testid': 'delivery-response', class: delivery.lastStatus >= 200 && delivery.lastStatus < 300 ? '' : 'text-expired' }, `HTTP ${delivery.lastStatus}`)
          : h('span', { class: 'muted', 'data-testid': 'delivery-response' }, delivery.attempts > 0 ? 'No answer' : '—'),
        delivery.lastError ? h('div', { class: 'row-sub', 'data-testid': 'delivery-error' }, delivery.lastError) : null,
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Time' },
        timeEl(delivery.deliveredAt || delivery.failedAt || delivery.createdAt, { style: 'seconds' }),
        h('div', { class: 'row-sub' }, delivery.deliveredAt ? 'delivered' : delivery.failedAt ? 'given up' : 'queued'),
      ),
      h('td', { role: 'cell', class: 'col-actions' }, h('div', { class: 'row-actions' }, redeliver)),
    );
    redeliver.addEventListener('click', async () => {
      clearRowErrors(listSlot);
      redeliver.disabled = true;
      redeliver.setAttribute('aria-busy', 'true');
      try {
        await gql(REDELIVER_WEBHOOK_EVENT, { input: { webhookId: webhook.id, eventId: delivery.eventId } });
        announce(`${event ? actionLabel(event.action) : 'The event'} queued to be delivered again.`);
        await load(false);
      } catch (error) {
        redeliver.disabled = false;
        redeliver.removeAttribute('aria-busy');
        if (!error.handled) showRowError(listSlot, row, error.message, { 'data-delivery-id': delivery.id });
      }
    });
    return row;
  }

  return { element, show };
}
