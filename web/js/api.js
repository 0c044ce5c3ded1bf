// GraphQL client and the two ways of being signed in.
//
// - A user who signs in with username and password gets a session: the
//   server sets the `keyward_session` cookie (HttpOnly, so this code never
//   sees its value) and requests carry it with `credentials: 'same-origin'`
//   and no Authorization header. The console only remembers *that* it has a
//   session (asked from GET /auth/session on load).
// - An API key (or a user who prefers it) signs in with Basic credentials,
//   kept in memory and in sessionStorage under `keyward.auth` (so that a
//   reload, and GraphiQL opened in the same tab, stay signed in), never in
//   localStorage, the URL or the console log. Requests send them as an
//   explicit `Authorization: Basic` header with `credentials: 'omit'`, so the
//   browser neither adds Basic credentials it cached itself nor pops up its
//   own password prompt on a 401: the console shows its sign-in form.

import { inputMutation } from './queries.js';

export const AUTH_STORAGE_KEY = 'keyward.auth';
const ENDPOINT = '/graphql';
const SESSION_ENDPOINT = '/auth/session';
const SIGN_IN_ENDPOINT = '/auth/sign-in';
const SIGN_OUT_ENDPOINT = '/auth/sign-out';
const PROVIDERS_ENDPOINT = '/auth/providers';

let credentials = loadCredentials();
/** `{user, expiresAt}` while signed in with the session cookie, else null. */
let session = null;
let onUnauthenticated = () => {};

function loadCredentials() {
  try {
    const raw = sessionStorage.getItem(AUTH_STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw);
    if (typeof parsed?.username === 'string' && typeof parsed?.authorization === 'string') {
      return parsed;
    }
  } catch {
    // Storage unavailable or corrupt: behave as signed out.
  }
  return null;
}

