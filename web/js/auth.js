// Sign-in form (a user's username and password, or an API key) and the
// "access control is off" banner.

import { h, icon } from './dom.js';
import { gql, setCredentials, clearCredentials, signInWithPassword } from './api.js';
import { ENABLE_ACCESS_CONTROL, INIT } from './queries.js';
import { field, clearFormErrors, showFormError, setFormError, setBusy, announce, uid } from './ui.js';

/** What an access key looks like (20 capital letters and digits). */
const ACCESS_KEY = /^[A-Z0-9]{20}$/;

/** The two ways to sign in, and what their fields are called. */
const METHODS = {
  user: {
    label: 'User',
    username: 'Username',
    password: 'Password',
    autocomplete: 'username',
  },
  key: {
    label: 'API key',
    username: 'Access key',
    password: 'Secret key',
    autocomplete: 'off',
  },
};

/**
 * The sign-in page. `method` is 'user' (username and password: the server
 * starts a session and sets its cookie) or 'key' (access key and secret key,
 * kept as Basic credentials in memory and sessionStorage). `onSignedIn(initData)`
 * runs once the server accepted them.
 */
export function renderSignIn(root, { notice, username = '', method = 'user', onSignedIn }) {
  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'signin-submit' },
    h('span', {}, 'Sign in'),
  );
  const methodName = uid('signin-method');
  const methodChoice = h(
    'fieldset',
    { class: 'segmented' },
    h('legend', { class: 'visually-hidden' }, 'Sign in with'),
    Object.entries(METHODS).map(([value, m]) => {
      const id = `${methodName}-${value}`;
      return h(
        'label',
        { for: id, class: 'segment', 'data-testid': `signin-method-${value}` },
        h('input', { type: 'radio', id, name: 'method', value, class: 'visually-hidden', checked: value === method }),
        h('span', {}, m.label),
      );
    }),
  );
  const usernameField = field({
    label: METHODS[method].username,
    name: 'username',
    testid: 'signin-username',
    autocomplete: METHODS[method].autocomplete,
    required: true,
    maxlength: 128,
    spellcheck: 'false',
    value: username,
    autofocus: !username,
  });
  const passwordField = field({
    label: METHODS[method].password,
    name: 'password',
    type: 'password',
    testid: 'signin-password',
    autocomplete: 'current-password',
    required: true,
    maxlength: 1024,
    autofocus: Boolean(username),
  });
  const form = h(
    'form',
    { class: 'form', 'aria-labelledby': 'signin-title' },
    methodChoice,
    h('div', { class: 'form-error-slot' }),
    usernameField,
    passwordField,
    submit,
  );
  const card = h(
    'section',
    { class: 'signin-card card' },
    h('div', { class: 'signin-mark' }, icon('key', { size: 28 })),
    h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in to keyward'),
    h(
      'p',
      { class: 'muted' },
      'Access control is on. Sign in with your username and password, or with an API key: its access key and secret key.',
    ),
    notice ? h('div', { class: 'alert alert-info', role: 'status', 'data-testid': 'signin-notice' }, icon('warning'), h('span', {}, notice)) : null,
    form,
  );
  root.append(h('div', { class: 'signin-page' }, card));

  const currentMethod = () => form.elements.method.value;
  methodChoice.addEventListener('change', () => {
    const m = METHODS[currentMethod()];
    usernameField.querySelector('label').textContent = m.username;
    passwordField.querySelector('label').textContent = m.password;
    form.elements.username.setAttribute('autocomplete', m.autocomplete);
    form.elements.password.value = '';
    clearFormErrors(form);
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    // Usernames never start or end with spaces (the server trims them); an
    // access key pasted with a stray space still works.
    form.elements.username.value = form.elements.username.value.trim();
    if (!form.reportValidity()) return;
    const user = form.elements.username.value;
    const secret = form.elements.password.value;
    setBusy(submit, true);
    try {
      if (currentMethod() === 'user') await signInWithPassword(user, secret);
      else setCredentials(user, secret);
      const data = await gql(INIT, {}, { silent: true });
      form.elements.password.value = '';
      onSignedIn(data);
    } catch (error) {
      clearCredentials();
      if (error.code === 'UNAUTHENTICATED') {
        // An access key typed as a username is the likely mistake: say so.
        const keyHint = currentMethod() === 'user' && ACCESS_KEY.test(user) ? ' This looks like an access key: choose “API key” above.' : '';
        setFormError(form, `Sign-in failed: the server refused these credentials (${error.message}).${keyHint}`);
        form.elements.password.select();
        form.elements.password.focus();
      } else {
        showFormError(form, error);
      }
    } finally {
      setBusy(submit, false);
    }
  });
  (username ? form.elements.password : form.elements.username).focus();
}

/** The warning shown while access control is off, with the form that turns it on. */
export function accessControlBanner({ onEnabled }) {
  const submit = h(
    'button',
    { type: 'submit', class: 'btn btn-warning', 'data-testid': 'ac-submit' },
    icon('shield'),
    h('span', {}, 'Enable access control'),
  );
  const form = h(
    'form',
    { class: 'ac-form', 'aria-label': 'Enable access control' },
    h('div', { class: 'form-error-slot' }),
    h(
      'div',
      { class: 'ac-fields' },
      field({
        label: 'Admin username',
        name: 'username',
        testid: 'ac-username',
        autocomplete: 'username',
        required: true,
        maxlength: 128,
        pattern: '[^:]+',
        spellcheck: 'false',
        hint: '1 to 128 characters, no “:”.',
      }),
      field({
        label: 'Admin password',
        name: 'password',
        type: 'password',
        testid: 'ac-password',
        autocomplete: 'new-password',
        required: true,
        minlength: 12,
        maxlength: 1024,
        hint: '12 to 1024 characters.',
      }),
      h('div', { class: 'ac-submit' }, submit),
    ),
  );
  const banner = h(
    'section',
    { class: 'banner banner-warning', 'data-testid': 'ac-banner', 'aria-labelledby': 'ac-title' },
    h(
      'div',
      { class: 'banner-inner' },
      h('div', { class: 'banner-icon' }, icon('warning', { size: 22 })),
      h(
        'div',
        { class: 'banner-text' },
        h('h2', { id: 'ac-title' }, 'Access control is off: anyone who can reach this server has full access'),
        h(
          'p',
          {},
          'Create the first administrator to turn it on. From then on every request needs a signed-in user or an active API key, and this console signs in as that administrator.',
        ),
        form,
      ),
    ),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFormErrors(form);
    const username = form.elements.username;
    // The server trims the username it stores: sign in with exactly that one
    // (" admin" would otherwise lock the administrator out).
    username.value = username.value.trim();
    if (username.validity.patternMismatch) {
      username.setCustomValidity('The username may not contain “:”.');
    } else {
      username.setCustomValidity('');
    }
    if (!form.reportValidity()) return;
    const input = { username: username.value.trim(), password: form.elements.password.value };
    setBusy(submit, true);
    try {
      await gql(ENABLE_ACCESS_CONTROL, { input });
    } catch (error) {
      if (!error.handled) showFormError(form, error);
      setBusy(submit, false);
      return;
    }
    form.elements.password.value = '';
    try {
      await signInWithPassword(input.username, input.password);
      announce(`Access control is on. Signed in as ${input.username}.`);
    } catch (error) {
      // Access control is on all the same: the sign-in form follows.
      announce(`Access control is on, but signing in failed: ${error.message}`, 'error');
    } finally {
      setBusy(submit, false);
    }
    onEnabled();
  });
  form.elements.username.addEventListener('input', () => form.elements.username.setCustomValidity(''));
  return banner;
}
