// The administrators' Single sign-on page: the identity providers people
// sign in through (OpenID Connect), and the access mode that says which of
// the people a provider authenticates may sign in to keyward.
//
// A provider's client secret is write-only: typed into a password field
// when the provider is created (or replaced when edited), never read back,
// so the page has nothing to show of it.

import { h, icon, clear, append, timeEl } from './dom.js';
import { gql, mutate } from './api.js';
import { SINGLE_SIGN_ON } from './queries.js';
import { loadUserChoices } from './users.js';
import {
  field,
  formDialog,
  confirmDialog,
  menuButton,
  errorBox,
  retryButton,
  announce,
  keepFocus,
  showRowError,
  clearRowErrors,
  clearFormErrors,
  showFormError,
  setBusy,
  copyButton,
  uid,
} from './ui.js';

/** A provider's name is a slug used in its URLs (the server decides). */
const NAME_PATTERN = '[a-z0-9\\-]{1,32}';
const DEFAULT_SCOPES = 'openid profile email';
const DEFAULT_USERNAME_CLAIM = 'preferred_username';
const DEFAULT_GROUPS_CLAIM = 'groups';

const MODES = [
  {
    value: 'UNRESTRICTED',
    label: 'Unrestricted',
    hint: 'Anyone the identity provider authenticates may sign in, and sees nothing until given a membership.',
  },
  {
    value: 'RESTRICTED',
    label: 'Restricted',
    hint: 'The allowed users and groups below, and anyone who is a member of a project, directly or through a group.',
  },
  {
    value: 'REQUIRED',
    label: 'Required',
    hint: 'Only the allowed users and groups below.',
  },
];

/** Where the provider sends people back: to register with it. */
export function callbackUrl(name) {
  return `${location.origin}/auth/oidc/${encodeURIComponent(name)}/callback`;
}

/** Scopes as typed (spaces or commas between them) → a list. */
function scopeList(text) {
  return text
    .split(/[\s,]+/)
    .map((scope) => scope.trim())
    .filter(Boolean);
}

/** Group names, one a line (they may hold spaces: "Domain Admins"). */
function groupList(text) {
  return [...new Set(text.split('\n').map((group) => group.trim()).filter(Boolean))];
}

