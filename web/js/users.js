// The administrators' Users page: the people who sign in to keyward. List
// (paged), add, disable / enable, reset a password, make or unmake an
// administrator, edit the display name, sign out everywhere, delete (a
// DISABLED user only, as only an inactive key can be deleted). Each user's
// identities at identity providers and groups (as of their last sign-in
// through one) show in the list; Link identity lets an existing user sign in
// through a provider as the person it knows by that subject.

import { h, icon, clear, timeEl } from './dom.js';
import { gql, mutate } from './api.js';
import {
  USERS,
  USER_CHOICES,
  CREATE_USER,
  UPDATE_USER,
  SET_USER_STATE,
  RESET_USER_PASSWORD,
  DELETE_USER,
  SIGN_OUT_EVERYWHERE,
  PROVIDER_NAMES,
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

/** The most users a picker loads (pages of 100). */
const PICKER_PAGES = 10;
const PICKER_PAGE_SIZE = 100;

/**
 * Every user (up to PICKER_PAGES pages), for pickers (administrators only
 * list users): `{users, complete}`, `complete` false when some were left out.
 */
export async function loadUserChoices() {
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

/** The most users a picker lists. */
export const PICKER_LIMIT = PICKER_PAGES * PICKER_PAGE_SIZE;

/**
 * A user's identities at identity providers (the provider's name as a tag,
 * the subject in its tooltip) and groups; "—" when they have none.
 */
export function identitiesAndGroups(user) {
  const identities = user.identities || [];
  const groups = user.groups || [];
  if (identities.length === 0 && groups.length === 0) return h('span', { class: 'muted', 'data-testid': 'user-identities' }, '—');
  return [
    h(
      'div',
      { class: 'tag-list', 'data-testid': 'user-identities' },
      identities.map((identity) =>
        h(
          'span',
          {
            class: 'tag tag-muted',
            'data-testid': 'user-identity',
            'data-provider': identity.provider,
            'data-subject': identity.subject,
            title: `Signs in through ${identity.provider} as subject ${identity.subject}`,
          },
          icon('users', { size: 12 }),
          ` ${identity.provider}`,
        ),
      ),
    ),
    groups.length ? h('div', { class: 'row-sub', 'data-testid': 'user-groups', title: 'Groups as of their last sign-in through a provider' }, `Groups: ${groups.join(', ')}`) : null,
  ];
}

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
          ['State', 'User', 'Administrator', 'Projects', 'Identities and groups', 'Last sign-in', 'Created'].map((label) =>
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
      h('td', { role: 'cell', 'data-label': 'Identities and groups' }, identitiesAndGroups(user)),
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
    items.push({ label: 'Link identity', testid: 'action-link-identity', icon: 'users', onSelect: () => linkIdentity(user) });
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

  async function linkIdentity(user) {
    let providers;
    try {
      providers = (await gql(PROVIDER_NAMES)).identityProviders;
    } catch (error) {
      if (!error.handled) announce(`Could not load the identity providers: ${error.message}`, 'error');
      return;
    }
    if (!root.isConnected) return;
    if (providers.length === 0) {
      announce('There is no identity provider yet: add one on the Single sign-on page first.', 'error');
      return;
    }
    formDialog({
      title: `Link an identity to ${user.username}`,
      testid: 'link-identity-dialog',
      intro: 'Whoever signs in through the provider with this subject (its “sub” claim) then signs in as this user, with their memberships. Use it when someone who had a password, or another provider, moves to this one.',
      submitLabel: 'Link identity',
      submitTestid: 'link-identity-submit',
      fields: [
        field({
          label: 'Identity provider',
          name: 'provider',
          type: 'select',
          testid: 'link-identity-provider',
          options: providers.map((provider) => ({ value: provider.name, label: provider.enabled ? provider.name : `${provider.name} — disabled` })),
        }),
        field({
          label: 'Subject',
          name: 'subject',
          testid: 'link-identity-subject',
          required: true,
          maxlength: 255,
          spellcheck: 'false',
          autocomplete: 'off',
          hint: 'The provider’s stable identifier of the person (the ID token’s “sub”), not their username.',
        }),
      ],
      onSubmit: async (values) => {
        await mutate('linkUserIdentity', { userId: user.id, provider: values.provider, subject: values.subject.trim() });
        announce(`${user.username} may now sign in through ${values.provider}.`);
        await load();
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
