// contract.mjs — checks every HTTP exchange the API tests recorded against
// service/openapi.yaml.
//
//   node contract.mjs OPENAPI_YAML EXCHANGES_DIR    check every *.jsonl in the dir
//   node contract.mjs --reset EXCHANGES_DIR         empty the dir (a CTest fixture)
//
// The harness (test/api/harness_http.c) writes one JSON line per exchange:
// {method, path (raw, with the query), status, content_type, has_body,
//  body (parsed JSON) | text}.
//
// Each exchange is matched to a spec path the way the router matches
// (service/routes.c: '/'-separated, a {param} matches one non-empty segment,
// the template with the most literal segments wins), then:
//   - the method has an operation there (HEAD is the GET operation, without
//     a body): the status must be one the operation lists, the content type
//     one that response lists (none for a response without content), and a
//     JSON body must validate against that response's schema;
//   - the path matches but the method has no operation: OPTIONS must be a
//     bodiless 204, anything else a 405 problem;
//   - the path matches no spec path: a 404 problem;
// and any exchange may be the 503 problem every route answers while the
// server shuts down. Fails on any mismatch, and when nothing was recorded.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

const args = process.argv.slice(2);
if (args[0] === '--reset' && args.length === 2) {
  rmSync(args[1], { recursive: true, force: true });
  mkdirSync(args[1], { recursive: true });
  console.log(`emptied ${args[1]}`);
  process.exit(0);
}
if (args.length !== 2) {
  console.error('usage: node contract.mjs OPENAPI_YAML EXCHANGES_DIR | --reset EXCHANGES_DIR');
  process.exit(2);
}
const [specPath, dir] = args;
const spec = parse(readFileSync(specPath, 'utf8'));

// ---- the spec: OpenAPI-level $refs are followed here; schema $refs by Ajv,
// which sees the whole document as one schema resource named "openapi".
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);

const pointer = (parts) => parts.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

