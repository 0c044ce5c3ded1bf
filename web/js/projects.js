// The Projects page: list (paged), create, edit, delete, open. An
// administrator sees every project; a user the projects they are a member
// of (the server filters), with their role in each. Also what a project's
// pages share: their tabs and "not found".

import { h, icon, clear, timeEl } from './dom.js';
import { gql } from './api.js';
import { PROJECTS, CREATE_PROJECT, UPDATE_PROJECT, DELETE_PROJECT, DISABLE_ACCESS_CONTROL, viewInApiUrl } from './queries.js';
import {
  field,
  formDialog,
  confirmDialog,
  menuButton,
  pager,
  errorBox,
  retryButton,
  announce,
  keepFocus,
  pageSizeSelect,
  roleBadge,
  tabNav,
} from './ui.js';

/**
 * The tabs of a project's pages; `current` is 'keys', 'members', 'audit' or
 * 'webhooks'. The Webhooks tab only for those who may manage webhooks
 * (`access` from `app.access`).
 */
export function projectTabs(projectId, current, access) {
  const base = `#/projects/${encodeURIComponent(projectId)}`;
  return tabNav({
    label: 'Project',
    tabs: [
      { href: base, label: 'API & Keys', testid: 'tab-keys', icon: 'key', current: current === 'keys' },
      { href: `${base}/members`, label: 'Members', testid: 'tab-members', icon: 'users', current: current === 'members' },
      { href: `${base}/audit`, label: 'Audit', testid: 'tab-audit', icon: 'list', current: current === 'audit' },
      access?.manageWebhooks
        ? { href: `${base}/webhooks`, label: 'Webhooks', testid: 'tab-webhooks', icon: 'send', current: current === 'webhooks' }
        : null,
    ].filter(Boolean),
  });
}

/**
 * The top of a project's page: breadcrumbs (for whoever lists projects,
 * with `trail` links after the project), the heading with `lead` under it
 * and `actions` beside it, then the project's tabs (`tab` current, none
 * for null).
 */