/** Base64 of the UTF-8 bytes of `text` (btoa alone only takes Latin-1). */
function base64Utf8(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The username (or access key) signed in, with either method; null if none. */
export function signedInAs() {
  if (credentials) return credentials.username;
  return session ? session.user.username : null;
}

/** How the console is signed in: 'basic', 'session', or null. */
export function signInMethod() {
  if (credentials) return 'basic';
  return session ? 'session' : null;
}

export function setCredentials(username, secret) {
  session = null;
  credentials = { username, authorization: `Basic ${base64Utf8(`${username}:${secret}`)}` };
  try {
    sessionStorage.setItem(AUTH_STORAGE_KEY, JSON.stringify(credentials));
  } catch {
    // Private mode without storage: the credentials still work for this page.
  }
}

/** Forgets both kinds of sign-in here (the cookie itself is the server's to end). */
export function clearCredentials() {
  credentials = null;
  session = null;
  try {
    sessionStorage.removeItem(AUTH_STORAGE_KEY);
  } catch {
    // ignore
  }
}

/** Called (once per failing request) when the server answers UNAUTHENTICATED. */
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

export class ApiError extends Error {
  constructor(message, { code = 'INTERNAL', field = null, status = 0, retryAfter = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    /** Input field named by a BAD_USER_INPUT error, without the `input.` prefix. */
    this.field = field;
    this.status = status;
    this.retryAfter = retryAfter;
    /** True once the global handler dealt with it (sign-in form shown). */
    this.handled = false;
  }

  /** The message without a leading "input.name: " (shown next to that field). */
  get fieldMessage() {
    const match = /^[\w.]+:\s*(.*)$/s.exec(this.message);
    return this.field && match ? match[1] : this.message;
  }
}

/** The JSON body of `response`, or null when it is not JSON. */
async function jsonOf(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * An ApiError from a non-2xx answer of an /auth/ endpoint, whose body is
 * `{"error":{code,message}}` or the GraphQL-style `{"errors":[{message,extensions:{code}}]}`.
 */
function authError(response, body, fallback) {
  const error = body?.error || (Array.isArray(body?.errors) ? { message: body.errors[0]?.message, code: body.errors[0]?.extensions?.code } : null);
  const code = error?.code || (response.status === 401 ? 'UNAUTHENTICATED' : response.status === 429 ? 'RATE_LIMITED' : 'INTERNAL');
  let message = error?.message || fallback || `The server answered HTTP ${response.status}.`;
  const retryAfter = response.headers.get('Retry-After');
  if (code === 'RATE_LIMITED' && retryAfter) message += ` Try again in ${retryAfter} s.`;
  return new ApiError(message, { code, status: response.status, retryAfter });
}

async function authFetch(path, init) {
  try {
    // same-origin: the session cookie goes with it, and a Set-Cookie in the
    // answer is kept.
    return await fetch(path, { ...init, credentials: 'same-origin', cache: 'no-store' });
  } catch (err) {
    throw new ApiError(`Cannot reach the server (${err.message}).`, { code: 'NETWORK' });
  }
}

/**
 * Asks GET /auth/session whether this browser has a session: true (and the
 * console uses it from now on) or false. A server error throws.
 */
export async function loadSession() {
  const response = await authFetch(SESSION_ENDPOINT, { method: 'GET', headers: { Accept: 'application/json' } });
  const body = await jsonOf(response);
  if (response.ok && body?.user) {
    session = { user: body.user, expiresAt: body.expiresAt ?? null };
    return true;
  }
  session = null;
  // 401: no session. 404: a server without sessions.
  if (response.status === 401 || response.status === 404) return false;
  throw authError(response, body, 'The server could not say whether you are signed in.');
}

/**
 * Signs in with a username and password (POST /auth/sign-in): the server
 * sets the session cookie. Stored Basic credentials are forgotten. Throws
 * ApiError (UNAUTHENTICATED for wrong credentials, RATE_LIMITED…).
 *
 * `returnTo` is where a proxy sent the person from (`/?returnTo=`), passed
 * on as it came: the server decides whether it may go there, and answers
 * `returnTo` (a URL it accepted, or null). The session's `returnTo` is that
 * answer, the only one the console ever navigates to.
 */
export async function signInWithPassword(username, password, returnTo = null) {
  clearCredentials();
  const request = { username, password };
  if (returnTo !== null) request.returnTo = returnTo;
  const response = await authFetch(SIGN_IN_ENDPOINT, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(request),
  });
  const body = await jsonOf(response);
  if (!response.ok || !body?.user) throw authError(response, body);
  session = { user: body.user, expiresAt: body.expiresAt ?? null };
  return { ...session, returnTo: typeof body.returnTo === 'string' ? body.returnTo : null };
}

/**
 * The enabled identity providers people may sign in through (GET
 * /auth/providers, public): `[{name, startUrl}]`. A server without single
 * sign-on, or one that fails to answer, has none: the password form still
 * works.
 */
export async function loadProviders() {
  let response;
  try {
    response = await authFetch(PROVIDERS_ENDPOINT, { method: 'GET', headers: { Accept: 'application/json' } });
  } catch {
    return [];
  }
  const body = response.ok ? await jsonOf(response) : null;
  if (!Array.isArray(body?.providers)) return [];
  // Only paths on this server as start URLs (not `//host` or `/\\host`,
  // which browsers read as another host): the link is the server's own route.
  return body.providers.filter((p) => typeof p?.name === 'string' && typeof p?.startUrl === 'string' && /^\/(?![/\\])/.test(p.startUrl));
}

/**
 * Ends the session (POST /auth/sign-out, which clears the cookie). A 401
 * means it had ended already. Other failures throw, and the console stays
 * signed in (the cookie would still work).
 */
export async function signOutSession() {
  const response = await authFetch(SIGN_OUT_ENDPOINT, { method: 'POST', headers: { Accept: 'application/json' } });
  if (!response.ok && response.status !== 401) {
    throw authError(response, await jsonOf(response), 'The server could not sign you out.');
  }
  session = null;
}

function errorFrom(error, response) {
  const ext = error?.extensions || {};
  // The server names the field of every BAD_USER_INPUT error it raises
  // itself (`input.name`); those GraphQL validation raises name none.
  const field = typeof ext.field === 'string' ? ext.field.replace(/^input\./, '') : null;
  const code = ext.code || (response.status === 401 ? 'UNAUTHENTICATED' : 'INTERNAL');
  let message = error?.message || `The server answered HTTP ${response.status}.`;
  const retryAfter = response.headers.get('Retry-After');
  if (code === 'RATE_LIMITED' && retryAfter) {
    message += ` Try again in ${retryAfter} s.`;
  }
  return new ApiError(message, { code, field, status: response.status, retryAfter });
}

/**
 * Runs one GraphQL operation against POST /graphql and returns `data`.
 * Throws ApiError (the first GraphQL error, or a transport failure). Unless
 * `silent`, an UNAUTHENTICATED answer also calls the handler (sign-in form).
 */
export async function gql(query, variables = {}, { silent = false } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (credentials) headers.Authorization = credentials.authorization;
  let response;
  try {
    response = await fetch(ENDPOINT, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      // The session cookie only when signed in with it: otherwise the
      // browser must add nothing of its own (see the top of this file).
      credentials: session && !credentials ? 'same-origin' : 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new ApiError(`Cannot reach the server (${err.message}).`, { code: 'NETWORK' });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: handled below
  }
  if (body && Array.isArray(body.errors) && body.errors.length > 0) {
    const error = errorFrom(body.errors[0], response);
    if (error.code === 'UNAUTHENTICATED' && !silent) {
      onUnauthenticated(error);
      error.handled = true;
    }
    throw error;
  }
  if (!response.ok || !body || typeof body.data !== 'object' || body.data === null) {
    const error = errorFrom({ message: `Unexpected answer from the server (HTTP ${response.status}).` }, response);
    if (error.code === 'UNAUTHENTICATED' && !silent) {
      onUnauthenticated(error);
      error.handled = true;
    }
    throw error;
  }
  return body.data;
}

/**
 * Runs mutation `fieldName` with the fields of `input` (see
 * `inputMutation` in queries.js) and returns `data`, like `gql`.
 */
export async function mutate(fieldName, input) {
  const { query, variables } = inputMutation(fieldName, input);
  return gql(query, variables);
}