export function ssoView(root, app) {
  const content = h('div', { class: 'view-body' });
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h(
        'div',
        {},
        h('h1', { tabindex: '-1' }, 'Single sign-on'),
        h(
          'p',
          { class: 'lead' },
          'People sign in through your organisation’s identity provider (OpenID Connect), and its groups can be members of projects. The access mode says who may sign in.',
        ),
      ),
    ),
    content,
  );
  let data = null;
  let providersSlot = null;

  async function load() {
    content.setAttribute('aria-busy', 'true');
    try {
      data = await gql(SINGLE_SIGN_ON);
      if (!root.isConnected) return; // navigated away meanwhile
      app.refreshViewer(data.viewer);
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

  /** Loads the providers again, leaving the access mode form (and what is typed there) alone. */
  async function reloadProviders() {
    const fresh = await gql(SINGLE_SIGN_ON);
    if (!root.isConnected) return;
    data.identityProviders = fresh.identityProviders;
    keepFocus(providersSlot, renderProviders);
  }

  function render() {
    providersSlot = h('div', { class: 'providers-table-slot' });
    renderProviders();
    const addButton = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'provider-add' }, icon('plus'), h('span', {}, 'Add Provider'));
    addButton.addEventListener('click', () => openProviderDialog(null));
    clear(content).append(
      h(
        'section',
        { class: 'card card-flush', 'aria-labelledby': 'providers-title' },
        h(
          'div',
          { class: 'card-head' },
          h('h2', { id: 'providers-title', class: 'card-title' }, 'Identity providers'),
          h('div', { class: 'toolbar' }, addButton),
        ),
        providersSlot,
      ),
      accessModeCard(),
    );
  }

  // ---- providers -------------------------------------------------------------------

  function renderProviders() {
    clear(providersSlot);
    const providers = data.identityProviders;
    if (providers.length === 0) {
      providersSlot.append(
        h(
          'div',
          { class: 'empty', 'data-testid': 'providers-empty' },
          icon('users', { size: 32 }),
          h('p', {}, 'No identity provider yet.'),
          h('p', { class: 'muted' }, 'Add one (Keycloak, Entra ID, Okta, Google, GitLab, Dex…) to let people sign in through it.'),
        ),
      );
      return;
    }
    providersSlot.append(
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-providers', role: 'table', 'aria-labelledby': 'providers-title', 'data-testid': 'providers-table' },
          h(
            'thead',
            { role: 'rowgroup' },
            h(
              'tr',
              { role: 'row' },
              ['State', 'Provider', 'Client ID', 'Claims', 'Created'].map((label) => h('th', { scope: 'col', role: 'columnheader' }, label)),
              h('th', { scope: 'col', role: 'columnheader', class: 'col-actions' }, h('span', { class: 'visually-hidden' }, 'Actions')),
            ),
          ),
          h('tbody', { role: 'rowgroup' }, providers.map(providerRow)),
        ),
      ),
    );
  }

  function providerRow(provider) {
    const state = provider.enabled ? 'ENABLED' : 'DISABLED';
    return h(
      'tr',
      {
        role: 'row',
        class: 'provider-row',
        'data-testid': 'provider-row',
        'data-provider-id': provider.id,
        'data-name': provider.name,
        'data-enabled': String(provider.enabled),
        'data-focus-key': provider.id,
      },
      h(
        'td',
        { role: 'cell', 'data-label': 'State', class: 'cell-state' },
        h(
          'span',
          {
            class: `badge ${provider.enabled ? 'badge-active' : 'badge-inactive'}`,
            'data-testid': 'provider-state',
            'data-state': state,
            title: provider.enabled ? 'Enabled: offered on the sign-in page' : 'Disabled: nobody signs in through it',
          },
          h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
          provider.enabled ? 'ENABLED' : 'DISABLED',
        ),
      ),
      h(
        'td',
        { role: 'cell', 'data-label': 'Provider', class: 'cell-name' },
        h('span', { class: 'row-title', 'data-testid': 'provider-name-text' }, provider.name),
        h('div', { class: 'row-sub mono', 'data-testid': 'provider-issuer' }, provider.issuerUrl),
        h(
          'div',
          { class: 'row-sub callback' },
          h('span', {}, 'Redirect URI: '),
          h('code', { 'data-testid': 'provider-callback' }, callbackUrl(provider.name)),
          copyButton(() => callbackUrl(provider.name), { what: 'redirect URI', testid: 'provider-callback-copy', compact: true }),
        ),
      ),
      h('td', { role: 'cell', 'data-label': 'Client ID' }, h('code', { 'data-testid': 'provider-client-id-text' }, provider.clientId)),
      h(
        'td',
        { role: 'cell', 'data-label': 'Claims' },
        h(
          'dl',
          { class: 'facts facts-compact' },
          h('dt', {}, 'Username'),
          h('dd', {}, h('code', {}, provider.usernameClaim)),
          h('dt', {}, 'Groups'),
          h('dd', {}, h('code', {}, provider.groupsClaim)),
          h('dt', {}, 'Scopes'),
          h('dd', {}, h('code', { 'data-testid': 'provider-scopes-text' }, provider.scopes.join(' '))),
        ),
      ),
      h('td', { role: 'cell', 'data-label': 'Created' }, timeEl(provider.createdAt, { style: 'date' })),
      h(
        'td',
        { role: 'cell', class: 'col-actions' },
        h(
          'div',
          { class: 'row-actions' },
          menuButton({
            label: `Actions for identity provider ${provider.name}`,
            testid: 'provider-actions',
            items: () => providerActions(provider),
          }),
        ),
      ),
    );
  }

  function providerActions(provider) {
    return [
      provider.enabled
        ? { label: 'Disable', testid: 'action-disable', icon: 'power', onSelect: () => setEnabled(provider, false) }
        : { label: 'Enable', testid: 'action-enable', icon: 'check', onSelect: () => setEnabled(provider, true) },
      { label: 'Edit', testid: 'action-edit', icon: 'pencil', onSelect: () => openProviderDialog(provider) },
      'separator',
      { label: 'Delete', testid: 'action-delete', icon: 'trash', danger: true, onSelect: () => deleteProvider(provider) },
    ];
  }

  async function setEnabled(provider, enabled) {
    clearRowErrors(providersSlot);
    const row = providersSlot.querySelector(`tr[data-provider-id="${CSS.escape(provider.id)}"]`);
    row?.setAttribute('aria-busy', 'true');
    try {
      await mutate('updateIdentityProvider', { id: provider.id, enabled });
      announce(enabled ? `Identity provider ${provider.name} enabled.` : `Identity provider ${provider.name} disabled: nobody signs in through it.`);
      await reloadProviders();
    } catch (error) {
      row?.removeAttribute('aria-busy');
      if (!error.handled) showRowError(providersSlot, row, `${provider.name}: ${error.message}`, { 'data-provider-id': provider.id });
    }
  }

  function deleteProvider(provider) {
    confirmDialog({
      title: 'Delete identity provider?',
      confirmLabel: 'Delete provider',
      message: [
        h('p', {}, 'Delete the identity provider ', h('strong', { 'data-testid': 'confirm-name' }, provider.name), '?'),
        h(
          'p',
          {},
          'Nobody signs in through it any more, and the identities linked through it go with it. The users stay, with their memberships; sessions already started go on until they end.',
        ),
      ],
      onConfirm: async () => {
        await mutate('deleteIdentityProvider', { id: provider.id });
        announce(`Identity provider ${provider.name} deleted.`);
        await reloadProviders();
      },
    });
  }

  /** Add Provider (`provider` null) or Edit. */
  function openProviderDialog(provider) {
    const editing = provider !== null;
    const callback = h('code', { 'data-testid': 'provider-dialog-callback' }, callbackUrl(provider?.name || '<name>'));
    const dialog = formDialog({
      title: editing ? `Edit identity provider ${provider.name}` : 'Add Provider',
      testid: 'provider-dialog',
      intro: [
        editing
          ? 'Changes apply to the next sign-in. The client secret is never shown again: leave it empty to keep it.'
          : 'keyward reads the issuer’s discovery document now, and refuses a provider it cannot use. Register this redirect URI with the provider: ',
        editing ? null : callback,
      ],
      submitLabel: editing ? 'Save' : 'Add',
      submitTestid: 'provider-submit',
      fields: [
        field({
          label: 'Name',
          name: 'name',
          testid: 'provider-name',
          required: true,
          maxlength: 32,
          pattern: NAME_PATTERN,
          spellcheck: 'false',
          autocomplete: 'off',
          value: provider?.name,
          autofocus: !editing,
          hint: 'Lower-case letters, digits and “-”, at most 32: it is part of the sign-in URLs. People see “Sign in with <name>”.',
        }),
        field({
          label: 'Issuer URL',
          name: 'issuerUrl',
          type: 'url',
          testid: 'provider-issuer-url',
          required: true,
          maxlength: 2048,
          spellcheck: 'false',
          autocomplete: 'off',
          value: provider?.issuerUrl,
          hint: 'The provider’s issuer, e.g. https://keycloak.example.com/realms/acme; its discovery document is at <issuer>/.well-known/openid-configuration.',
        }),
        field({
          label: 'Client ID',
          name: 'clientId',
          testid: 'provider-client-id',
          required: true,
          maxlength: 512,
          spellcheck: 'false',
          autocomplete: 'off',
          value: provider?.clientId,
        }),
        field({
          label: editing ? 'New client secret' : 'Client secret',
          name: 'clientSecret',
          type: 'password',
          testid: 'provider-client-secret',
          required: !editing,
          optional: editing,
          maxlength: 1024,
          // Not a password of the person signed in: no password manager.
          autocomplete: 'new-password',
          hint: editing ? 'Left empty, the current secret stays.' : 'Stored by keyward and never shown again.',
        }),
        field({
          label: 'Scopes',
          name: 'scopes',
          testid: 'provider-scopes',
          required: true,
          maxlength: 1024,
          spellcheck: 'false',
          autocomplete: 'off',
          value: provider ? provider.scopes.join(' ') : DEFAULT_SCOPES,
          hint: 'Separated by spaces; openid is required. Some providers need a scope (e.g. groups) to send groups.',
        }),
        field({
          label: 'Username claim',
          name: 'usernameClaim',
          testid: 'provider-username-claim',
          required: true,
          maxlength: 128,
          spellcheck: 'false',
          autocomplete: 'off',
          value: provider ? provider.usernameClaim : DEFAULT_USERNAME_CLAIM,
          hint: 'The ID token claim that names a new user (made unique if taken).',
        }),
        field({
          label: 'Groups claim',
          name: 'groupsClaim',
          testid: 'provider-groups-claim',
          required: true,
          maxlength: 128,
          spellcheck: 'false',
          autocomplete: 'off',
          value: provider ? provider.groupsClaim : DEFAULT_GROUPS_CLAIM,
          hint: 'The claim listing the person’s groups, read at each sign-in.',
        }),
      ],
      onSubmit: async (values, form) => {
        const input = {
          name: values.name.trim(),
          issuerUrl: values.issuerUrl.trim(),
          clientId: values.clientId.trim(),
          scopes: scopeList(values.scopes),
          usernameClaim: values.usernameClaim.trim(),
          groupsClaim: values.groupsClaim.trim(),
        };
        if (values.clientSecret !== '') input.clientSecret = values.clientSecret;
        try {
          if (editing) await mutate('updateIdentityProvider', { id: provider.id, ...input });
          else await mutate('createIdentityProvider', input);
        } finally {
          // The secret never stays in the page longer than the request.
          form.elements.clientSecret.value = '';
        }
        announce(editing ? `Identity provider ${input.name} saved.` : `Identity provider ${input.name} added.`);
        await reloadProviders();
      },
    });
    // The redirect URI follows the name being typed.
    const nameInput = dialog.querySelector('input[name="name"]');
    nameInput?.addEventListener('input', () => {
      callback.textContent = callbackUrl(nameInput.value.trim() || '<name>');
    });
  }

  // ---- access mode -----------------------------------------------------------------

  function accessModeCard() {
    const current = data.accessControl;
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'access-mode-save' }, h('span', {}, 'Save access mode'));
    const done = h('div', { class: 'form-done' });
    const modeName = uid('access-mode');
    const modeChoice = h(
      'fieldset',
      { class: 'choice-list' },
      h('legend', {}, 'Who may sign in through an identity provider'),
      MODES.map((mode) => {
        const id = `${modeName}-${mode.value.toLowerCase()}`;
        return h(
          'label',
          { for: id, class: 'choice', 'data-testid': `access-mode-${mode.value.toLowerCase()}` },
          h('input', { type: 'radio', id, name: 'mode', value: mode.value, checked: current.mode === mode.value }),
          h('span', { class: 'choice-text' }, h('strong', {}, mode.label), h('span', { class: 'muted' }, mode.hint)),
        );
      }),
    );
    const usersSlot = h('div', { class: 'check-list', 'data-testid': 'access-users' }, h('span', { class: 'muted' }, 'Loading users…'));
    const form = h(
      'form',
      { class: 'form', 'aria-labelledby': 'access-mode-title', 'data-testid': 'access-mode-form' },
      h('div', { class: 'form-error-slot' }),
      done,
      modeChoice,
      h('fieldset', { class: 'allowed-users' }, h('legend', {}, 'Allowed users'), usersSlot),
      field({
        label: 'Allowed groups',
        name: 'allowedGroups',
        type: 'textarea',
        testid: 'access-groups',
        rows: 4,
        value: current.allowedGroups.join('\n'),
        hint: 'One group a line, as the provider names it in the groups claim.',
        spellcheck: 'false',
      }),
      h('div', { class: 'form-actions' }, save),
    );
    fillUsers(usersSlot, new Set(current.allowedUsers));

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFormErrors(form);
      clear(done);
      if (!form.reportValidity()) return;
      const mode = form.elements.mode.value;
      const allowedUsers = [...form.querySelectorAll('input[name="allowedUser"]:checked')].map((box) => box.value);
      const allowedGroups = groupList(form.elements.allowedGroups.value);
      setBusy(save, true);
      try {
        await mutate('setAccessMode', { mode, allowedUsers, allowedGroups });
        form.elements.allowedGroups.value = allowedGroups.join('\n');
        done.append(
          h(
            'div',
            { class: 'alert alert-success', role: 'status', 'data-testid': 'access-mode-saved' },
            icon('check'),
            h('span', {}, `Access mode saved: ${MODES.find((m) => m.value === mode)?.label ?? mode}. It applies from the next sign-in; sessions already started go on.`),
          ),
        );
        announce('Access mode saved.');
      } catch (error) {
        if (!error.handled) showFormError(form, error);
      } finally {
        setBusy(save, false);
      }
    });

    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'access-mode-title', 'data-testid': 'access-mode' },
      h('h2', { id: 'access-mode-title', class: 'card-title' }, icon('shield'), 'Access mode'),
      h(
        'p',
        { class: 'muted' },
        'Applies to people signing in through an identity provider; a person it keeps out is told so, and gets no user. Passwords and API keys are not affected.',
      ),
      form,
    );
  }

  /** The users as checkboxes; `allowed` (user ids) checked, even those not listed. */
  async function fillUsers(slot, allowed) {
    let choices;
    try {
      choices = await loadUserChoices();
    } catch (error) {
      if (error.handled || !slot.isConnected) return;
      // The ids already allowed stay allowed when the form is saved.
      append(clear(slot), [errorBox(`Could not load the users: ${error.message}`), [...allowed].map((id) => userBox({ id, username: id }, true))]);
      return;
    }
    if (!slot.isConnected) return;
    const listed = new Set(choices.users.map((user) => user.id));
    const unlisted = [...allowed].filter((id) => !listed.has(id)).map((id) => ({ id, username: id, displayName: `User ${id}` }));
    append(clear(slot), [
      choices.users.length === 0 ? h('span', { class: 'muted' }, 'No users yet.') : null,
      [...choices.users, ...unlisted].map((user) => userBox(user, allowed.has(user.id))),
      choices.complete ? null : h('p', { class: 'hint' }, 'Only the first users are listed; those allowed already stay allowed.'),
    ]);
  }

  function userBox(user, checked) {
    const id = uid('allowed-user');
    const label = user.displayName && user.displayName !== user.username ? `${user.displayName} (${user.username})` : user.username;
    return h(
      'label',
      { for: id, class: 'check', 'data-testid': 'access-user', 'data-username': user.username },
      h('input', { type: 'checkbox', id, name: 'allowedUser', value: user.id, class: 'checkbox', checked }),
      h('span', {}, label, user.state === 'DISABLED' ? h('span', { class: 'muted' }, ' — disabled') : null),
    );
  }

  load();
}
