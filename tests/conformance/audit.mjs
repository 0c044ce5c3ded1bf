#!/usr/bin/env node
// The GraphQL over HTTP audits of `graphql-http`, and the SDL check, against
// a running keyward server. run.sh starts the server and calls this once per
// mode; it can also be run by hand:
//
//   node audit.mjs --url http://127.0.0.1:8080/graphql [--mode NAME] [--sdl ../../schema.graphql]
//
// Credentials, when access control is on, come from the environment
// (CONFORMANCE_ACCESS_KEY and CONFORMANCE_SECRET_KEY) and are sent as HTTP
// Basic on every request.
//
// Fails (exit 1) when a MUST or SHOULD audit is not ok, when a MAY audit
// fails that expected-may.json does not list, when one it lists passes (the
// list, and docs/testing.md, which repeats it, would be stale), or when the SDL
// printed from introspection differs from the --sdl file.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { serverAudits } from 'graphql-http';
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    mode: { type: 'string', default: 'default' },
    sdl: { type: 'string' },
    'expected-may': { type: 'string', default: join(here, 'expected-may.json') },
    'skip-audits': { type: 'boolean', default: false },
  },
  strict: true,
});
if (!args.url) {
  console.error('usage: node audit.mjs --url URL [--mode NAME] [--sdl schema.graphql] [--expected-may FILE] [--skip-audits]');
  process.exit(2);
}

const accessKey = process.env.CONFORMANCE_ACCESS_KEY;
const secretKey = process.env.CONFORMANCE_SECRET_KEY;
if (Boolean(accessKey) !== Boolean(secretKey)) {
  console.error('CONFORMANCE_ACCESS_KEY and CONFORMANCE_SECRET_KEY go together');
  process.exit(2);
}
const authorization = accessKey
  ? 'Basic ' + Buffer.from(`${accessKey}:${secretKey}`, 'utf8').toString('base64')
  : null;

/** global fetch, with the Basic credentials (if any) added to every request. */
function fetchFn(input, init = {}) {
  if (!authorization) return fetch(input, init);
  const headers = new Headers(init.headers);
  headers.set('authorization', authorization);
  return fetch(input, { ...init, headers });
}

const tag = `[${args.mode}]`;
let failed = false;
function fail(message) {
  failed = true;
  console.log(`${tag} FAIL ${message}`);
}

/** What the server answered, for a failed audit: status, type, start of the body. */
async function describeResponse(response) {
  if (!response || typeof response.status !== 'number') return '';
  let body = '';
  try {
    body = await response.clone().text();
  } catch {
    body = '(body already read by the audit)';
  }
  body = body.replace(/\s+/g, ' ');
  if (body.length > 300) body = body.slice(0, 300) + '…';
  return `HTTP ${response.status}, content-type ${JSON.stringify(response.headers.get('content-type'))}, body ${body}`;
}

async function runAudits() {
  const expectedMay = JSON.parse(readFileSync(args['expected-may'], 'utf8'));
  const audits = serverAudits({ url: args.url, fetchFn });
  const counts = { ok: 0, warn: 0, error: 0, notice: 0 };
  const notices = [];
  const seen = new Set();

  // One at a time: the order of the output is the suite's, and the server
  // sees at most one audit request at once.
  for (const audit of audits) {
    seen.add(audit.id);
    let result;
    try {
      result = await audit.fn();
    } catch (err) {
      // graphql-http throws only on fatal problems (the request itself failed).
      result = { id: audit.id, name: audit.name, status: 'error', reason: `fatal: ${err?.stack ?? err}` };
    }
    counts[result.status] = (counts[result.status] ?? 0) + 1;
    const level = result.name.split(' ', 1)[0]; // MUST, SHOULD or MAY
    if (result.status === 'ok') {
      console.log(`${tag} ok     ${result.id} ${result.name}`);
      if (level === 'MAY' && Object.hasOwn(expectedMay, result.id)) {
        fail(`${result.id} "${result.name}" now passes but expected-may.json lists it: remove it there and from docs/testing.md`);
      }
      continue;
    }
    const detail = await describeResponse(result.response);
    console.log(`${tag} ${result.status.padEnd(6)} ${result.id} ${result.name}`);
    console.log(`${tag}          reason: ${result.reason}`);
    if (detail) console.log(`${tag}          response: ${detail}`);
    if (level === 'MAY') {
      notices.push(result);
    } else {
      fail(`${result.id} "${result.name}": ${result.reason}`);
    }
  }

  for (const result of notices) {
    const known = Object.hasOwn(expectedMay, result.id);
    console.log(
      `${tag} NOTICE ${result.id} ${result.name}: ${result.reason}` +
        (known ? ` (expected: ${expectedMay[result.id]})` : ' (NOT in expected-may.json)'),
    );
    if (!known) {
      fail(`MAY audit ${result.id} "${result.name}" fails and expected-may.json does not list it`);
    }
  }
  for (const id of Object.keys(expectedMay)) {
    if (!seen.has(id)) fail(`expected-may.json lists ${id}, which graphql-http no longer has`);
  }
  console.log(
    `${tag} audits: ${audits.length} run: ${counts.ok} ok, ${counts.error} error (MUST), ` +
      `${counts.warn} warn (SHOULD), ${counts.notice} notice (MAY)`,
  );
}

