// keyward GraphiQL: mounts the vendored GraphiQL 3 UMD bundle (globals React,
// ReactDOM, GraphiQL loaded by graphiql.html) on this page's own endpoint.
//
// - Endpoint: location.pathname (/graphql, or /projects/<id>/graphql).
// - Credentials: when the console stored some in sessionStorage
//   (`keyward.auth`), they are sent as the Authorization header; otherwise the
//   browser's own Basic credentials are used (it prompts on a 401).
// - `?query=` ("View in API" links) only prefills the editor; nothing runs
//   until the user presses Run.
// - GraphiQL's own state (tabs, history, variables) is kept in sessionStorage,
//   not localStorage, so nothing typed here outlives the browser session.

const AUTH_STORAGE_KEY = 'keyward.auth';
const endpoint = location.pathname.replace(/\/+$/, '') || '/graphql';

const DEFAULT_QUERY = `# Welcome to the keyward GraphQL API.
#
# Who am I, and is access control on?
query {
  viewer {
    kind
    role
    project { id name endpoint }
  }
  accessControl { enabled }
}
`;

function storedAuth() {
  try {
    const value = JSON.parse(sessionStorage.getItem(AUTH_STORAGE_KEY) || 'null');
    if (value && typeof value.authorization === 'string') return value;
  } catch {
    // no or unreadable session credentials
  }
  return null;
}

/** GraphiQL storage on sessionStorage; clear() only touches GraphiQL's keys. */
const PREFIX = 'graphiql:';
const sessionStore = {
  getItem: (key) => sessionStorage.getItem(key),
  setItem: (key, value) => sessionStorage.setItem(key, value),
  removeItem: (key) => sessionStorage.removeItem(key),
  get length() {
    return Object.keys(sessionStorage).filter((key) => key.startsWith(PREFIX)).length;
  },
  clear() {
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(PREFIX)) sessionStorage.removeItem(key);
    }
  },
  key: (index) => Object.keys(sessionStorage).filter((key) => key.startsWith(PREFIX))[index] ?? null,
};

async function fetcher(params, options = {}) {
  const auth = storedAuth();
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (auth) headers.Authorization = auth.authorization;
  // Headers typed in GraphiQL's Headers editor win.
  Object.assign(headers, options.headers || {});
  const response = await fetch(endpoint, {
    method: 'POST',
    headers,
    body: JSON.stringify(params),
    // With console credentials, send exactly those (no browser prompt);
    // without, let the browser add (or ask for) its Basic credentials.
    credentials: auth ? 'omit' : 'same-origin',
    cache: 'no-store',
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return { errors: [{ message: `HTTP ${response.status}: the server did not answer with JSON.`, extensions: { body: text.slice(0, 500) } }] };
  }
}

function showAuthState() {
  const auth = storedAuth();
  const el = document.getElementById('gq-auth');
  el.textContent = auth
    ? `Signed in through the console as ${auth.username}`
    : 'Using this browser’s session or credentials (if any)';
  document.getElementById('gq-endpoint').textContent = endpoint;
}

function mount() {
  const root = document.getElementById('graphiql');
  const { React, ReactDOM, GraphiQL } = window;
  if (!React || !ReactDOM || !GraphiQL) {
    root.replaceChildren(Object.assign(document.createElement('p'), {
      className: 'gq-loading gq-error',
      textContent: 'GraphiQL could not load (its scripts under /assets/vendor/ are missing).',
    }));
    return;
  }
  const params = new URLSearchParams(location.search);
  const props = {
    fetcher,
    defaultQuery: DEFAULT_QUERY,
    storage: sessionStore,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: params.has('variables') ? 'variables' : false,
  };
  if (params.has('query')) props.query = params.get('query');
  if (params.has('variables')) props.variables = params.get('variables');
  if (params.has('operationName')) props.operationName = params.get('operationName');
  showAuthState();
  // No auto-run: a `?query=` (from "View in API", or from any site linking
  // here) only prefills the editor. Running it on load would let another
  // site execute a mutation with this user's credentials (CSRF); the user
  // reads the query and presses Run.
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
}

mount();
