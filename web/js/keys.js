// The "API & Keys" page of one project: endpoint, keys table (with who
// created each key), add / activate / deactivate / edit / rotate / delete,
// and the project's usage chart.

import { h, icon, clear, timeEl, append } from './dom.js';
import { gql } from './api.js';
import { PROJECT_KEYS, CREATE_KEY, SET_KEY_STATE, RENAME_KEY, DELETE_KEY, ROTATE_KEY, viewInApiUrl } from './queries.js';
import {
  field,
  formDialog,
  confirmDialog,
  secretDialog,
  menuButton,
  pager,
  errorBox,
  retryButton,
  announce,
  copyButton,
  stateBadge,
  roleBadge,
  keepFocus,
  pageSizeSelect,
  showRowError as showRowErrorIn,
  clearRowErrors,
  ROLE_LABELS,
} from './ui.js';
import { editProjectDialog, projectTabs, projectNotFound, keyPageHref } from './projects.js';
import { usageCard } from './usage.js';

const ROLE_HINTS = {
  OWNER: 'Owner manages all keys of the project and edits the project.',
  MEMBER: 'Member manages member and read-only keys.',
  READ_ONLY: 'Read-only reads the project and its keys, and changes nothing.',
};
/** How long a rotated key keeps working: the choices of the Rotate dialog. */
const GRACE_PERIODS = [
  { value: '0', label: 'Stop the old key now' },
  { value: '3600', label: 'Keep the old key for 1 hour' },
  { value: '86400', label: 'Keep the old key for 1 day' },
  { value: '604800', label: 'Keep the old key for 7 days' },
];
const STATE_FILTERS = [
  { value: '', label: 'All states' },
  { value: 'ACTIVE', label: 'Active' },
  { value: 'INACTIVE', label: 'Inactive' },
  { value: 'EXPIRED', label: 'Expired' },
];

