// My account: what a signed-in user changes about themself. Their display
// name, their password (with the current one), and "sign out everywhere",
// which ends every session of theirs, this one included.

import { h, icon, clear, timeEl } from './dom.js';
import { gql, signInMethod, setCredentials } from './api.js';
import { ACCOUNT, UPDATE_USER, CHANGE_PASSWORD, SIGN_OUT_EVERYWHERE } from './queries.js';
import {
  field,
  confirmDialog,
  errorBox,
  retryButton,
  announce,
  keepFocus,
  roleBadge,
  clearFormErrors,
  showFormError,
  setFieldError,
  setBusy,
  PASSWORD_HINT,
} from './ui.js';

export function accountView(root, app) {
  const content = h('div', { class: 'view-body' });
  root.append(
    h(
      'div',
      { class: 'page-head' },
      h('div', {}, h('h1', { tabindex: '-1' }, 'My account'), h('p', { class: 'lead' }, 'Your name as others see it, your password, and your sessions.')),
    ),
    content,
  );
  let user = null;

  async function load() {
    content.setAttribute('aria-busy', 'true');
    try {
      const data = await gql(ACCOUNT);
      if (!root.isConnected) return; // navigated away meanwhile
      app.refreshViewer(data.viewer);
      user = data.viewer.user;
      if (!user) {
        // Not a user (e.g. an API key): nothing to show here.
        app.navigate('#/projects');
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
    clear(content).append(profileCard(), projectsCard(), passwordCard(), sessionsCard());
  }

  // ---- profile -------------------------------------------------------------------

  function profileCard() {
    const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'account-save' }, h('span', {}, 'Save'));
    const form = h(
      'form',
      { class: 'form account-form', 'aria-labelledby': 'account-profile-title' },
      h('div', { class: 'form-error-slot' }),
      h(
        'dl',
        { class: 'facts' },
        h('dt', {}, 'Username'),
        h('dd', {}, h('code', { 'data-testid': 'account-username' }, user.username)),
        h('dt', {}, 'Administrator'),
        h('dd', { 'data-testid': 'account-administrator' }, user.administrator ? 'Yes: you manage users and every project' : 'No'),
        h('dt', {}, 'Last sign-in'),
        h('dd', {}, timeEl(user.lastSignInAt, { fallback: 'Never' })),
        h('dt', {}, 'Member since'),
        h('dd', {}, timeEl(user.createdAt, { style: 'date' })),
        h('dt', {}, 'Identities'),
        h(
          'dd',
          { 'data-testid': 'account-identities' },
          (user.identities || []).length
            ? user.identities.map((identity) => `${identity.provider} (${identity.subject})`).join(', ')
            : 'None: you sign in with your password',
        ),
        h('dt', {}, 'Groups'),
        h(
          'dd',
          { 'data-testid': 'account-groups' },
          (user.groups || []).length ? user.groups.join(', ') : 'None',
          (user.groups || []).length ? h('span', { class: 'muted' }, ' (as of your last sign-in through an identity provider)') : null,
        ),
      ),
      field({
        label: 'Display name',
        name: 'displayName',
        testid: 'account-display-name',
        required: true,
        maxlength: 128,
        value: user.displayName,
        autocomplete: 'name',
        hint: 'What the console and the audit trail show for you.',
      }),
      h('div', { class: 'form-actions' }, save),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFormErrors(form);
      if (!form.reportValidity()) return;
      const displayName = form.elements.displayName.value.trim();
      setBusy(save, true);
      try {
        await gql(UPDATE_USER, { input: { id: user.id, displayName } });
        announce('Display name saved.');
        await load();
      } catch (error) {
        if (!error.handled) showFormError(form, error);
      } finally {
        setBusy(save, false);
      }
    });
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'account-profile-title', 'data-testid': 'account-profile' },
      h('h2', { id: 'account-profile-title', class: 'card-title' }, icon('user'), 'Profile'),
      form,
    );
  }

  function projectsCard() {
    const memberships = user.memberships || [];
    let list;
    if (memberships.length === 0) {
      list = h(
        'p',
        { class: 'muted' },
        user.administrator
          ? 'You are a member of no project; as an administrator you work in all of them.'
          : 'You are a member of no project yet. Add one on the Projects page, or ask an administrator or a project’s owner to add you.',
      );
    } else {
      list = h(
        'ul',
        { class: 'membership-list', 'data-testid': 'account-memberships' },
        memberships.map((m) =>
          h(
            'li',
            { 'data-project-id': m.project.id },
            h('a', { href: `#/projects/${encodeURIComponent(m.project.id)}` }, m.project.name),
            roleBadge(m.role, 'account-role'),
          ),
        ),
      );
    }
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'account-projects-title' },
      h('h2', { id: 'account-projects-title', class: 'card-title' }, icon('folder'), 'Your projects'),
      list,
    );
  }

  // ---- password ------------------------------------------------------------------

  function passwordCard() {
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'account-change-password' }, h('span', {}, 'Change password'));
    const done = h('div', { class: 'form-done' });
    const form = h(
      'form',
      { class: 'form account-form', 'aria-labelledby': 'account-password-title' },
      h('div', { class: 'form-error-slot' }),
      done,
      // For password managers: whose password this is.
      h('input', { type: 'text', name: 'username', value: user.username, autocomplete: 'username', hidden: true, readonly: true }),
      field({
        label: 'Current password',
        name: 'currentPassword',
        type: 'password',
        testid: 'account-current-password',
        required: true,
        maxlength: 1024,
        autocomplete: 'current-password',
      }),
      field({
        label: 'New password',
        name: 'newPassword',
        type: 'password',
        testid: 'account-new-password',
        required: true,
        minlength: 12,
        maxlength: 1024,
        autocomplete: 'new-password',
        hint: PASSWORD_HINT,
      }),
      field({
        label: 'New password, again',
        name: 'repeatPassword',
        type: 'password',
        testid: 'account-repeat-password',
        required: true,
        maxlength: 1024,
        autocomplete: 'new-password',
      }),
      h('div', { class: 'form-actions' }, submit),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearFormErrors(form);
      clear(done);
      if (!form.reportValidity()) return;
      const currentPassword = form.elements.currentPassword.value;
      const newPassword = form.elements.newPassword.value;
      if (newPassword !== form.elements.repeatPassword.value) {
        setFieldError(form, 'repeatPassword', 'The two new passwords differ.');
        return;
      }
      setBusy(submit, true);
      try {
        // Silent: a wrong current password must be shown here, not end the sign-in.
        await gql(CHANGE_PASSWORD, { input: { currentPassword, newPassword } }, { silent: true });
        // Basic credentials hold the password itself: keep them working.
        if (signInMethod() === 'basic') setCredentials(user.username, newPassword);
        form.reset();
        done.append(
          h(
            'div',
            { class: 'alert alert-success', role: 'status', 'data-testid': 'account-password-changed' },
            icon('check'),
            h('span', {}, 'Password changed. Your other sessions have ended; this one goes on.'),
          ),
        );
        announce('Password changed.');
      } catch (error) {
        showFormError(form, error);
      } finally {
        setBusy(submit, false);
      }
    });
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'account-password-title', 'data-testid': 'account-password' },
      h('h2', { id: 'account-password-title', class: 'card-title' }, icon('lock'), 'Password'),
      form,
    );
  }

  // ---- sessions ------------------------------------------------------------------

  function sessionsCard() {
    const button = h(
      'button',
      { type: 'button', class: 'btn btn-danger-outline', 'data-testid': 'account-sign-out-everywhere' },
      icon('logout'),
      h('span', {}, 'Sign out everywhere'),
    );
    button.addEventListener('click', () => {
      confirmDialog({
        title: 'Sign out everywhere?',
        confirmLabel: 'Sign out everywhere',
        message: [
          h('p', {}, 'Every session of yours ends at once: in other browsers, on other devices, and this one.'),
          h('p', {}, 'Use it when you signed in somewhere you should not stay signed in. API keys are not affected.'),
        ],
        onConfirm: async () => {
          await gql(SIGN_OUT_EVERYWHERE, { input: { userId: user.id } });
          app.signedOutByServer('You signed out everywhere: every session of yours has ended.');
        },
      });
    });
    return h(
      'section',
      { class: 'card settings-card account-sessions', 'aria-labelledby': 'account-sessions-title' },
      h(
        'div',
        { class: 'settings-text' },
        h('h2', { id: 'account-sessions-title' }, icon('logout'), ' Sessions'),
        h('p', { class: 'muted' }, 'Signed in somewhere else and not sure you signed out there? End every session of yours.'),
      ),
      button,
    );
  }

  load();
}
