// Sign-in page (a user's username and password, an API key, or an identity
// provider) with what a failed sign-in through a provider means, and the
// "access control is off" banner.

import { h, icon, clear } from './dom.js';
import { gql, setCredentials, clearCredentials, signInWithPassword, loadProviders } from './api.js';
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
 * Why a sign-in through an identity provider failed, by the code the server
 * puts in `/?signInError=` (binding: src/auth/oidc/failure.rs). Nothing of
 * the URL itself is ever shown: an unknown code gets the generic sentence.
 */
const SIGN_IN_ERRORS = {
  unknown_provider: 'That identity provider is not (or no longer) set up here. Choose another way to sign in.',
  access_control_off: 'Access control is off, so nobody needs to sign in.',
  state_invalid: 'The sign-in took too long, was already used, or was not started here. Start it again.',
  provider_denied: 'The identity provider did not sign you in. Try again, or ask an administrator.',
  provider_unreachable: 'keyward could not reach the identity provider, or did not understand its answer. Try again later.',
  code_refused: 'The identity provider refused to complete the sign-in. Start it again.',
  id_token_signature: "The identity provider's answer was not signed with its keys, so keyward refused it.",
  id_token_issuer: "The identity provider's answer came from another issuer than the one set up, so keyward refused it.",
  id_token_audience: "The identity provider's answer was meant for another application, so keyward refused it.",
  id_token_expired: "The identity provider's answer had expired. Check that the clocks are right and start again.",
  id_token_issued_in_future: "The identity provider's answer claims to be issued in the future. Check that the clocks are right and start again.",
  id_token_nonce: "The identity provider's answer belongs to another sign-in. Start it again.",
  id_token_invalid: "The identity provider's answer was not valid, so keyward refused it.",
  no_username: 'The identity provider did not say your username, so keyward cannot sign you in. Ask an administrator.',
  not_allowed: "Your organisation's access settings do not let you sign in to keyward. Ask an administrator.",
  user_disabled: 'Your keyward user is disabled. Ask an administrator.',
  too_many_sign_ins: 'Too many sign-ins were started from here. Wait a few minutes and try again.',
  internal: 'keyward could not complete the sign-in. Try again.',
};

const SIGN_IN_ERROR_GENERIC = 'Signing in through your identity provider failed. Try again, or ask an administrator.';

/** The sentence for the code of a failed sign-in through a provider. */
export function signInErrorSentence(code) {
  return Object.hasOwn(SIGN_IN_ERRORS, code) ? SIGN_IN_ERRORS[code] : SIGN_IN_ERROR_GENERIC;
}

/** A provider's start URL with where to go once signed in. */
function providerHref(provider, returnTo) {
  const separator = provider.startUrl.includes('?') ? '&' : '?';
  return `${provider.startUrl}${separator}return_to=${encodeURIComponent(returnTo ?? '/')}`;
}

/**
 * The sign-in page. `method` is 'user' (username and password: the server
 * starts a session and sets its cookie) or 'key' (access key and secret key,
 * kept as Basic credentials in memory and sessionStorage). `onSignedIn(initData)`
 * runs once the server accepted them.
 *
 * `error` is the code of a failed sign-in through a provider. `returnTo` is
 * where a proxy sent the person from (`/?returnTo=`): it goes to the server
 * with the password and in each provider's link, and the console goes
 * wherever the server answers it may (never to `returnTo` itself).
 */
export function renderSignIn(root, { notice, error = null, returnTo = null, username = '', method = 'user', onSignedIn }) {
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
  const providersSlot = h('div', { class: 'signin-providers-slot', 'data-testid': 'signin-providers' });
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
    returnTo !== null
      ? h('p', { class: 'signin-return', 'data-testid': 'signin-return' }, 'Sign in to continue to the page you asked for.')
      : null,
    error !== null
      ? h(
          'div',
          {
            class: 'alert alert-error',
            role: 'alert',
            'data-testid': 'signin-error',
            'data-code': Object.hasOwn(SIGN_IN_ERRORS, error) ? error : 'unknown',
          },
          icon('warning'),
          h('span', {}, `Sign-in failed. ${signInErrorSentence(error)}`),
        )
      : null,
    notice ? h('div', { class: 'alert alert-info', role: 'status', 'data-testid': 'signin-notice' }, icon('warning'), h('span', {}, notice)) : null,
    form,
    providersSlot,
  );
  root.append(h('div', { class: 'signin-page' }, card));

  // The providers arrive while the form is usable already.
  loadProviders().then((providers) => {
    if (!providersSlot.isConnected || providers.length === 0) return;
    clear(providersSlot).append(
      h('div', { class: 'signin-or', 'aria-hidden': 'true' }, h('span', {}, 'or')),
      h(
        'ul',
        { class: 'signin-providers', 'aria-label': 'Sign in through your organisation' },
        providers.map((provider) =>
          h(
            'li',
            {},
            h(
              'a',
              {
                href: providerHref(provider, returnTo),
                class: 'btn btn-secondary btn-block',
                'data-testid': 'signin-provider',
                'data-provider': provider.name,
              },
              icon('users'),
              h('span', {}, `Sign in with ${provider.name}`),
            ),
          ),
        ),
      ),
    );
  });

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
      if (currentMethod() === 'user') {
        const signedIn = await signInWithPassword(user, secret, returnTo);
        if (signedIn.returnTo !== null) {
          // Back to the tool a proxy sent us from: only where the server
          // said we may go.
          form.elements.password.value = '';
          location.assign(signedIn.returnTo);
          return;
        }
      } else setCredentials(user, secret);
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