function at(ptr) {
  let node = spec;
  for (const raw of ptr.split('/').slice(1)) {
    node = node?.[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

// Follows $ref chains of OpenAPI objects; returns [object, its JSON pointer].
function deref(obj, ptr) {
  for (let hops = 0; obj && typeof obj.$ref === 'string'; hops++) {
    if (!obj.$ref.startsWith('#/') || hops > 16) throw new Error(`cannot follow ${obj.$ref} at ${ptr}`);
    ptr = obj.$ref.slice(1);
    obj = at(ptr);
  }
  return [obj, ptr];
}

const validators = new Map();
function validator(schemaPtr) {
  if (!validators.has(schemaPtr)) validators.set(schemaPtr, ajv.compile({ $ref: `openapi#${schemaPtr}` }));
  return validators.get(schemaPtr);
}

const mediaType = (ct) => (ct ?? '').split(';')[0].trim().toLowerCase();
const isJson = (mt) => mt === 'application/json' || /^application\/[^/]+\+json$/.test(mt);

// Responses the router gives outside any operation, as OpenAPI response
// objects over the spec's own Problem schema.
const problemOf = (status, kind) => ({
  content: {
    'application/problem+json': {
      schema: {
        allOf: [
          { $ref: '#/components/schemas/Problem' },
          { properties: { status: { const: status }, type: { const: `urn:orgd:problem:${kind}` } } },
        ],
      },
    },
  },
});
spec['x-contract-check'] = {
  '404': problemOf(404, 'not-found'),
  '405': problemOf(405, 'method-not-allowed'),
  '503': problemOf(503, 'unavailable'),
  '204': { description: 'OPTIONS' },
  '307': { description: 'a route off by its trailing slash (see the info description)' },
};
ajv.addSchema(spec, 'openapi');
const generic = (status) => [`/x-contract-check/${status}`, spec['x-contract-check'][status]];

// ---- matching a raw path to a spec path, as the router does
const templates = Object.keys(spec.paths).map((tpl) => ({ tpl, segs: tpl.split('/') }));
function matchPath(raw) {
  const segs = raw.split('/');
  let best = null;
  let bestLiterals = -1;
  for (const { tpl, segs: t } of templates) {
    if (t.length !== segs.length) continue;
    let literals = 0;
    let ok = true;
    for (let i = 0; ok && i < t.length; i++) {
      if (/^\{[^}]+\}$/.test(t[i])) ok = segs[i].length > 0 && Buffer.byteLength(segs[i]) < 256;
      else if (t[i] === segs[i]) literals++;
      else ok = false;
    }
    if (ok && literals > bestLiterals) {
      best = tpl;
      bestLiterals = literals;
    }
  }
  return best;
}

// ---- checking one exchange; returns a list of problems (empty: fine)
const seen = new Map(); // "METHOD path status" -> count, for the coverage summary

// The METRICS_PORT listener serves GET /metrics and nothing else (404 for
// every other path), and the main port then has no /metrics at all: the
// spec marks such paths with x-metrics-port. Which listener answered is
// known when the recording has url_base (where the request went) and
// orgd_port (the orgd's main port); without them, a "no such route" 404 on a
// routed path is taken as the metrics listener's, and counted.
let guessedMetricsListener = 0;
const portOf = (base) => {
  const m = /:(\d+)\/?$/.exec(base ?? '');
  return m ? Number(m[1]) : null;
};
function listenerOf(x) {
  if (x.url_base !== undefined && x.orgd_port !== undefined)
    return portOf(x.url_base) === x.orgd_port ? 'main' : 'metrics';
  return 'unknown';
}

function check(x) {
  const errors = [];
  const [rawPath] = x.path.split('?');
  const method = x.method.toUpperCase();
  const status = String(x.status);
  const listener = listenerOf(x);
  let tpl = matchPath(rawPath);
  if (listener === 'metrics' && !(tpl && spec.paths[tpl]['x-metrics-port'])) tpl = null;
  if (tpl && status === '404' && spec.paths[tpl]['x-metrics-port']) tpl = null; // moved away
  if (tpl && listener === 'unknown' && status === '404' && x.body?.detail === 'no such route') {
    guessedMetricsListener++;
    tpl = null;
  }
  const item = tpl ? spec.paths[tpl] : null;
  const op = item ? item[method === 'HEAD' ? 'get' : method.toLowerCase()] : null;
  let where;
  let response;
  let label;

  if (op) {
    label = `${method === 'HEAD' ? 'GET' : method} ${tpl}`;
    const opPtr = pointer(['', 'paths', tpl, method === 'HEAD' ? 'get' : method.toLowerCase()]);
    const listed = op.responses?.[status];
    if (listed === undefined) {
      errors.push(`status ${status} is not listed for ${label} (it lists ${Object.keys(op.responses).join(', ')})`);
      return errors;
    }
    [response, where] = deref(listed, `${opPtr}/responses/${status}`);
  } else if (item) {
    label = `${method} ${tpl} (no such operation)`;
    const expected = method === 'OPTIONS' ? '204' : '405';
    if (status !== expected && status !== '503') {
      errors.push(`expected ${expected} for ${method} on ${tpl}, got ${status}`);
      return errors;
    }
    [where, response] = generic(status);
  } else if (status === '307' && method !== 'OPTIONS' &&
             matchPath(rawPath.endsWith('/') ? rawPath.slice(0, -1) : `${rawPath}/`)) {
    label = '(a route off by its trailing slash)';
    [where, response] = generic(status);
  } else {
    label = '(no route)';
    if (status !== '404' && status !== '503') {
      errors.push(`expected a 404 problem for a path that matches no route, got ${status}`);
      return errors;
    }
    [where, response] = generic(status);
  }
  const key = `${label} ${status}`;
  seen.set(key, (seen.get(key) ?? 0) + 1);

  const got = mediaType(x.content_type);
  const content = response.content ?? {};
  const types = Object.keys(content);
  if (types.length === 0) {
    if (x.has_body) errors.push(`${status} has no content in the spec, but a body came`);
    if (got !== '') errors.push(`${status} has no content in the spec, but Content-Type is ${x.content_type}`);
    return errors;
  }
  const declared = types.find((t) => mediaType(t) === got);
  if (declared === undefined) {
    errors.push(`Content-Type ${JSON.stringify(x.content_type)} is not one the spec lists for ${status} (${types.join(', ')})`);
    return errors;
  }
  if (method === 'HEAD') {
    if (x.has_body) errors.push('a HEAD response has a body');
    return errors;
  }
  if (!x.has_body) {
    errors.push(`${status} should have a ${declared} body, but came empty`);
    return errors;
  }
  if (isJson(got)) {
    if (x.body === undefined) {
      errors.push(`the ${declared} body is not JSON: ${JSON.stringify((x.text ?? '').slice(0, 200))}`);
      return errors;
    }
    const schemaPtr = `${where}/content/${pointer([declared])}/schema`;
    const validate = validator(schemaPtr);
    if (!validate(x.body)) {
      for (const e of validate.errors) errors.push(`body${e.instancePath} ${e.message} (${e.schemaPath})`);
    }
  }
  return errors;
}

// ---- the run
let files;
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
} catch (e) {
  console.error(`FAILED: cannot read ${dir}: ${e.message}`);
  process.exit(1);
}
let count = 0;
let failed = 0;
const MAX_SHOWN = 40;
for (const f of files) {
  const lines = readFileSync(join(dir, f), 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let x;
    try {
      x = JSON.parse(line);
    } catch {
      // a line still being written by a test that has not finished; all
      // tests that record are ordered before this one, so this is a bug
      failed++;
      console.error(`${f}:${i + 1}: not a JSON line`);
      return;
    }
    count++;
    const errors = check(x);
    if (errors.length) {
      failed++;
      if (failed <= MAX_SHOWN) {
        console.error(`${f}:${i + 1}: ${x.method} ${x.path} -> ${x.status} ${x.content_type}`);
        for (const e of errors) console.error(`    ${e}`);
        if (x.body !== undefined) console.error(`    body: ${JSON.stringify(x.body).slice(0, 400)}`);
      }
    }
  });
}
if (failed > MAX_SHOWN) console.error(`... and ${failed - MAX_SHOWN} more`);

// coverage: which documented operation+status pairs the tests exercised
const documented = [];
for (const [tpl, item] of Object.entries(spec.paths)) {
  for (const [m, op] of Object.entries(item)) {
    if (typeof op !== 'object' || !op.responses) continue;
    for (const st of Object.keys(op.responses)) documented.push(`${m.toUpperCase()} ${tpl} ${st}`);
  }
}
const untested = documented.filter((k) => !seen.has(k));
console.log(`${count} exchanges in ${files.length} files; ${documented.length - untested.length} of ` +
  `${documented.length} documented operation/status pairs exercised`);
if (guessedMetricsListener > 0)
  console.log(`${guessedMetricsListener} "no such route" 404s on routed paths taken as the METRICS_PORT ` +
    `listener's (the recordings do not say which port answered)`);
if (process.env.CONTRACT_VERBOSE) for (const k of untested) console.log(`  not exercised: ${k}`);

if (count === 0) {
  console.error(`FAILED: no exchanges recorded in ${dir} (run the api.* tests first)`);
  process.exit(1);
}
if (failed > 0) {
  console.error(`FAILED: ${failed} of ${count} exchanges do not match ${specPath}`);
  process.exit(1);
}
console.log(`all ${count} exchanges match ${specPath}`);