export function projectPageHead(app, project, { title, lead, tab, actions = null, trail = [] }) {
  const access = app.access(project.id);
  const projectHref = `#/projects/${encodeURIComponent(project.id)}`;
  const crumbs = app.can.listProjects
    ? h(
        'nav',
        { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
        h(
          'ol',
          {},
          h('li', {}, h('a', { href: '#/projects' }, 'Projects')),
          trail.length ? h('li', {}, h('a', { href: projectHref }, project.name)) : h('li', { 'aria-current': 'page' }, project.name),
          trail.map((item, index) =>
            index === trail.length - 1 ? h('li', { 'aria-current': 'page' }, item.label) : h('li', {}, h('a', { href: item.href }, item.label)),
          ),
        ),
      )
    : null;
  return [
    crumbs,
    h(
      'div',
      { class: 'page-head' },
      h('div', { class: 'page-head-text' }, h('h1', { tabindex: '-1' }, title), lead ? h('p', { class: 'lead' }, lead) : null),
      actions ? h('div', { class: 'page-actions' }, actions) : null,
    ),
    tab ? projectTabs(project.id, tab, access) : null,
  ];
}

/** The URL of key `keyId`'s own page in project `projectId`. */
export function keyPageHref(projectId, keyId) {
  return `#/projects/${encodeURIComponent(projectId)}/keys/${encodeURIComponent(keyId)}`;
}

/** Replaces `body` with "Project not found" (missing, deleted, or not visible). */
export function projectNotFound(body, app) {
  clear(body).append(
    h(
      'div',
      { class: 'card empty' },
      h('h1', { tabindex: '-1' }, 'Project not found'),
      h('p', { class: 'muted' }, 'It does not exist, was deleted, or is not visible to you.'),
      app.can.listProjects ? h('a', { href: '#/projects', class: 'btn btn-secondary' }, 'Back to projects') : null,
    ),
  );
  app.setTitle('Project not found');
}

/** Opens the edit dialog for `project`; resolves after a successful save. */
export function editProjectDialog(project, onSaved) {
  formDialog({
    title: `Edit project “${project.name}”`,
    testid: 'edit-dialog',
    submitLabel: 'Save',
    submitTestid: 'edit-submit',
    fields: [
      field({ label: 'Name', name: 'name', testid: 'edit-name', required: true, maxlength: 128, value: project.name, autocomplete: 'off' }),
      field({
        label: 'Description',
        name: 'description',
        type: 'textarea',
        testid: 'edit-description',
        maxlength: 1024,
        value: project.description || '',
        optional: true,
      }),
    ],
    onSubmit: async (values) => {
      const description = values.description.trim() === '' ? null : values.description;
      await gql(UPDATE_PROJECT, { input: { id: project.id, name: values.name, description } });
      announce(`Project “${values.name}” saved.`);
      await onSaved();
    },
  });
}

export function projectsView(root, app) {
  const state = { cursors: [null], index: 0, size: 20, data: null, created: null };
  const content = h('div', { class: 'view-body' });

  // A user sees their own projects only; an administrator (or anyone while
  // access control is off) every one.
  const ownOnly = app.viewer.kind === 'USER';
  const addButton = app.can.createProject
    ? h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'project-add' }, icon('plus'), h('span', {}, 'Add Project'))
    : null;
  addButton?.addEventListener('click', openCreate);

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('h1', { tabindex: '-1' }, 'Projects'),
        h(
          'p',
          { class: 'lead' },
          ownOnly
            ? 'The projects you are a member of. What you may do in each follows your role there; a project you add makes you its owner.'
            : 'Work is organised in projects. Each API key belongs to one project and reaches only that project.',
        ),
      ),
      h('div', { class: 'page-actions' }, addButton),
    ),
    content,
  );
  if (app.viewer.kind === 'ADMIN') root.append(accessControlCard(app));

  async function load() {
    content.setAttribute('aria-busy', 'true');
    try {
      state.data = await gql(PROJECTS, { first: state.size, after: state.cursors[state.index] });
      if (!root.isConnected) return; // navigated away meanwhile
      app.refreshViewer(state.data.viewer);
      keepFocus(content, render);
    } catch (error) {
      if (error.handled) return;
      clear(content).append(errorBox(error.message, retryButton(load)));
    } finally {
      content.removeAttribute('aria-busy');
    }
  }

  function render() {
    clear(content);
    const connection = state.data.projects;
    const rows = connection.edges.map(({ node }) => projectRow(node));
    if (state.created) {
      const { id, name } = state.created;
      content.append(
        h(
          'div',
          { class: 'alert alert-success', role: 'status', 'data-testid': 'project-created' },
          icon('check'),
          h(
            'div',
            { class: 'alert-body' },
            h('span', {}, `Project “${name}” created. `),
            h('a', { href: `#/projects/${encodeURIComponent(id)}`, 'data-testid': 'project-created-open' }, 'Open its API & Keys'),
          ),
        ),
      );
    }
    const table = h(
      'table',
      { class: 'table table-projects', role: 'table', 'aria-label': 'Projects', 'data-testid': 'projects-table' },
      h(
        'thead',
        { role: 'rowgroup' },
        h(
          'tr',
          { role: 'row' },
          h('th', { scope: 'col', role: 'columnheader' }, 'Name'),
          ownOnly ? h('th', { scope: 'col', role: 'columnheader' }, 'Your role') : null,
          h('th', { scope: 'col', role: 'columnheader' }, 'API keys'),
          h('th', { scope: 'col', role: 'columnheader' }, 'Created'),
          h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')),
        ),
      ),
      h('tbody', { role: 'rowgroup' }, rows),
    );
    const card = h('div', { class: 'card card-flush' });
    if (connection.totalCount === 0 && state.index === 0) {
      card.append(
        h(
          'div',
          { class: 'empty' },
          icon('folder', { size: 32 }),
          h('p', {}, ownOnly ? 'You are not a member of any project yet.' : 'No projects yet.'),
          h(
            'p',
            { class: 'muted' },
            ownOnly
              ? 'Add a project, or ask an administrator or a project’s owner to add you to theirs.'
              : 'Add a project, then add API keys to it.',
          ),
        ),
      );
    } else {
      card.append(h('div', { class: 'table-wrap' }, table));
    }
    card.append(
      pager({
        label: 'Projects',
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
          id: 'projects-page-size',
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
    content.append(card);
  }

  function projectRow(project) {
    const href = `#/projects/${encodeURIComponent(project.id)}`;
    const keys = project.keys.totalCount;
    const active = project.activeKeys.totalCount;
    const access = app.access(project.id);
    const row = h(
      'tr',
      { role: 'row', 'data-testid': 'project-row', 'data-project-id': project.id, 'data-focus-key': project.id },
      h(
        'td',
        { role: 'cell', 'data-label': 'Name', class: 'cell-name' },
        h('a', { href, class: 'row-title', 'data-testid': 'project-open' }, project.name),
        project.description ? h('div', { class: 'row-sub' }, project.description) : null,
      ),
      ownOnly
        ? h('td', { role: 'cell', 'data-label': 'Your role' }, access.role ? roleBadge(access.role, 'project-role') : h('span', { class: 'muted' }, '—'))
        : null,
      h(
        'td',
        { role: 'cell', 'data-label': 'API keys' },
        h('span', { 'data-testid': 'project-key-count' }, `${keys} ${keys === 1 ? 'key' : 'keys'}`),
        keys > 0 ? h('span', { class: 'muted' }, ` · ${active} active`) : null,
      ),
      h('td', { role: 'cell', 'data-label': 'Created' }, timeEl(project.createdAt, { style: 'date' })),
      h(
        'td',
        { role: 'cell', class: 'col-actions' },
        h(
          'div',
          { class: 'row-actions' },
          h(
            'a',
            { href: viewInApiUrl(project.id), class: 'btn btn-ghost btn-sm', 'data-testid': 'view-in-api', 'aria-label': `View project ${project.name} in API` },
            icon('api'),
            h('span', {}, 'View in API'),
          ),
          menuButton({
            label: `Actions for project ${project.name}`,
            testid: 'project-actions',
            items: () => [
              { label: 'Open API & Keys', testid: 'action-open', icon: 'key', onSelect: () => app.navigate(href) },
              { label: 'Members', testid: 'action-members', icon: 'users', onSelect: () => app.navigate(`${href}/members`) },
              access.editProject ? { label: 'Edit', testid: 'action-edit', icon: 'pencil', onSelect: () => editProjectDialog(project, load) } : null,
              // Same URL as the row's "View in API" link (GraphiQL prefilled, not run).
              { label: 'View in API', testid: 'action-view-in-api', icon: 'api', onSelect: () => location.assign(viewInApiUrl(project.id)) },
              ...(app.can.deleteProject
                ? ['separator', { label: 'Delete', testid: 'action-delete', icon: 'trash', danger: true, onSelect: () => confirmDelete(project, keys) }]
                : []),
            ].filter(Boolean),
          }),
        ),
      ),
    );
    return row;
  }

  function confirmDelete(project, keys) {
    confirmDialog({
      title: 'Delete project?',
      confirmLabel: 'Delete project',
      message: [
        h('p', {}, 'Delete the project ', h('strong', { 'data-testid': 'confirm-name' }, `“${project.name}”`), '?'),
        h(
          'p',
          {},
          keys === 0
            ? 'It has no API keys. This cannot be undone.'
            : `Its ${keys === 1 ? 'API key is' : `${keys} API keys are`} deleted with it and stop working at once. This cannot be undone.`,
        ),
      ],
      onConfirm: async () => {
        await gql(DELETE_PROJECT, { input: { id: project.id } });
        announce(`Project “${project.name}” deleted.`);
        if (state.created?.id === project.id) state.created = null;
        if (state.data.projects.edges.length === 1 && state.index > 0) state.index -= 1;
        await load();
      },
    });
  }

  function openCreate() {
    formDialog({
      title: 'Add Project',
      testid: 'project-dialog',
      submitLabel: 'Create',
      submitTestid: 'project-create-submit',
      fields: [
        field({ label: 'Name', name: 'name', testid: 'project-create-name', required: true, maxlength: 128, autocomplete: 'off', hint: '1 to 128 characters, unique on this server.' }),
        field({ label: 'Description', name: 'description', type: 'textarea', testid: 'project-create-description', maxlength: 1024, optional: true }),
      ],
      onSubmit: async (values) => {
        const input = { name: values.name };
        if (values.description.trim() !== '') input.description = values.description;
        const data = await gql(CREATE_PROJECT, { input });
        state.created = data.createProject.project;
        announce(`Project “${state.created.name}” created.`);
        await load();
      },
    });
  }

  load();
}

function accessControlCard(app) {
  const button = h(
    'button',
    { type: 'button', class: 'btn btn-danger-outline', 'data-testid': 'ac-disable' },
    icon('power'),
    h('span', {}, 'Turn off access control…'),
  );
  button.addEventListener('click', () => {
    confirmDialog({
      title: 'Turn off access control?',
      confirmLabel: 'Turn off access control',
      message: [
        h('p', {}, 'Anyone who can reach this server will then have full access, without credentials.'),
        h('p', {}, 'Every session ends. Users, their project memberships and API keys are kept for when it is turned on again, but are no longer needed.'),
      ],
      onConfirm: async () => {
        await gql(DISABLE_ACCESS_CONTROL);
        announce('Access control is off.', 'error');
        app.afterAccessControlDisabled();
      },
    });
  });
  return h(
    'section',
    { class: 'card settings-card', 'aria-labelledby': 'ac-card-title' },
    h(
      'div',
      { class: 'settings-text' },
      h('h2', { id: 'ac-card-title' }, icon('shield'), ' Access control is on'),
      h('p', { class: 'muted' }, 'Every request needs a signed-in user or an active API key.'),
    ),
    button,
  );
}