export function keysView(root, app, projectId) {
  const state = { cursors: [null], index: 0, size: 20, filter: '', data: null };
  const body = h('div', { class: 'view-body' });
  root.append(body);
  let tableSlot = null;
  let headerBuilt = false;
  /** What the caller may do here; refreshed with each load (see app.access). */
  let access = app.access(projectId);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      state.data = await gql(PROJECT_KEYS, {
        id: projectId,
        first: state.size,
        after: state.cursors[state.index],
        state: state.filter || null,
      });
      if (!root.isConnected) return; // navigated away meanwhile
      app.refreshViewer(state.data.viewer);
      access = app.access(projectId);
      if (!state.data.project) {
        projectNotFound(body, app);
        return;
      }
      if (!headerBuilt) {
        buildPage();
        headerBuilt = true;
      } else {
        refreshProjectInfo();
      }
      keepFocus(tableSlot, renderTable);
    } catch (error) {
      if (error.handled) return;
      if (headerBuilt) {
        clear(tableSlot).append(errorBox(error.message, retryButton(load)));
      } else {
        clear(body).append(errorBox(error.message, retryButton(load)));
      }
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  // ---- page skeleton: heading, project card, keys card -------------------------

  let projectName;
  let projectDesc;
  let endpointCode;
  let verifyCode;
  let keysTitleCount;

  function buildPage() {
    const project = state.data.project;
    app.setTitle(`API & Keys · ${project.name}`);
    app.setCurrentProject(project);
    clear(body);

    projectName = h('span', { 'data-testid': 'project-name' }, project.name);
    projectDesc = h('p', { class: 'project-desc', 'data-testid': 'project-description' });
    endpointCode = h('code', { class: 'endpoint', 'data-testid': 'endpoint' }, project.endpoint);
    verifyCode = h('code', { class: 'endpoint', 'data-testid': 'verify-url' }, project.verifyUrl);

    const headActions = h('div', { class: 'page-actions' });
    if (access.editProject) {
      const edit = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'project-edit' }, icon('pencil'), h('span', {}, 'Edit project'));
      edit.addEventListener('click', () => editProjectDialog(state.data.project, load));
      headActions.append(edit);
    }
    headActions.append(
      h(
        'a',
        { href: viewInApiUrl(project.id), class: 'btn btn-secondary', 'data-testid': 'view-in-api', 'aria-label': `View project ${project.name} in API` },
        icon('api'),
        h('span', {}, 'View in API'),
      ),
    );

    const crumbs = app.can.listProjects
      ? h(
          'nav',
          { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
          h('ol', {}, h('li', {}, h('a', { href: '#/projects' }, 'Projects')), h('li', { 'aria-current': 'page' }, project.name)),
        )
      : null;

    const addButton = access.creatableRoles.length
      ? h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'add-key' }, icon('plus'), h('span', {}, 'Add API Key'))
      : null;
    addButton?.addEventListener('click', openAdd);

    const filter = h(
      'select',
      { id: 'key-filter', class: 'input input-sm', 'data-testid': 'key-filter' },
      STATE_FILTERS.map((opt) => h('option', { value: opt.value }, opt.label)),
    );
    filter.addEventListener('change', () => {
      state.filter = filter.value;
      state.cursors = [null];
      state.index = 0;
      load();
    });

    keysTitleCount = h('span', { class: 'count', 'data-testid': 'key-count' });
    tableSlot = h('div', { class: 'keys-table-slot' });

    append(body, [
      crumbs,
      h(
        'div',
        { class: 'page-head' },
        h(
          'div',
          {},
          h('h1', { tabindex: '-1' }, 'API & Keys'),
          h('p', { class: 'lead' }, 'Project ', h('strong', {}, projectName), '. Each API key is project specific: it reaches only this project.'),
        ),
        headActions,
      ),
      projectTabs(project.id, 'keys', access),
      h(
        'section',
        { class: 'card project-card', 'aria-labelledby': 'endpoint-title', 'data-testid': 'project-card' },
        h('div', { class: 'project-desc-wrap' }, h('h2', { class: 'card-title' }, 'Description'), projectDesc),
        h('h2', { id: 'endpoint-title', class: 'card-title' }, 'Endpoint'),
        h('div', { class: 'endpoint-row' }, endpointCode, copyButton(() => endpointCode.textContent, { what: 'endpoint', testid: 'endpoint-copy' })),
        h(
          'p',
          { class: 'muted small' },
          'Requests sent to this endpoint are scoped to this project. Send an API key as HTTP Basic credentials: the access key is the username, the secret key the password.',
        ),
        h('h2', { id: 'verify-title', class: 'card-title' }, 'Verify endpoint'),
        h('div', { class: 'endpoint-row' }, verifyCode, copyButton(() => verifyCode.textContent, { what: 'verify endpoint', testid: 'verify-url-copy' })),
        h(
          'p',
          { class: 'muted small' },
          'For a proxy in front of another service (nginx auth_request, Caddy forward_auth, Traefik forwardAuth, Envoy ext_authz): it answers 200 for this project’s active keys and 401 or 403 otherwise. Add ?role=MEMBER or ?scope=NAME to require more.',
        ),
      ),
      h(
        'section',
        { class: 'card card-flush', 'aria-labelledby': 'keys-title' },
        h(
          'div',
          { class: 'card-head' },
          h('h2', { id: 'keys-title', class: 'card-title' }, 'API Keys ', keysTitleCount),
          h(
            'div',
            { class: 'toolbar' },
            h('div', { class: 'inline-field' }, h('label', { for: 'key-filter' }, 'State'), filter),
            addButton,
          ),
        ),
        tableSlot,
      ),
      usageCard({ id: project.id, what: 'project', name: project.name }),
    ]);
    refreshProjectInfo();
  }

  function refreshProjectInfo() {
    const project = state.data.project;
    projectName.textContent = project.name;
    endpointCode.textContent = project.endpoint;
    verifyCode.textContent = project.verifyUrl;
    projectDesc.textContent = project.description || '';
    projectDesc.parentElement.hidden = !project.description;
    app.setTitle(`API & Keys · ${project.name}`);
    app.setCurrentProject(project);
  }

  // ---- keys table --------------------------------------------------------------

  function renderTable() {
    clear(tableSlot);
    const connection = state.data.project.apiKeys;
    keysTitleCount.textContent = String(connection.totalCount);
    if (connection.totalCount === 0 && state.index === 0) {
      tableSlot.append(
        h(
          'div',
          { class: 'empty', 'data-testid': 'keys-empty' },
          icon('key', { size: 32 }),
          h('p', {}, state.filter ? 'No keys in this state.' : 'No API keys yet.'),
          access.creatableRoles.length && !state.filter
            ? h('p', { class: 'muted' }, 'Add an API key to call this project’s API.')
            : null,
        ),
      );
    } else {
      tableSlot.append(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table table-keys', role: 'table', 'aria-labelledby': 'keys-title', 'data-testid': 'keys-table' },
            h(
              'thead',
              { role: 'rowgroup' },
              h(
                'tr',
                { role: 'row' },
                ['State', 'Name', 'Access key', 'Role', 'Scopes', 'Created', 'Created by', 'Last used', 'Expires', 'Failed auth'].map((label) =>
                  h('th', { scope: 'col', role: 'columnheader' }, label),
                ),
                h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')),
              ),
            ),
            h('tbody', { role: 'rowgroup' }, connection.edges.map(({ node }) => keyRow(node))),
          ),
        ),
      );
    }
    tableSlot.append(
      pager({
        label: 'API keys',
        page: {
          index: state.index,
          size: state.size,
          count: connection.edges.length,
          totalCount: connection.totalCount,
          hasNext: connection.pageInfo.hasNextPage,
        },
        onPrev: () => {
          state.index = Math.max(0, state.index - 1);
          load();
        },
        onNext: () => {
          state.cursors[state.index + 1] = connection.pageInfo.endCursor;
          state.index += 1;
          load();
        },
        extra: pageSizeSelect({
          id: 'keys-page-size',
          size: state.size,
          onChange: (size) => {
            state.size = size;
            state.cursors = [null];
            state.index = 0;
            load();
          },
        }),
      }),
    );
  }

  function keyRow(key) {
    const isSelf = app.viewer.apiKey?.id === key.id;
    const cells = [
      h('td', { role: 'cell', 'data-label': 'State', class: 'cell-state' }, stateBadge(key.state)),
      h(
        'td',
        { role: 'cell', 'data-label': 'Name', class: 'cell-name' },
        // The key's own page: its facts and its audit trail.
        h('a', { href: keyPageHref(projectId, key.id), class: 'row-title', 'data-testid': 'key-name-text', title: 'Open the key’s page' }, key.name),
        isSelf ? h('span', { class: 'tag', title: 'You are signed in with this key' }, 'you') : null,
        key.description ? h('div', { class: 'row-sub', 'data-testid': 'key-description-text' }, key.description) : null,
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Access key', class: 'cell-access' },
        h('code', { class: 'access-key', 'data-testid': 'key-access-key' }, key.accessKey),
      ),
      h('td', { role: 'cell', 'data-label': 'Role' }, roleBadge(key.role)),
      h('td', { role: 'cell', 'data-label': 'Scopes', 'data-testid': 'key-scopes' }, scopeList(key.scopes)),
      h('td', { role: 'cell', 'data-label': 'Created' }, timeEl(key.createdAt, { style: 'date' })),
      h('td', { role: 'cell', 'data-label': 'Created by', 'data-testid': 'key-created-by' }, createdBy(key.createdBy)),
      h('td', { role: 'cell', 'data-label': 'Last used' }, timeEl(key.lastUsedAt, { style: 'relative', fallback: 'Never' })),
      h(
        'td',
        { role: 'cell', 'data-label': 'Expires', class: key.state === 'EXPIRED' ? 'text-expired' : '' },
        timeEl(key.expiresAt, { style: 'near', fallback: 'Never' }),
        key.expiresSoon
          ? h('span', { class: 'tag tag-warning', 'data-testid': 'expires-soon', title: 'Expires within the server’s first expiry warning: rotate it' }, 'expires soon')
          : null,
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Failed auth', 'data-testid': 'key-failed-auth' },
        key.failedAuthCount > 0
          ? [
              h('span', { class: 'failed-count', title: `${key.failedAuthCount} authentications named this key with a wrong secret` }, `${key.failedAuthCount}×`),
              key.lastFailedAuthAt ? [h('span', { class: 'muted' }, ' · last '), timeEl(key.lastFailedAuthAt, { style: 'relative' })] : null,
            ]
          : h('span', { class: 'muted' }, 'None'),
      ),
    ];
    const actions = h('div', { class: 'row-actions' });
    actions.append(
      h(
        'a',
        {
          href: viewInApiUrl(key.id),
          class: 'btn btn-ghost btn-sm',
          'data-testid': 'view-in-api',
          'aria-label': `View key ${key.name} in API`,
          title: 'View in API',
        },
        icon('api'),
        h('span', { class: 'hide-narrow' }, 'View in API'),
      ),
    );
    if (access.canManageKey(key)) {
      actions.append(
        menuButton({
          label: `Actions for key ${key.name}`,
          testid: 'key-actions',
          items: () => keyActions(key, isSelf),
        }),
      );
    }
    cells.push(h('td', { role: 'cell', class: 'col-actions' }, actions));
    return h(
      'tr',
      {
        role: 'row',
        class: `key-row state-${key.state.toLowerCase()}`,
        'data-testid': 'key-row',
        'data-key-id': key.id,
        'data-access-key': key.accessKey,
        'data-state': key.state,
        'data-focus-key': key.id,
      },
      cells,
    );
  }

  function keyActions(key, isSelf) {
    const items = [];
    // A key is rotated once for good: rotatedTo is null again once its
    // successor is deleted, rotatedAt never is.
    if (key.state === 'ACTIVE' && !key.rotatedAt) {
      items.push({ label: 'Rotate', testid: 'action-rotate', icon: 'refresh', onSelect: () => rotateKey(key, isSelf) });
    }
    if (key.state === 'ACTIVE') {
      items.push({ label: 'Deactivate', testid: 'action-deactivate', icon: 'power', onSelect: () => deactivate(key, isSelf) });
    } else if (key.state === 'INACTIVE') {
      items.push({ label: 'Activate', testid: 'action-activate', icon: 'check', onSelect: () => setState(key, 'ACTIVE') });
    }
    items.push({ label: 'Edit', testid: 'action-edit', icon: 'pencil', onSelect: () => editKey(key) });
    // Same URL as the row's "View in API" link (GraphiQL prefilled, not run).
    items.push({ label: 'View in API', testid: 'action-view-in-api', icon: 'api', onSelect: () => location.assign(viewInApiUrl(key.id)) });
    if (key.state !== 'ACTIVE') {
      items.push('separator', { label: 'Delete', testid: 'action-delete', icon: 'trash', danger: true, onSelect: () => deleteKey(key) });
    }
    return items;
  }

  // ---- actions -----------------------------------------------------------------

  function rowOf(key) {
    return tableSlot.querySelector(`tr[data-key-id="${CSS.escape(key.id)}"]`);
  }

  function showRowError(key, error) {
    showRowErrorIn(tableSlot, rowOf(key), `${key.name}: ${error.message}`, { 'data-key-id': key.id });
  }

  async function setState(key, next) {
    clearRowErrors(tableSlot);
    const row = rowOf(key);
    row?.setAttribute('aria-busy', 'true');
    try {
      await gql(SET_KEY_STATE, { input: { id: key.id, state: next } });
      announce(`Key “${key.name}” ${next === 'ACTIVE' ? 'activated' : 'deactivated'}.`);
      await load();
      return true;
    } catch (error) {
      row?.removeAttribute('aria-busy');
      if (!error.handled) showRowError(key, error);
      return false;
    }
  }

  function deactivate(key, isSelf) {
    if (!isSelf) {
      setState(key, 'INACTIVE');
      return;
    }
    confirmDialog({
      title: 'Deactivate your own key?',
      confirmLabel: 'Deactivate and sign out',
      message: [
        h('p', {}, 'You are signed in with ', h('strong', {}, `“${key.name}”`), '.'),
        h('p', {}, 'Deactivating it refuses its credentials from the next request on: the console signs you out. Another key or the administrator can activate it again.'),
      ],
      onConfirm: async () => {
        await gql(SET_KEY_STATE, { input: { id: key.id, state: 'INACTIVE' } });
        app.signOut(`Key “${key.name}” was deactivated, so you were signed out.`);
      },
    });
  }

  function rotateKey(key, isSelf) {
    formDialog({
      title: `Rotate API key “${key.name}”`,
      testid: 'rotate-dialog',
      intro: [
        'A new key pair replaces this one, with the same name, description, role and scopes. The old pair keeps working for the period you choose, then expires.',
        isSelf ? ' You are signed in with this key: sign in again with the new pair.' : '',
      ].join(''),
      submitLabel: 'Rotate',
      submitTestid: 'rotate-submit',
      fields: [
        field({
          label: 'Old key',
          name: 'grace',
          type: 'select',
          testid: 'rotate-grace',
          value: '3600',
          options: GRACE_PERIODS,
          hint: 'Give the services using the old pair time to switch; it never outlives its own expiry.',
        }),
      ],
      onSubmit: async (values) => {
        const data = await gql(ROTATE_KEY, { input: { id: key.id, gracePeriodSeconds: Number(values.grace) } });
        const { apiKey, secretKey } = data.rotateKey;
        setTimeout(() => showSecret(apiKey, secretKey, `API key “${apiKey.name}” rotated`), 0);
        load();
      },
    });
  }

  function editKey(key) {
    formDialog({
      title: `Edit API key “${key.name}”`,
      testid: 'edit-dialog',
      intro: 'Only the name and description can change. The access key and secret key stay the same; for a new key pair, rotate the key.',
      submitLabel: 'Save',
      submitTestid: 'edit-submit',
      fields: [
        field({ label: 'Name', name: 'name', testid: 'edit-name', required: true, maxlength: 128, value: key.name, autocomplete: 'off' }),
        field({ label: 'Description', name: 'description', type: 'textarea', testid: 'edit-description', maxlength: 1024, value: key.description || '', optional: true }),
      ],
      onSubmit: async (values) => {
        const description = values.description.trim() === '' ? null : values.description;
        await gql(RENAME_KEY, { input: { id: key.id, name: values.name, description } });
        announce(`Key “${values.name}” saved.`);
        await load();
      },
    });
  }

  function deleteKey(key) {
    confirmDialog({
      title: 'Delete API key?',
      confirmLabel: 'Delete key',
      message: [
        h('p', {}, 'Delete the API key ', h('strong', { 'data-testid': 'confirm-name' }, `“${key.name}”`), ' (', h('code', {}, key.accessKey), ')?'),
        h('p', {}, 'Its credentials are removed from the project for good. This cannot be undone.'),
      ],
      onConfirm: async () => {
        await gql(DELETE_KEY, { input: { id: key.id } });
        announce(`Key “${key.name}” deleted.`);
        if (state.data.project.apiKeys.edges.length === 1 && state.index > 0) state.index -= 1;
        await load();
      },
    });
  }

  function openAdd() {
    const roles = access.creatableRoles;
    const defaultRole = roles.includes('MEMBER') ? 'MEMBER' : roles[0];
    const minExpiry = localDateTimeValue(new Date(Date.now() + 60_000));
    formDialog({
      title: 'Add API Key',
      testid: 'key-dialog',
      intro: h('span', {}, 'The key will belong to project ', h('strong', {}, state.data.project.name), ' and reach only that project.'),
      submitLabel: 'Create',
      submitTestid: 'key-submit',
      fields: [
        field({ label: 'Name', name: 'name', testid: 'key-name', required: true, maxlength: 128, autocomplete: 'off', hint: '1 to 128 characters.' }),
        field({ label: 'Description', name: 'description', type: 'textarea', testid: 'key-description', maxlength: 1024, optional: true }),
        field({
          label: 'Role',
          name: 'role',
          type: 'select',
          testid: 'key-role',
          value: defaultRole,
          options: roles.map((role) => ({ value: role, label: ROLE_LABELS[role] })),
          hint: roles.map((role) => ROLE_HINTS[role]).join(' '),
        }),
        field({
          label: 'Scopes',
          name: 'scopes',
          testid: 'key-scopes-input',
          autocomplete: 'off',
          spellcheck: 'false',
          optional: true,
          hint: app.viewer.kind === 'API_KEY'
            ? 'Separated by spaces or commas, such as deploy:write metrics:read. You can grant only scopes your own key holds. Fixed once the key exists.'
            : 'Separated by spaces or commas, such as deploy:write metrics:read. A proxy can require them with ?scope=NAME. Fixed once the key exists.',
        }),
        field({
          label: 'Expires',
          name: 'expiresAt',
          type: 'datetime-local',
          testid: 'key-expires',
          min: minExpiry,
          optional: true,
          hint: 'Your local time. Left empty, the key does not expire, unless the server sets a maximum key lifetime.',
        }),
      ],
      onSubmit: async (values, form) => {
        const input = { projectId: state.data.project.id, name: values.name, role: values.role };
        if (values.description.trim() !== '') input.description = values.description;
        const scopes = splitScopes(values.scopes);
        if (scopes.length) input.scopes = scopes;
        if (values.expiresAt) {
          const when = new Date(values.expiresAt);
          if (Number.isNaN(when.getTime())) {
            const error = new Error('must be a date and time');
            error.code = 'BAD_USER_INPUT';
            error.field = 'expiresAt';
            error.fieldMessage = error.message;
            throw error;
          }
          input.expiresAt = when.toISOString();
        }
        const data = await gql(CREATE_KEY, { input });
        form.reset();
        const { apiKey, secretKey } = data.createApiKey;
        // Show the secret after the form dialog has closed (focus then returns to "Add API Key").
        setTimeout(() => showSecret(apiKey, secretKey), 0);
        load();
      },
    });
  }

  function showSecret(apiKey, secretKey, title = `API key “${apiKey.name}” created`) {
    secretDialog({
      title,
      warning: {
        title: 'This secret key will not be shown again.',
        text: 'Copy it now and keep it somewhere safe, such as a password manager. If it is lost, deactivate this key and add a new one.',
      },
      values: [
        { label: 'Access key', hint: 'username', value: apiKey.accessKey, testid: 'new-access-key', copyTestid: 'copy-access-key', what: 'access key' },
        { label: 'Secret key', hint: 'password', value: secretKey, testid: 'new-secret-key', copyTestid: 'copy-secret-key', what: 'secret key' },
      ],
      details: h(
        'p',
        { class: 'muted small' },
        `Role: ${ROLE_LABELS[apiKey.role]}. `,
        h('span', { 'data-testid': 'new-key-scopes' }, apiKey.scopes.length ? `Scopes: ${apiKey.scopes.join(' ')}. ` : 'No scopes. '),
        apiKey.expiresAt ? ['Expires: ', timeEl(apiKey.expiresAt), '. '] : 'Does not expire. ',
        'Use the pair as HTTP Basic credentials for this project’s endpoint.',
      ),
    });
    announce(`${title}. Copy its secret key now.`);
  }

  load();
}

/** The scopes typed into Add API Key: separated by spaces and/or commas. */
function splitScopes(text) {
  return (text || '').split(/[\s,]+/).filter((scope) => scope !== '');
}

/**
 * Who created a key: their display name (username in the tooltip), or "—"
 * when nobody is known (made by a key, with access control off, before
 * people existed, or by a user since deleted).
 */
export function createdBy(user) {
  if (!user) return h('span', { class: 'muted', title: 'Created by an API key, with access control off, or by a user since deleted' }, '—');
  return h('span', { class: 'created-by', title: user.username }, user.displayName || user.username);
}

/** A key's scopes as tags, or a muted "None". */
export function scopeList(scopes) {
  if (!scopes.length) return h('span', { class: 'muted' }, 'None');
  return h('span', { class: 'scopes' }, scopes.map((scope) => h('code', { class: 'scope' }, scope)));
}

/** `yyyy-MM-ddTHH:mm` in local time, for <input type="datetime-local">. */
function localDateTimeValue(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