/** A line diff (longest common subsequence), with a few lines of context. */
function lineDiff(aText, bText, aName, bName, context = 3) {
  const a = aText.split('\n');
  const b = bText.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops = []; // [' ' | '-' | '+', line, aLine, bLine]
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      ops.push([' ', a[i], i++, j++]);
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push(['-', a[i], i++, j]);
    } else {
      ops.push(['+', b[j], i, j++]);
    }
  }
  const out = [`--- ${aName}`, `+++ ${bName}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k][0] === ' ') {
      k++;
      continue;
    }
    // A hunk: this change, the changes within 2*context lines of it, and context around.
    let end = k;
    let last = k;
    while (end < ops.length) {
      if (ops[end][0] !== ' ') last = end;
      else if (end - last > 2 * context) break;
      end++;
    }
    const start = Math.max(0, k - context);
    const stop = Math.min(ops.length, last + context + 1);
    out.push(`@@ -${ops[start][2] + 1} +${ops[start][3] + 1} @@`);
    for (let h = start; h < stop; h++) out.push(ops[h][0] + ops[h][1]);
    k = stop;
  }
  return out.join('\n');
}

async function checkSdl() {
  const query = getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
    oneOf: true,
  });
  const response = await fetchFn(args.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    fail(`SDL check: introspection answered HTTP ${response.status} with no JSON: ${text.slice(0, 300)}`);
    return;
  }
  if (response.status !== 200 || body.errors || !body.data) {
    fail(`SDL check: introspection answered HTTP ${response.status}: ${JSON.stringify(body.errors ?? body).slice(0, 1000)}`);
    return;
  }

  const served = buildClientSchema(body.data);
  const committed = buildSchema(readFileSync(args.sdl, 'utf8'));

  // printSchema prints the schema description too; this says plainly when it is what differs.
  if ((served.description ?? null) !== (committed.description ?? null)) {
    fail(
      `SDL check: schema description differs: served ${JSON.stringify(served.description ?? null)}, ` +
        `${args.sdl} has ${JSON.stringify(committed.description ?? null)}`,
    );
  }

  const servedSdl = printSchema(lexicographicSortSchema(served));
  const committedSdl = printSchema(lexicographicSortSchema(committed));
  if (servedSdl === committedSdl) {
    console.log(`${tag} ok     SDL: the SDL printed from introspection equals ${args.sdl}`);
  } else {
    console.log(lineDiff(committedSdl, servedSdl, `${args.sdl} (normalised)`, 'introspection (normalised)'));
    fail(`SDL check: the SDL printed from introspection differs from ${args.sdl} (diff above)`);
  }
}

try {
  if (!args['skip-audits']) await runAudits();
  if (args.sdl) await checkSdl();
} catch (err) {
  fail(`fatal: ${err?.stack ?? err}`);
}
console.log(`${tag} ${failed ? 'FAILED' : 'passed'}`);
process.exit(failed ? 1 : 0);
