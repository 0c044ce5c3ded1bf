// GraphQL client and credential store.
//
// Credentials are kept in memory and in sessionStorage under `keyward.auth`
// (so that a reload, and GraphiQL opened in the same tab, stay signed in),
// never in localStorage, the URL or the console log. Requests send them as
// an explicit `Authorization: Basic` header with `credentials: 'omit'`, so
// the browser neither adds Basic credentials it cached itself nor pops up
// its own password prompt on a 401: the console shows its sign-in form.

export const AUTH_STORAGE_KEY = 'keyward.auth';
const ENDPOINT = '/graphql';

let credentials = loadCredentials();
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

export function signedInAs() {
  return credentials ? credentials.username : null;
}

export function setCredentials(username, secret) {
  credentials = { username, authorization: `Basic ${base64Utf8(`${username}:${secret}`)}` };
  try {
    sessionStorage.setItem(AUTH_STORAGE_KEY, JSON.stringify(credentials));
  } catch {
    // Private mode without storage: the credentials still work for this page.
  }
}

export function clearCredentials() {
  credentials = null;
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
      credentials: 'omit',
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
