// The Members tab of a project: who works in it, with which role. Everyone
// who sees the project sees its members; administrators and the project's
// OWNERs (users or keys) change roles and remove members. Adding one means
// picking a user, and only administrators can list users, so only they are
// offered Add Member.

import { h, icon, clear, timeEl, append } from './dom.js';
import { gql } from './api.js';
import { PROJECT_MEMBERS, USER_CHOICES, ADD_PROJECT_MEMBER, SET_PROJECT_MEMBER_ROLE, REMOVE_PROJECT_MEMBER } from './queries.js';
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
  userName,
  showRowError,
  clearRowErrors,
  setBusy,
  ROLE_LABELS,
} from './ui.js';
import { projectTabs, projectNotFound } from './projects.js';

const ROLES = ['OWNER', 'MEMBER', 'READ_ONLY'];
const ROLE_HINTS = {
  OWNER: 'Owner manages the project, its keys and its members.',
  MEMBER: 'Member manages member and read-only keys.',
  READ_ONLY: 'Read-only reads the project and its keys, and changes nothing.',
};
/** The most users the Add Member picker loads (pages of 100). */
const PICKER_PAGES = 10;
const PICKER_PAGE_SIZE = 100;

export function membersView(root, app, projectId) {
  const state = { cursors: [null], index: 0, size: 20, data: null };
  const body = h('div', { class: 'view-body' });
  root.append(body);
  let tableSlot = null;
  let countEl = null;
  let projectNameEl = null;
  let headerBuilt = false;
  let access = app.access(projectId);

  async function load() {
    body.setAttribute('aria-busy', 'true');
    try {
      state.data = await gql(PROJECT_MEMBERS, { id: projectId, first: state.size, after: state.cursors[state.index] });
      if (!root.isConnected) return; // navigated away meanwhile
      app.refreshViewer(state.data.viewer);
      const before = access;
      access = app.access(projectId);
      if (!state.data.project) {
        projectNotFound(body, app);
        headerBuilt = false;
        return;
      }
      // The header's buttons follow the caller's powers: rebuild it when they changed.
      if (!headerBuilt || before.manageMembers !== access.manageMembers) {
        buildPage();
        headerBuilt = true;
      }
      const project = state.data.project;
      projectNameEl.textContent = project.name;
      app.setTitle(`Members · ${project.name}`);
      app.setCurrentProject(project);
      keepFocus(tableSlot, renderTable);
    } catch (error) {
      if (error.handled) return;
      clear(headerBuilt ? tableSlot : body).append(errorBox(error.message, retryButton(load)));
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function buildPage() {
    const project = state.data.project;
    clear(body);
    projectNameEl = h('span', { 'data-testid': 'project-name' }, project.name);
    countEl = h('span', { class: 'count', 'data-testid': 'member-count' });
    tableSlot = h('div', { class: 'members-table-slot' });

    const canAdd = access.manageMembers && app.can.listUsers;
    const addButton = canAdd
      ? h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'member-add' }, icon('plus'), h('span', {}, 'Add Member'))
      : null;
    addButton?.addEventListener('click', () => openAdd(addButton));

    const crumbs = app.can.listProjects
      ? h(
          'nav',
          { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
          h('ol', {}, h('li', {}, h('a', { href: '#/projects' }, 'Projects')), h('li', { 'aria-current': 'page' }, project.name)),
        )
      : null;

    append(body, [
      crumbs,
      h(
        'div',
        { class: 'page-head' },
        h(
          'div',
          {},
          h('h1', { tabindex: '-1' }, 'Members'),
          h(
            'p',
            { class: 'lead' },
            'Project ',
            h('strong', {}, projectNameEl),
            '. Each member works in this project with their role, as an API key of that role would; administrators work in every project.',
          ),
        ),
      ),
      projectTabs(project.id, 'members'),
      h(
        'section',
        { class: 'card card-flush', 'aria-labelledby': 'members-title' },
        h(
          'div',
          { class: 'card-head' },
          h('h2', { id: 'members-title', class: 'card-title' }, 'Members ', countEl),
          h('div', { class: 'toolbar' }, addButton),
        ),
        access.manageMembers && !canAdd
          ? h(
              'p',
              { class: 'card-note muted', 'data-testid': 'member-add-note' },
              icon('users'),
              ' Only an administrator can add members, because adding one means choosing among all users. You can change roles and remove members.',
            )
          : null,
        tableSlot,
      ),
    ]);
  }

  function renderTable() {
    clear(tableSlot);
    const connection = state.data.project.members;
    countEl.textContent = String(connection.totalCount);
    if (connection.totalCount === 0 && state.index === 0) {
      tableSlot.append(
        h(
          'div',
          { class: 'empty', 'data-testid': 'members-empty' },
          icon('users', { size: 32 }),
          h('p', {}, 'No members yet.'),
          h('p', { class: 'muted' }, 'Administrators work in every project; add members to let other users in.'),
        ),
      );
    } else {
      tableSlot.append(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'table table-members', role: 'table', 'aria-labelledby': 'members-title', 'data-testid': 'members-table' },
            h(
              'thead',
              { role: 'rowgroup' },
              h(
                'tr',
                { role: 'row' },
                ['User', 'Role', 'Added'].map((label) => h('th', { scope: 'col', role: 'columnheader' }, label)),
                h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')),
              ),
            ),
            h('tbody', { role: 'rowgroup' }, connection.edges.map(({ node }) => memberRow(node))),
          ),
        ),
      );
    }
    tableSlot.append(
      pager({
        label: 'Members',
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
          id: 'members-page-size',
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

  function memberRow(member) {
    const { user } = member;
    const isSelf = user.id === app.viewer.user?.id;
    return h(
      'tr',
      {
        role: 'row',
        class: 'member-row',
        'data-testid': 'member-row',
        'data-user-id': user.id,
        'data-username': user.username,
        'data-role': member.role,
        'data-focus-key': user.id,
      },
      h(
        'td',
        { role: 'cell', 'data-label': 'User', class: 'cell-name' },
        userName(user, {
          tags: [
            isSelf ? h('span', { class: 'tag', title: 'You are signed in as this user' }, 'you') : null,
            user.state === 'DISABLED' ? h('span', { class: 'tag tag-muted', title: 'This user cannot sign in' }, 'disabled') : null,
          ],
        }),
      ),
      h('td', { role: 'cell', 'data-label': 'Role' }, roleBadge(member.role, 'member-role-badge')),
      h('td', { role: 'cell', 'data-label': 'Added' }, timeEl(member.addedAt, { style: 'date' })),
      h(
        'td',
        { role: 'cell', class: 'col-actions' },
        access.manageMembers
          ? h(
              'div',
              { class: 'row-actions' },
              menuButton({
                label: `Actions for member ${user.username}`,
                testid: 'member-actions',
                items: () => memberActions(member, isSelf),
              }),
            )
          : null,
      ),
    );
  }

  function memberActions(member, isSelf) {
    const items = ROLES.filter((role) => role !== member.role).map((role) => ({
      label: `Change role to ${ROLE_LABELS[role]}`,
      testid: `action-role-${role.toLowerCase().replace('_', '-')}`,
      icon: 'shield',
      onSelect: () => setRole(member, role, isSelf),
    }));
    items.push('separator', {
      label: 'Remove from project',
      testid: 'action-remove',
      icon: 'trash',
      danger: true,
      onSelect: () => remove(member, isSelf),
    });
    return items;
  }

  // ---- actions -----------------------------------------------------------------

  function rowOf(member) {
    return tableSlot.querySelector(`tr[data-user-id="${CSS.escape(member.user.id)}"]`);
  }

  /** Whether a change to one's own membership takes away managing it. */
  function losesPower(isSelf, role) {
    return isSelf && app.viewer.kind === 'USER' && role !== 'OWNER';
  }

  async function setRole(member, role, isSelf) {
    const input = { projectId: state.data.project.id, userId: member.user.id, role };
    const done = `${member.user.username} is now ${ROLE_LABELS[role]} of this project.`;
    if (losesPower(isSelf, role)) {
      confirmDialog({
        title: 'Lower your own role?',
        confirmLabel: `Become ${ROLE_LABELS[role]}`,
        message: h('p', {}, `As ${ROLE_LABELS[role]} you can no longer manage this project’s members; only an administrator or another owner can make you Owner again.`),
        onConfirm: async () => {
          await gql(SET_PROJECT_MEMBER_ROLE, { input });
          announce(done);
          await load();
        },
      });
      return;
    }
    clearRowErrors(tableSlot);
    const row = rowOf(member);
    row?.setAttribute('aria-busy', 'true');
    try {
      await gql(SET_PROJECT_MEMBER_ROLE, { input });
      announce(done);
      await load();
    } catch (error) {
      row?.removeAttribute('aria-busy');
      if (!error.handled) showRowError(tableSlot, row, `${member.user.username}: ${error.message}`, { 'data-user-id': member.user.id });
    }
  }

  function remove(member, isSelf) {
    const project = state.data.project;
    const leaving = isSelf && app.viewer.kind === 'USER';
    confirmDialog({
      title: leaving ? 'Leave this project?' : 'Remove member?',
      confirmLabel: leaving ? 'Leave project' : 'Remove member',
      message: [
        leaving
          ? h('p', {}, 'You will no longer see ', h('strong', {}, project.name), '.')
          : h('p', {}, 'Remove ', h('strong', { 'data-testid': 'confirm-name' }, member.user.username), ' from ', h('strong', {}, project.name), '?'),
        h('p', {}, 'The API keys they created stay with the project and keep working.'),
      ],
      onConfirm: async () => {
        await gql(REMOVE_PROJECT_MEMBER, { input: { projectId: project.id, userId: member.user.id } });
        announce(leaving ? `You left ${project.name}.` : `${member.user.username} removed from ${project.name}.`);
        if (leaving) {
          // This project is gone for us: back to the list, with fresh powers.
          history.replaceState(null, '', '#/projects');
          app.reload();
          return;
        }
        if (state.data.project.members.edges.length === 1 && state.index > 0) state.index -= 1;
        await load();
      },
    });
  }

  /** Every user (up to PICKER_PAGES pages), for the Add Member picker. */
  async function loadUsers() {
    const users = [];
    let after = null;
    for (let page = 0; page < PICKER_PAGES; page += 1) {
      const data = await gql(USER_CHOICES, { first: PICKER_PAGE_SIZE, after });
      users.push(...data.users.edges.map(({ node }) => node));
      if (!data.users.pageInfo.hasNextPage) return { users, complete: true };
      after = data.users.pageInfo.endCursor;
    }
    return { users, complete: false };
  }

  async function openAdd(button) {
    setBusy(button, true);
    let choices;
    try {
      choices = await loadUsers();
    } catch (error) {
      if (!error.handled) announce(`Could not load the users: ${error.message}`, 'error');
      return;
    } finally {
      setBusy(button, false);
    }
    if (!root.isConnected) return;
    // Those listed on this page are members already (the server refuses
    // the others with CONFLICT).
    const listed = new Set(state.data.project.members.edges.map(({ node }) => node.user.id));
    const candidates = choices.users.filter((user) => !listed.has(user.id));
    if (candidates.length === 0) {
      announce('Every user is a member of this project already. Add users on the Users page first.', 'error');
      return;
    }
    const project = state.data.project;
    formDialog({
      title: 'Add Member',
      testid: 'member-dialog',
      intro: h('span', {}, 'The user works in project ', h('strong', {}, project.name), ' with the role you choose, from their next request on.'),
      submitLabel: 'Add',
      submitTestid: 'member-submit',
      fields: [
        field({
          label: 'User',
          name: 'userId',
          type: 'select',
          testid: 'member-user',
          options: candidates.map((user) => ({
            value: user.id,
            label: `${user.displayName && user.displayName !== user.username ? `${user.displayName} (${user.username})` : user.username}${user.state === 'DISABLED' ? ' — disabled' : ''}`,
          })),
          hint: choices.complete ? null : `Only the first ${PICKER_PAGES * PICKER_PAGE_SIZE} users are listed.`,
        }),
        field({
          label: 'Role',
          name: 'role',
          type: 'select',
          testid: 'member-role',
          value: 'MEMBER',
          options: ROLES.map((role) => ({ value: role, label: ROLE_LABELS[role] })),
          hint: ROLES.map((role) => ROLE_HINTS[role]).join(' '),
        }),
      ],
      onSubmit: async (values) => {
        const data = await gql(ADD_PROJECT_MEMBER, { input: { projectId: project.id, userId: values.userId, role: values.role } });
        const { member } = data.addProjectMember;
        announce(`${member.user.username} added to ${project.name} as ${ROLE_LABELS[member.role]}.`);
        await load();
      },
    });
  }

  load();
}
