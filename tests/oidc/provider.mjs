// A real OpenID provider for keyward's single sign-on tests: npm's
// oidc-provider (OpenID Certified), configured as a typical company provider
// is for a web application: authorization code flow only, PKCE (S256)
// required, RS256 ID tokens carrying the person's name, username, email and
// groups. Written independently of keyward, so keyward's client is checked
// against a provider that follows the specifications, not against itself.
// Version 8.8.1: the 8.x line supports Node.js 18 and later (9.x warns of an
// unsupported runtime below Node.js 22; Debian and CI have Node.js 20).
//
//   node tests/oidc/provider.mjs <config.json>
//
// config.json (written by tests/api/oidc_provider.rs):
//   { "port": 0,
//     "clients": [{ "client_id", "client_secret", "redirect_uris": [...] }],
//     "users": [{ "sub", "username", "password", "name", "email", "groups": [...] }] }
//
// Once listening (on 127.0.0.1 only) it prints one line, `ISSUER <url>`.
//
// Sign-in is a minimal page of its own instead of oidc-provider's development
// pages: a login form whose submission signs the person in AND grants the
// requested scopes, as a provider with pre-approved (first-party) clients
// does, so a test drives one form, not two.
//
// A test changes a person's groups between sign-ins with
//   POST /test/users/<sub>/groups   ["g1", "g2"]

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = new Map(config.users.map((user) => [user.sub, user]));

// The server listens first: the issuer names its port, which may be ephemeral.
let handler = (_req, res) => { res.statusCode = 503; res.end(); };
const server = createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(config.port ?? 0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// A fresh signing key per run: a test never depends on a key of an earlier one.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    ...client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  responseTypes: ['code'],
  pkce: { required: () => true, methods: ['S256'] },
  // Each scope names the claims it releases; `groups` is a scope of its own.
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // The claims of the granted scopes go into the ID token itself (not only
  // to userinfo), as most providers put groups there for the code flow.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: false },
  },
  async findAccount(_ctx, sub) {
    if (!users.has(sub)) return undefined;
    return {
      accountId: sub,
      // Read at each token's issue: changed groups show at the next sign-in.
      async claims() {
        const user = users.get(sub);
        return {
          sub,
          preferred_username: user.username,
          name: user.name,
          email: user.email,
          email_verified: true,
          groups: user.groups ?? [],
        };
      },
    };
  },
});
// The tests speak plain HTTP on loopback; nothing here is behind a proxy.
provider.proxy = false;
const oidc = provider.callback();

handler = async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const groups = url.pathname.match(/^\/test\/users\/([^/]+)\/groups$/);
    if (groups && req.method === 'POST') return await setGroups(req, res, decodeURIComponent(groups[1]));
    if (/^\/interaction\/[^/]+$/.test(url.pathname) && req.method === 'GET') return await loginPage(req, res);
    if (/^\/interaction\/[^/]+\/login$/.test(url.pathname) && req.method === 'POST') return await login(req, res);
    return oidc(req, res);
  } catch (error) {
    console.error(error);
    res.statusCode = 500;
    res.end(String(error.message ?? error));
  }
};

async function setGroups(req, res, sub) {
  const user = users.get(sub);
  if (!user) { res.statusCode = 404; return res.end('no such user'); }
  const groups = JSON.parse(await body(req));
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) {
    res.statusCode = 400; return res.end('a JSON array of strings');
  }
  user.groups = groups;
  res.statusCode = 204;
  res.end();
}

async function loginPage(req, res, error) {
  const { uid, params } = await provider.interactionDetails(req, res);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(`<!doctype html>
<html><head><title>Sign in</title></head><body>
<h1>Sign in to ${escape(params.client_id)}</h1>
${error ? `<p id="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <label>Username <input name="username" autocomplete="username" autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit" id="sign-in">Sign in</button>
</form>
</body></html>`);
}

async function login(req, res) {
  const form = new URLSearchParams(await body(req));
  const user = [...users.values()].find((u) => u.username === form.get('username'));
  if (!user || user.password !== form.get('password')) {
    return loginPage(req, res, 'Invalid username or password.');
  }
  const { params } = await provider.interactionDetails(req, res);
  // Consent at once: every requested scope, and every claim the `claims`
  // parameter names, if any.
  const grant = new provider.Grant({ accountId: user.sub, clientId: params.client_id });
  grant.addOIDCScope(params.scope);
  if (params.claims) {
    const requested = JSON.parse(params.claims);
    grant.addOIDCClaims([...Object.keys(requested.id_token ?? {}), ...Object.keys(requested.userinfo ?? {})]);
  }
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.sub }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

function body(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

console.log(`ISSUER ${issuer}`);
