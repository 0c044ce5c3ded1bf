#!/usr/bin/env node
// Turns access control on at a fresh keyward server and creates an OWNER key
// in the Default project, for run.sh's second and third modes.
//
//   node setup.mjs BASE_URL
//
// Prints one line of JSON: {"projectId", "accessKey", "secretKey"}.

import { randomBytes } from 'node:crypto';

const base = process.argv[2];
if (!base) {
  console.error('usage: node setup.mjs BASE_URL');
  process.exit(2);
}

async function graphql(query, variables, auth) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (auth) headers.authorization = 'Basic ' + Buffer.from(`${auth[0]}:${auth[1]}`).toString('base64');
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status}, not JSON: ${text.slice(0, 500)}`);
  }
  if (response.status !== 200 || body.errors || !body.data) {
    throw new Error(`HTTP ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

const admin = ['admin', randomBytes(24).toString('base64url')];

const enabled = await graphql(
  'mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }',
  { i: { username: admin[0], password: admin[1] } },
);
if (enabled.enableAccessControl.enabled !== true) {
  throw new Error(`enableAccessControl answered ${JSON.stringify(enabled)}`);
}

const projects = await graphql('{ projects(first: 1) { edges { node { id name } } } }', {}, admin);
const project = projects.projects.edges[0]?.node;
if (!project) throw new Error(`no project: ${JSON.stringify(projects)}`);

const created = await graphql(
  'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secretKey apiKey { accessKey } } }',
  { i: { projectId: project.id, name: 'conformance', role: 'OWNER' } },
  admin,
);
const { secretKey, apiKey } = created.createApiKey;

console.log(JSON.stringify({ projectId: project.id, accessKey: apiKey.accessKey, secretKey }));
