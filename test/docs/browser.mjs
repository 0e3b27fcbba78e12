// browser.mjs ORGD_BINARY SCREENSHOT_PNG — the /docs page in a real browser.
//
// Starts orgd on a free 127.0.0.1 port against ORGD_TEST_MONGO_URI (its own
// MASTER_DB and a random JWT_SECRET), opens /docs in Debian's headless
// Chromium (driven by playwright-core), and does what a person would: "Try
// it out" -> Execute on POST /org/create and POST /admin/login (with unique
// names), Authorize with the token, then GET /org/{name}; asserts the codes
// and bodies Swagger UI shows (201, 200, 200), and saves a screenshot. Then
// an account's session, the same way: POST /auth/signup, POST /auth/signin,
// POST /auth/refresh_token with the sign-in's refresh token, Authorize with
// the new access token, and, so authorized, POST /organization/ and POST
// /organization/{id}/invite for another e-mail; then POST /auth/logout (201,
// 200, 200, 201, 201, 204), and checks through the API that the session has
// ended (its access and refresh tokens are 401). Then the invited person, in
// a second browser context (a fresh profile: no cookies, storage or Swagger
// UI authorization of the first), opens /docs and runs POST
// /invitations/accept with the token and a password (200, without a bearer
// token), and signs in through the API to find the organization listed.
// Fails on any request that leaves the server (the page must work offline),
// any script error or Content-Security-Policy violation, and on the
// allow-list of /docs/{asset} letting anything else through. Every response
// is also recorded for the contract check (test/docs/contract.mjs) when
// ORGD_TEST_EXCHANGES_DIR is set. orgd is stopped by its pid (SIGTERM).
//
// Exit 77 (CTest: skipped) only when Chromium is not installed.
import { appendFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { finish, launchChromium, skipWithoutChromium, startOrgd, testRun } from './harness_browser.mjs';

const [orgdBinary, screenshotPath] = process.argv.slice(2);
if (!orgdBinary || !screenshotPath) {
  console.error('usage: node browser.mjs ORGD_BINARY SCREENSHOT_PNG');
  process.exit(2);
}
skipWithoutChromium();
const mongoUri = process.env.ORGD_TEST_MONGO_URI;
if (!mongoUri) {
  console.error('FAILED: ORGD_TEST_MONGO_URI is not set (scripts/test sets it; or: export ORGD_TEST_MONGO_URI=$(scripts/db start))');
  process.exit(1);
}

const { suffix, failures, fail, step } = testRun();

// ---- recording exchanges in the harness's format
const exchangesDir = process.env.ORGD_TEST_EXCHANGES_DIR;
const exchangesFile = exchangesDir ? join(exchangesDir, `browser-${process.pid}.jsonl`) : null;
function record(method, path, status, contentType, body) {
  if (!exchangesFile) return;
  const line = { method, path, status, content_type: contentType ?? '', has_body: body.length > 0 };
  if (body.length > 0) {
    try {
      line.body = JSON.parse(body.toString('utf8'));
    } catch {
      if (body.length < 4096 && /^text\/|json|yaml/.test(contentType ?? '')) line.text = body.toString('utf8');
    }
  }
  appendFileSync(exchangesFile, JSON.stringify(line) + '\n');
}

// ---- orgd
const orgd = await startOrgd({
  binary: orgdBinary,
  mongoUri,
  masterDb: `docs_${suffix}`,
  logName: `orgd-docs-browser-${suffix}.log`,
  passEnv: ['DOCS_DIR'],
  fail,
});
const { port, base, env, logPath } = orgd;

// plain HTTP with the path sent as it is (no URL normalization), recorded;
// json: a body to send as application/json
function http(method, path, headers = {}, json = undefined) {
  return new Promise((resolve, reject) => {
    const data = json === undefined ? null : Buffer.from(JSON.stringify(json));
    if (data) headers = { ...headers, 'Content-Type': 'application/json', 'Content-Length': data.length };
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        const type = res.headers['content-type'] ?? '';
        record(method, path, res.statusCode, type, body);
        let parsed = null;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode, type, body, json: parsed, cache: res.headers['cache-control'] ?? '' });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

let browser = null;
try {
  await orgd.ready();
  step(`orgd on ${base}, MASTER_DB=${env.MASTER_DB}`);

  // ---- what the page is built from, without a browser
  const spec = await http('GET', '/openapi.yaml');
  if (spec.status !== 200 || !/^(application|text)\/yaml/.test(spec.type)) fail(`/openapi.yaml: ${spec.status} ${spec.type}`);
  if (!spec.body.toString('utf8').startsWith('openapi: 3.')) fail('/openapi.yaml does not start with "openapi: 3."');
  const page0 = await http('GET', '/docs');
  if (page0.status !== 200 || !page0.type.startsWith('text/html')) fail(`/docs: ${page0.status} ${page0.type}`);
  if (page0.cache !== 'no-store') fail(`/docs: Cache-Control "${page0.cache}", expected no-store`);
  const bundle = await http('GET', '/docs/swagger-ui-bundle.js');
  if (bundle.status !== 200 || !/max-age=\d+/.test(bundle.cache)) fail(`/docs/swagger-ui-bundle.js: ${bundle.status}, Cache-Control "${bundle.cache}": the bundle should be cacheable`);
  const head = await http('HEAD', '/docs');
  if (head.status !== 200 || head.body.length !== 0) fail(`HEAD /docs: ${head.status}, ${head.body.length} bytes`);
  for (const p of ['/docs/index.html', '/docs/swagger-ui.js', '/docs/swagger-ui.css.map', '/docs/..%2fopenapi.yaml',
    '/docs/..%2F..%2F..%2Fetc%2Fpasswd', '/docs/%2e%2e', '/docs/package.json', '/docs/SWAGGER-UI.CSS']) {
    const r = await http('GET', p);
    if (r.status !== 404 || !r.type.startsWith('application/problem+json')) fail(`${p}: expected a 404 problem, got ${r.status} ${r.type}`);
  }
  for (const p of ['/docs/%zz', '/docs/swagger-ui.css%00']) {
    const r = await http('GET', p);
    if (r.status !== 400 || !r.type.startsWith('application/problem+json')) fail(`${p}: expected a 400 problem, got ${r.status} ${r.type}`);
  }
  step('/openapi.yaml, /docs and the /docs/{asset} allow-list answer as documented');

  // ---- the page, in Chromium
  browser = await launchChromium();

  // /docs in a new browser context: a fresh profile of its own (no cookies,
  // storage or Swagger UI authorization of another context), watched for
  // requests leaving the server, script errors and failed requests, and
  // recording every response. `who` names the context in failures.
  async function openDocs(who) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base + '/') || url.startsWith('data:')) return route.continue();
      fail(`${who}: the page requested ${url}: it must need nothing but this server`);
      return route.abort();
    });
    page.on('pageerror', (e) => fail(`${who}: script error on the page: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 404.*favicon\.ico/.test(m.text()))
        fail(`${who}: console error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => {
      if (r.url().startsWith(base)) fail(`${who}: request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`);
    });
    page.on('response', async (r) => {
      const url = new URL(r.url());
      if (url.origin !== base) return;
      let body = Buffer.alloc(0);
      try {
        if (r.request().method() !== 'HEAD' && r.status() !== 204) body = await r.body();
      } catch {
        /* page navigated away */
      }
      record(r.request().method(), url.pathname + url.search, r.status(), r.headers()['content-type'], body);
    });
    await page.goto(`${base}/docs`, { waitUntil: 'load' });
    await page.locator('.swagger-ui .info .title').waitFor();
    return page;
  }

  const page = await openDocs('first context');
  const title = await page.locator('.swagger-ui .info .title').innerText();
  if (!title.includes('orgd')) fail(`the page's title is ${JSON.stringify(title)}`);
  step(`/docs rendered "${title.split('\n')[0]}"`);

  const org = `Docs-${suffix}`;
  const email = `docs-${suffix}@example.com`;
  const password = `correct horse ${suffix}`;

  // Expands an operation on page p, presses "Try it out", lets fill() edit
  // the inputs, presses Execute, and returns {status, body, curl} as the
  // page shows them. Then it closes the operation again unless told to keep
  // it open: Swagger UI redraws every open operation on each change, so the
  // steps slow down as they pile up (by 10 s over the run, on a loaded
  // machine).
  async function tryItOutOn(p, opId, fill, keepOpen = false) {
    const op = p.locator(`#${opId}`);
    await op.locator('.opblock-summary').first().click();
    await op.locator('button.try-out__btn').click();
    await fill(op);
    await op.locator('button.execute').click();
    const row = op.locator('.live-responses-table tbody tr.response');
    await row.waitFor();
    const status = (await row.locator('td.response-col_status').innerText()).trim();
    // a 204 has no "Response body" block (its first <pre> would be the headers)
    const bodyText = status === '204' ? '' : await row.locator('td.response-col_description pre').first().innerText();
    let body = null;
    try {
      body = JSON.parse(bodyText);
    } catch {
      /* asserted by the caller */
    }
    const curl = await op.locator('.curl-command').innerText();
    if (!keepOpen) await op.locator('.opblock-summary').first().click();
    return { status, body, bodyText, curl };
  }
  const tryItOut = (opId, fill, keepOpen) => tryItOutOn(page, opId, fill, keepOpen);

  const created = await tryItOut('operations-organizations-createOrganization', async (op) => {
    await op.locator('textarea.body-param__text').fill(
      JSON.stringify({ organization_name: org, email, password }, null, 2));
  });
  if (created.status !== '201') fail(`create: the page shows ${created.status}: ${created.bodyText}`);
  if (created.body?.organization_name !== org || created.body?.collection_name !== `org_${org.toLowerCase()}`)
    fail(`create: unexpected body ${created.bodyText}`);
  step(`Try it out: POST /org/create -> ${created.status}`);

  const login = await tryItOut('operations-auth-login', async (op) => {
    await op.locator('textarea.body-param__text').fill(JSON.stringify({ email, password }, null, 2));
  });
  const token = login.body?.access_token;
  if (login.status !== '200' || typeof token !== 'string' || login.body?.token_type !== 'bearer')
    fail(`login: the page shows ${login.status}: ${login.bodyText}`);
  step(`Try it out: POST /admin/login -> ${login.status}`);

  // Authorize: the bearer scheme's dialog; a token entered before is
  // removed first ("Logout" in the dialog), as a person would
  async function authorize(bearer) {
    await page.locator('.auth-wrapper button.authorize').click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    await dialog.waitFor();
    const remove = dialog.locator('button[aria-label="Remove authorization"]');
    if ((await remove.count()) > 0) await remove.first().click();
    await dialog.locator('input[type="text"], input[type="password"]').first().fill(bearer ?? '');
    await dialog.locator('button.authorize').click();
    await dialog.locator('button.btn-done').click();
    await dialog.waitFor({ state: 'detached' });
  }
  await authorize(token);
  step('Authorize: token entered');

  const got = await tryItOut('operations-organizations-getOrganization', async (op) => {
    await op.locator('tr[data-param-name="name"] input').fill(org);
  }, true); // open for the screenshot
  if (got.status !== '200') fail(`get: the page shows ${got.status}: ${got.bodyText}`);
  if (got.body?.organization_name !== org || got.body?.admin?.email !== email) fail(`get: unexpected body ${got.bodyText}`);
  if (!got.curl.includes('Authorization: Bearer ')) fail('get: the request Swagger UI shows carries no bearer token');
  step(`Try it out: GET /org/{name} -> ${got.status} (with the bearer token)`);

  // the GET operation from its summary line down to the live response
  await page.setViewportSize({ width: 1280, height: 1200 });
  await page.locator('#operations-organizations-getOrganization').evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: screenshotPath });
  step(`screenshot: ${screenshotPath}`);
  await page.locator('#operations-organizations-getOrganization .opblock-summary').first().click();

  // ---- an account's session: sign up, sign in, refresh, log out
  const accountEmail = `docs-account-${suffix}@example.com`;
  const signedUp = await tryItOut('operations-auth-signup', async (op) => {
    await op.locator('textarea.body-param__text').fill(
      JSON.stringify({ email: accountEmail, password, username: `Docs ${suffix}` }, null, 2));
  });
  if (signedUp.status !== '201') fail(`signup: the page shows ${signedUp.status}: ${signedUp.bodyText}`);
  if (signedUp.body?.email !== accountEmail || signedUp.body?.username !== `Docs ${suffix}`)
    fail(`signup: unexpected body ${signedUp.bodyText}`);
  step(`Try it out: POST /auth/signup -> ${signedUp.status}`);

  const signedIn = await tryItOut('operations-auth-signin', async (op) => {
    await op.locator('textarea.body-param__text').fill(JSON.stringify({ email: accountEmail, password }, null, 2));
  });
  const firstRefresh = signedIn.body?.refresh_token;
  if (signedIn.status !== '200' || typeof signedIn.body?.access_token !== 'string' || typeof firstRefresh !== 'string' ||
      signedIn.body?.token_type !== 'bearer' || 'organization_name' in (signedIn.body ?? {}))
    fail(`signin: the page shows ${signedIn.status}: ${signedIn.bodyText}`);
  step(`Try it out: POST /auth/signin -> ${signedIn.status}`);

  const refreshed = await tryItOut('operations-auth-refreshToken', async (op) => {
    await op.locator('textarea.body-param__text').fill(JSON.stringify({ refresh_token: firstRefresh ?? '' }, null, 2));
  });
  const access = refreshed.body?.access_token;
  const secondRefresh = refreshed.body?.refresh_token;
  if (refreshed.status !== '200' || typeof access !== 'string' || typeof secondRefresh !== 'string')
    fail(`refresh: the page shows ${refreshed.status}: ${refreshed.bodyText}`);
  else if (access === signedIn.body?.access_token || secondRefresh === firstRefresh)
    fail(`refresh: the page shows the sign-in's tokens again: ${refreshed.bodyText}`);
  step(`Try it out: POST /auth/refresh_token -> ${refreshed.status} (a new pair)`);

  await authorize(access);
  step('Authorize: the refreshed access token entered');

  // ---- so authorized: an organization of the account's own, and an invitation
  const team = `Team-${suffix}`;
  const teamMade = await tryItOut('operations-organizations-createTeam', async (op) => {
    await op.locator('textarea.body-param__text').fill(
      JSON.stringify({ name: team, description: 'Made in the browser test.' }, null, 2));
  });
  const teamId = teamMade.body?.id;
  if (teamMade.status !== '201' || typeof teamId !== 'string' || teamMade.body?.name !== team ||
      teamMade.body?.role !== 'owner' || teamMade.body?.members?.[0]?.email !== accountEmail)
    fail(`create (account-first): the page shows ${teamMade.status}: ${teamMade.bodyText}`);
  step(`Try it out: POST /organization/ -> ${teamMade.status}`);

  const invitedEmail = `docs-invited-${suffix}@example.com`;
  const invited = await tryItOut('operations-invitations-inviteMember', async (op) => {
    await op.locator('tr[data-param-name="id"] input').fill(teamId ?? '');
    await op.locator('textarea.body-param__text').fill(JSON.stringify({ email: invitedEmail, role: 'member' }, null, 2));
  });
  const invitation = invited.body?.token;
  if (invited.status !== '201' || typeof invitation !== 'string' || invited.body?.status !== 'pending' ||
      invited.body?.organization_id !== teamId || invited.body?.email !== invitedEmail)
    fail(`invite: the page shows ${invited.status}: ${invited.bodyText}`);
  step(`Try it out: POST /organization/{id}/invite -> ${invited.status} (a token for ${invitedEmail})`);

  const loggedOut = await tryItOut('operations-auth-logout', async () => {});
  if (loggedOut.status !== '204') fail(`logout: the page shows ${loggedOut.status}: ${loggedOut.bodyText}`);
  if (!loggedOut.curl.includes(`Authorization: Bearer ${access}`))
    fail('logout: the request Swagger UI shows does not carry the refreshed access token');
  step(`Try it out: POST /auth/logout -> ${loggedOut.status} (with the refreshed token)`);

  // the session is over for both of its tokens
  const check = await http('GET', '/auth/check', { Authorization: `Bearer ${access}` });
  if (check.status !== 401) fail(`after logout, GET /auth/check with its access token: ${check.status}, expected 401`);
  const again = await http('POST', `/auth/refresh_token?refresh_token=${encodeURIComponent(secondRefresh ?? '')}`);
  if (again.status !== 401) fail(`after logout, POST /auth/refresh_token with its refresh token: ${again.status}, expected 401`);
  step('after logout the access token and the refresh token are 401');

  // ---- the invited person: another browser context, so no authorization
  // is carried over; accepting creates the account
  const second = await openDocs('second context');
  const accepted = await tryItOutOn(second, 'operations-invitations-acceptInvitation', async (op) => {
    await op.locator('textarea.body-param__text').fill(
      JSON.stringify({ token: invitation ?? '', password, username: `Invited ${suffix}` }, null, 2));
  });
  if (accepted.status !== '200' || accepted.body?.organization_id !== teamId || accepted.body?.email !== invitedEmail ||
      accepted.body?.role !== 'member' || accepted.body?.account_created !== true)
    fail(`accept: the page shows ${accepted.status}: ${accepted.bodyText}`);
  if (accepted.curl.includes('Authorization:')) fail('accept: the second context sent an Authorization header');
  step(`Try it out, second context: POST /invitations/accept -> ${accepted.status} (no bearer token; account created)`);

  // the invited account signs in and is a member
  const invitedIn = await http('POST', '/auth/signin', {}, { email: invitedEmail, password });
  const invitedToken = invitedIn.json?.access_token;
  const mine = await http('GET', '/organization/', { Authorization: `Bearer ${invitedToken}` });
  const listed = Array.isArray(mine.json) ? mine.json.find((o) => o.id === teamId) : undefined;
  if (invitedIn.status !== 200 || mine.status !== 200 || listed?.role !== 'member')
    fail(`the invited account: sign-in ${invitedIn.status}, GET /organization/ ${mine.status}: ${mine.body}`);
  step('the invited account signs in and lists the organization, as a member');

  // tidy up through the API
  const del = await http('DELETE', `/org/delete/${org}`, { Authorization: `Bearer ${token}` });
  if (del.status !== 204) fail(`delete: ${del.status}`);
  const ownerIn = await http('POST', '/auth/signin', {}, { email: accountEmail, password });
  const delTeam = await http('DELETE', `/organization/${teamId}`, { Authorization: `Bearer ${ownerIn.json?.access_token}` });
  if (delTeam.status !== 204) fail(`delete (account-first): ${delTeam.status}`);
} catch (e) {
  fail(e.stack ?? String(e));
} finally {
  if (browser) await browser.close().catch(() => {});
  await orgd.stop();
}

finish(failures, logPath, 'PASSED: /docs works in Chromium: create 201, login 200, get 200; ' +
  'signup 201, signin 200, refresh 200, create by id 201, invite 201, logout 204; ' +
  'accept 200 in a second context');
