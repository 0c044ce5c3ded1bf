// The administrators' Users page: the people who sign in to keyward. List
// (paged), add, disable / enable, reset a password, make or unmake an
// administrator, edit the display name, sign out everywhere, delete (a
// DISABLED user only, as only an inactive key can be deleted).

import { h, icon, clear, timeEl } from './dom.js';
import { gql } from './api.js';
import {
  USERS,
  CREATE_USER,
  UPDATE_USER,
  SET_USER_STATE,
  RESET_USER_PASSWORD,
  DELETE_USER,
  SIGN_OUT_EVERYWHERE,
  viewInApiUrl,
} from './queries.js';
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
  userStateBadge,
  userName,
  showRowError,
  clearRowErrors,
  PASSWORD_HINT,
} from './ui.js';

export function usersView(root, app) {
  const state = { cursors: [null], index: 0, size: 20, data: null };
  const content = h('div', { class: 'view-body' });
  const addButton = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'user-add' }, icon('plus'), h('span', {}, 'Add User'));
  addButton.addEventListener('click', openCreate);

  root.append(
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('h1', { tabindex: '-1' }, 'Users'),
        h(
          'p',
          { class: 'lead' },
          'The people who sign in to keyward. Administrators manage everything; everyone else works in the projects they are members of, with their role there.',
        ),
      ),
      h('div', { class: 'page-actions' }, addButton),
    ),
    content,
  );

  const me = () => app.viewer.user?.id ?? null;

  async function load() {
    content.setAttribute('aria-busy', 'true');
    try {
      state.data = await gql(USERS, { first: state.size, after: state.cursors[state.index] });
      if (!root.isConnected) return; // navigated away meanwhile
      app.refreshViewer(state.data.viewer);
      if (!app.can.manageUsers) {
        // No longer an administrator (changed meanwhile): the console follows.
        app.reload();
        return;
      }
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
    const connection = state.data.users;
    const table = h(
      'table',
      { class: 'table table-users', role: 'table', 'aria-label': 'Users', 'data-testid': 'users-table' },
      h(
        'thead',
        { role: 'rowgroup' },
        h(
          'tr',
          { role: 'row' },
          ['State', 'User', 'Administrator', 'Projects', 'Last sign-in', 'Created'].map((label) =>
            h('th', { scope: 'col', role: 'columnheader' }, label),
          ),
          h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')),
        ),
      ),
      h('tbody', { role: 'rowgroup' }, connection.edges.map(({ node }) => userRow(node))),
    );
    content.append(
      h(
        'div',
        { class: 'card card-flush' },
        h('div', { class: 'table-wrap' }, table),
        pager({
          label: 'Users',
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
            id: 'users-page-size',
            size: state.size,
            onChange: (size) => {
              state.size = size;
              state.cursors = [null];
              state.index = 0;
              load();
            },
          }),
        }),
      ),
    );
  }

  function userRow(user) {
    const isSelf = user.id === me();
    const projects = user.memberships.length;
    return h(
      'tr',
      {
        role: 'row',
        class: `user-row state-${user.state.toLowerCase()}`,
        'data-testid': 'user-row',
        'data-user-id': user.id,
        'data-username': user.username,
        'data-state': user.state,
        'data-focus-key': user.id,
      },
      h('td', { role: 'cell', 'data-label': 'State', class: 'cell-state' }, userStateBadge(user.state)),
      h(
        'td',
        { role: 'cell', 'data-label': 'User', class: 'cell-name' },
        userName(user, { tags: isSelf ? h('span', { class: 'tag', title: 'You are signed in as this user' }, 'you') : null }),
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Administrator', 'data-testid': 'user-administrator', 'data-administrator': String(user.administrator) },
        user.administrator ? h('span', { class: 'admin-tag' }, icon('shield', { size: 14 }), ' Administrator') : h('span', { class: 'muted' }, 'No'),
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Projects', 'data-testid': 'user-project-count' },
        user.administrator ? h('span', { class: 'muted', title: 'Administrators see every project' }, 'All') : `${projects}`,
      ),
      h('td', { role: 'cell', 'data-label': 'Last sign-in' }, timeEl(user.lastSignInAt, { style: 'relative', fallback: 'Never' })),
      h('td', { role: 'cell', 'data-label': 'Created' }, timeEl(user.createdAt, { style: 'date' })),
      h(
        'td',
        { role: 'cell', class: 'col-actions' },
        h(
          'div',
          { class: 'row-actions' },
          menuButton({
            label: `Actions for user ${user.username}`,
            testid: 'user-actions',
            items: () => userActions(user, isSelf),
          }),
        ),
      ),
    );
  }

  function userActions(user, isSelf) {
    const items = [];
    if (user.state === 'ACTIVE') {
      items.push({ label: 'Disable', testid: 'action-disable', icon: 'power', onSelect: () => disable(user, isSelf) });
    } else {
      items.push({ label: 'Enable', testid: 'action-enable', icon: 'check', onSelect: () => run(user, SET_USER_STATE, { id: user.id, state: 'ACTIVE' }, `User ${user.username} enabled.`) });
    }
    items.push({ label: 'Edit', testid: 'action-edit', icon: 'pencil', onSelect: () => edit(user) });
    items.push({ label: 'Reset password', testid: 'action-reset-password', icon: 'lock', onSelect: () => resetPassword(user) });
    if (user.administrator) {
      items.push({ label: 'Remove administrator', testid: 'action-unmake-admin', icon: 'shield', onSelect: () => setAdministrator(user, false, isSelf) });
    } else {
      items.push({ label: 'Make administrator', testid: 'action-make-admin', icon: 'shield', onSelect: () => setAdministrator(user, true, isSelf) });
    }
    items.push({ label: 'Sign out everywhere', testid: 'action-sign-out-everywhere', icon: 'logout', onSelect: () => signOutEverywhere(user, isSelf) });
    // GraphiQL prefilled with a node(id:) query, not run.
    items.push({ label: 'View in API', testid: 'action-view-in-api', icon: 'api', onSelect: () => location.assign(viewInApiUrl(user.id)) });
    if (user.state === 'DISABLED') {
      items.push('separator', { label: 'Delete', testid: 'action-delete', icon: 'trash', danger: true, onSelect: () => deleteUser(user) });
    }
    return items;
  }

  // ---- actions -----------------------------------------------------------------

  function rowOf(user) {
    return content.querySelector(`tr[data-user-id="${CSS.escape(user.id)}"]`);
  }

  /** Runs a row action's mutation; its error shows under the row. */
  async function run(user, mutation, input, done) {
    clearRowErrors(content);
    const row = rowOf(user);
    row?.setAttribute('aria-busy', 'true');
    try {
      await gql(mutation, { input });
      announce(done);
      await load();
    } catch (error) {
      row?.removeAttribute('aria-busy');
      if (!error.handled) showRowError(content, row, `${user.username}: ${error.message}`, { 'data-user-id': user.id });
    }
  }

  function disable(user, isSelf) {
    if (!isSelf) {
      run(user, SET_USER_STATE, { id: user.id, state: 'DISABLED' }, `User ${user.username} disabled.`);
      return;
    }
    confirmDialog({
      title: 'Disable your own account?',
      confirmLabel: 'Disable and sign out',
      message: [
        h('p', {}, 'You are signed in as ', h('strong', {}, user.username), '.'),
        h('p', {}, 'A disabled user cannot sign in, and your session ends at once. Another administrator can enable you again.'),
      ],
      onConfirm: async () => {
        await gql(SET_USER_STATE, { input: { id: user.id, state: 'DISABLED' } });
        app.signedOutByServer(`Your account ${user.username} was disabled, so you were signed out.`);
      },
    });
  }

  function setAdministrator(user, administrator, isSelf) {
    const input = { id: user.id, administrator };
    if (!isSelf || administrator) {
      run(user, UPDATE_USER, input, administrator ? `${user.username} is now an administrator.` : `${user.username} is no longer an administrator.`);
      return;
    }
    confirmDialog({
      title: 'Stop being an administrator?',
      confirmLabel: 'Remove administrator',
      message: [
        h('p', {}, 'You will keep only your roles in the projects you are a member of, and lose this page.'),
        h('p', {}, 'Only another administrator can make you one again.'),
      ],
      onConfirm: async () => {
        await gql(UPDATE_USER, { input });
        announce('You are no longer an administrator.');
        app.reload();
      },
    });
  }

  function edit(user) {
    formDialog({
      title: `Edit user ${user.username}`,
      testid: 'edit-dialog',
      intro: 'The username cannot change. The display name is what the console and the audit trail show.',
      submitLabel: 'Save',
      submitTestid: 'edit-submit',
      fields: [
        field({ label: 'Display name', name: 'displayName', testid: 'edit-display-name', required: true, maxlength: 128, value: user.displayName, autocomplete: 'off' }),
      ],
      onSubmit: async (values) => {
        await gql(UPDATE_USER, { input: { id: user.id, displayName: values.displayName } });
        announce(`User ${user.username} saved.`);
        await load();
      },
    });
  }

  function resetPassword(user) {
    formDialog({
      title: `Reset the password of ${user.username}`,
      testid: 'reset-password-dialog',
      intro: 'Every session of this user ends. Tell them the new password through a safe channel; they can change it under My account.',
      submitLabel: 'Reset password',
      submitTestid: 'reset-password-submit',
      fields: [
        // The username for password managers, which otherwise file the
        // new password under whoever is signed in.
        h('input', { type: 'text', name: 'username', value: user.username, autocomplete: 'username', hidden: true, readonly: true }),
        field({
          label: 'New password',
          name: 'password',
          type: 'password',
          testid: 'reset-password',
          autofocus: true,
          required: true,
          minlength: 12,
          maxlength: 1024,
          autocomplete: 'new-password',
          hint: PASSWORD_HINT,
        }),
      ],
      onSubmit: async (values) => {
        await gql(RESET_USER_PASSWORD, { input: { id: user.id, password: values.password } });
        announce(`Password of ${user.username} reset.`);
        await load();
      },
    });
  }

  function signOutEverywhere(user, isSelf) {
    confirmDialog({
      title: isSelf ? 'Sign out everywhere?' : `Sign ${user.username} out everywhere?`,
      confirmLabel: 'Sign out everywhere',
      message: isSelf
        ? h('p', {}, 'Every session of yours ends, this one included.')
        : h('p', {}, 'Every session of ', h('strong', {}, user.username), ' ends at once; they can sign in again.'),
      onConfirm: async () => {
        await gql(SIGN_OUT_EVERYWHERE, { input: { userId: user.id } });
        if (isSelf) {
          app.signedOutByServer('You signed out everywhere.');
          return;
        }
        announce(`${user.username} was signed out everywhere.`);
      },
    });
  }

  function deleteUser(user) {
    confirmDialog({
      title: 'Delete user?',
      confirmLabel: 'Delete user',
      message: [
        h('p', {}, 'Delete the user ', h('strong', { 'data-testid': 'confirm-name' }, user.username), '?'),
        h(
          'p',
          {},
          'Their project memberships go with them. The API keys they created stay with their projects and keep working; the keys table then shows no creator. This cannot be undone.',
        ),
      ],
      onConfirm: async () => {
        await gql(DELETE_USER, { input: { id: user.id } });
        announce(`User ${user.username} deleted.`);
        if (state.data.users.edges.length === 1 && state.index > 0) state.index -= 1;
        await load();
      },
    });
  }

  function openCreate() {
    formDialog({
      title: 'Add User',
      testid: 'user-dialog',
      intro: 'The new user signs in with this username and password, and sees only the projects they are added to (administrators see all).',
      submitLabel: 'Create',
      submitTestid: 'user-create-submit',
      fields: [
        field({
          label: 'Username',
          name: 'username',
          testid: 'user-create-username',
          required: true,
          maxlength: 128,
          pattern: '[^:]+',
          autocomplete: 'off',
          spellcheck: 'false',
          hint: '1 to 128 characters, no “:”; unique regardless of case.',
        }),
        field({ label: 'Display name', name: 'displayName', testid: 'user-create-display-name', maxlength: 128, autocomplete: 'off', optional: true, hint: 'Left empty, the username.' }),
        field({
          label: 'Password',
          name: 'password',
          type: 'password',
          testid: 'user-create-password',
          required: true,
          minlength: 12,
          maxlength: 1024,
          autocomplete: 'new-password',
          hint: `${PASSWORD_HINT} They can change it under My account.`,
        }),
        field({
          label: 'Administrator',
          name: 'administrator',
          type: 'checkbox',
          testid: 'user-create-administrator',
          hint: 'Administrators manage users and every project.',
        }),
      ],
      onSubmit: async (values, form) => {
        const username = values.username.trim();
        const input = { username, password: values.password, administrator: values.administrator === 'on' };
        if (values.displayName.trim() !== '') input.displayName = values.displayName.trim();
        const data = await gql(CREATE_USER, { input });
        form.reset();
        announce(`User ${data.createUser.user.username} created.`);
        await load();
      },
    });
  }

  load();
}
