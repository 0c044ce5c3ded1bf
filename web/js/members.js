// The Members tab of a project: who works in it, with which role. Everyone
// who sees the project sees its members; administrators and the project's
// OWNERs (users or keys) change roles and remove members. Adding one means
// picking a user, and only administrators can list users, so only they are
// offered Add Member.
//
// Groups of an identity provider are members too (Group members): everyone
// in the group works in the project with the group's role, or their own if
// it is higher. Adding a group means typing its name, so whoever manages
// the members adds groups.

import { h, icon, clear, timeEl, append } from './dom.js';
import { gql, mutate } from './api.js';
import { PROJECT_MEMBERS, ADD_PROJECT_MEMBER, SET_PROJECT_MEMBER_ROLE, REMOVE_PROJECT_MEMBER } from './queries.js';
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
import { loadUserChoices, PICKER_LIMIT } from './users.js';

const ROLES = ['OWNER', 'MEMBER', 'READ_ONLY'];
const ROLE_HINTS = {
  OWNER: 'Owner manages the project, its keys and its members.',
  MEMBER: 'Member manages member and read-only keys.',
  READ_ONLY: 'Read-only reads the project and its keys, and changes nothing.',
};

export function membersView(root, app, projectId) {
  const state = { cursors: [null], index: 0, size: 20, data: null };
  const body = h('div', { class: 'view-body' });
  root.append(body);
  let tableSlot = null;
  let groupsSlot = null;
  let groupCountEl = null;
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
      keepFocus(groupsSlot, renderGroups);
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
    groupsSlot = h('div', { class: 'groups-table-slot' });
    groupCountEl = h('span', { class: 'count', 'data-testid': 'group-count' });
    const addGroupButton = access.manageMembers
      ? h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'group-add' }, icon('plus'), h('span', {}, 'Add Group'))
      : null;
    addGroupButton?.addEventListener('click', openAddGroup);

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
      projectTabs(project.id, 'members', access),
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
      h(
        'section',
        { class: 'card card-flush', 'aria-labelledby': 'groups-title', 'data-testid': 'group-members' },
        h(
          'div',
          { class: 'card-head' },
          h('h2', { id: 'groups-title', class: 'card-title' }, 'Group members ', groupCountEl),
          h('div', { class: 'toolbar' }, addGroupButton),
        ),
        h(
          'p',
          { class: 'card-note muted' },
          icon('users'),
          ' Everyone an identity provider puts in one of these groups works in this project with the group’s role (or their own, if higher). Groups are read at each sign-in.',
        ),
        groupsSlot,
      ),
    ]);
  }

  // ---- group members -----------------------------------------------------------

  function renderGroups() {
    clear(groupsSlot);
    const groups = state.data.project.groupMembers;
    groupCountEl.textContent = String(groups.length);
    if (groups.length === 0) {
      groupsSlot.append(h('div', { class: 'empty empty-sm', 'data-testid': 'groups-empty' }, h('p', {}, 'No group is a member.')));
      return;
    }
    groupsSlot.append(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-members', role: 'table', 'aria-labelledby': 'groups-title', 'data-testid': 'groups-table' },
          h(
            'thead',
            { role: 'rowgroup' },
            h(
              'tr',
              { role: 'row' },
              ['Group', 'Role', 'Added'].map((label) => h('th', { scope: 'col', role: 'columnheader' }, label)),
              h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')),
            ),
          ),
          h('tbody', { role: 'rowgroup' }, groups.map(groupRow)),
        ),
      ),
    );
  }

  function groupRow(member) {
    return h(
      'tr',
      { role: 'row', class: 'group-row', 'data-testid': 'group-row', 'data-group': member.group, 'data-role': member.role, 'data-focus-key': `group:${member.group}` },
      h('td', { role: 'cell', 'data-label': 'Group', class: 'cell-name' }, icon('users'), ' ', h('span', { class: 'row-title', 'data-testid': 'group-name' }, member.group)),
      h('td', { role: 'cell', 'data-label': 'Role' }, roleBadge(member.role, 'group-role-badge')),
      h('td', { role: 'cell', 'data-label': 'Added' }, timeEl(member.addedAt, { style: 'date' })),
      h(
        'td',
        { role: 'cell', class: 'col-actions' },
        access.manageMembers
          ? h(
              'div',
              { class: 'row-actions' },
              menuButton({ label: `Actions for group ${member.group}`, testid: 'group-actions', items: () => groupActions(member) }),
            )
          : null,
      ),
    );
  }

  function groupActions(member) {
    const items = ROLES.filter((role) => role !== member.role).map((role) => ({
      label: `Change role to ${ROLE_LABELS[role]}`,
      testid: `action-role-${role.toLowerCase().replace('_', '-')}`,
      icon: 'shield',
      onSelect: () => setGroupRole(member, role),
    }));
    items.push('separator', { label: 'Remove from project', testid: 'action-remove', icon: 'trash', danger: true, onSelect: () => removeGroup(member) });
    return items;
  }

  async function setGroupRole(member, role) {
    clearRowErrors(groupsSlot);
    const row = groupsSlot.querySelector(`tr[data-group="${CSS.escape(member.group)}"]`);
    row?.setAttribute('aria-busy', 'true');
    try {
      await mutate('setProjectGroupRole', { projectId: state.data.project.id, group: member.group, role });
      announce(`Group ${member.group} is now ${ROLE_LABELS[role]} of this project.`);
      await load();
    } catch (error) {
      row?.removeAttribute('aria-busy');
      if (!error.handled) showRowError(groupsSlot, row, `${member.group}: ${error.message}`, { 'data-group': member.group });
    }
  }

  function removeGroup(member) {
    const project = state.data.project;
    confirmDialog({
      title: 'Remove group?',
      confirmLabel: 'Remove group',
      message: [
        h('p', {}, 'Remove the group ', h('strong', { 'data-testid': 'confirm-name' }, member.group), ' from ', h('strong', {}, project.name), '?'),
        h('p', {}, 'From their next request on, the people in it keep only the role of their own membership here, if they have one.'),
      ],
      onConfirm: async () => {
        await mutate('removeProjectGroup', { projectId: project.id, group: member.group });
        announce(`Group ${member.group} removed from ${project.name}.`);
        await load();
      },
    });
  }

  function openAddGroup() {
    const project = state.data.project;
    formDialog({
      title: 'Add Group',
      testid: 'group-dialog',
      intro: h('span', {}, 'Everyone in the group works in project ', h('strong', {}, project.name), ' with this role, from their next sign-in on.'),
      submitLabel: 'Add',
      submitTestid: 'group-add-submit',
      fields: [
        field({
          label: 'Group',
          name: 'group',
          testid: 'group-add-name',
          required: true,
          maxlength: 256,
          spellcheck: 'false',
          autocomplete: 'off',
          hint: 'As the identity provider names it in the groups claim (e.g. “payments-team”, or a path such as “/acme/payments”).',
        }),
        field({
          label: 'Role',
          name: 'role',
          type: 'select',
          testid: 'group-add-role',
          value: 'MEMBER',
          options: ROLES.map((role) => ({ value: role, label: ROLE_LABELS[role] })),
          hint: ROLES.map((role) => ROLE_HINTS[role]).join(' '),
        }),
      ],
      onSubmit: async (values) => {
        const group = values.group.trim();
        await mutate('addProjectGroup', { projectId: project.id, group, role: values.role });
        announce(`Group ${group} added to ${project.name} as ${ROLE_LABELS[values.role]}.`);
        await load();
      },
    });
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

  async function openAdd(button) {
    setBusy(button, true);
    let choices;
    try {
      choices = await loadUserChoices();
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
          hint: choices.complete ? null : `Only the first ${PICKER_LIMIT} users are listed.`,
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
