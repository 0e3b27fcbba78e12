// routes.mjs PRINT_ROUTES OPENAPI_YAML — fails when the router's route table
// (printed by the print_routes program, built from service/routes.c) and the
// OpenAPI file disagree on the set of method + path pairs.
//
// HEAD and OPTIONS are answered generically by the router for every route
// and are documented in the spec's description, not as operations: an
// operation for either in the spec is a failure too.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const [printRoutes, specPath] = process.argv.slice(2);
if (!printRoutes || !specPath) {
  console.error('usage: node routes.mjs PRINT_ROUTES OPENAPI_YAML');
  process.exit(2);
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const router = new Set(
  execFileSync(printRoutes, { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [method, path] = line.trim().split(/\s+/);
      return `${method.toUpperCase()} ${path}`;
    }),
);

const spec = parse(readFileSync(specPath, 'utf8'));
const documented = new Set();
for (const [path, item] of Object.entries(spec.paths ?? {})) {
  for (const method of METHODS) {
    if (item[method] !== undefined) documented.add(`${method.toUpperCase()} ${path}`);
  }
}

const onlyRouter = [...router].filter((r) => !documented.has(r)).sort();
const onlySpec = [...documented].filter((r) => !router.has(r)).sort();
for (const r of onlyRouter) console.error(`served but not in ${specPath}: ${r}`);
for (const r of onlySpec) console.error(`in ${specPath} but not served: ${r}`);
if (router.size === 0) console.error('the route table is empty?');
if (onlyRouter.length || onlySpec.length || router.size === 0) {
  console.error(`FAILED: the router and the OpenAPI file disagree`);
  process.exit(1);
}
console.log(`${router.size} routes: the router and ${specPath} agree`);
