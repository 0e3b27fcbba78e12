// mail_pages.mjs ORGD_BINARY — the pages the links in mail open, in a real browser.
//
// Starts orgd on a free 127.0.0.1 port against ORGD_TEST_MONGO_URI (its own
// MASTER_DB and a random JWT_SECRET), with mail on: SMTP_URL is
// ORGD_TEST_SMTP_URL (the suite's Mailpit) and PUBLIC_URL is orgd's own
// address, so the links in mail lead back to it. Mail is read through
// Mailpit's API (ORGD_TEST_MAILPIT_API); every address is unique to the run.
// Then, in Debian's headless Chromium (driven by playwright-core, with
// JavaScript off: the pages need none), as a person would (docs/API.md
// "The pages"):
//
//   1. invitation: an account signs up and makes an organization whose
//      display name is markup (the pages must show it as text), invites a
//      fresh address (the answer holds no token); the link in the mail
//      opens /pages/invitation, which names the organization, the role and
//      the address; a name and a password make the account and the page
//      welcomes it. Through the API the invitee signs in, lists the
//      organization with its role and has email_verified true. The link
//      again: 410, a page that says so.
//   2. password reset: forgot (202), the link opens /pages/password-reset
//      (twice: a GET spends nothing), two different passwords are refused
//      (422, the form's error), then the new one twice: done. The new
//      password signs in, the old does not (401), nor does the session from
//      before. The spent form re-submitted (back) and the link reopened:
//      410 "used ... expired".
//   3. verify e-mail: a sign-up's mail; opening the link verifies nothing,
//      the button does (GET /auth/check says email_verified). Again: 410.
//   4. an invitation to an address that has an account: the page asks it to
//      sign in; a wrong password 401; the new-account form (an account made
//      after the page was shown) 409 sending the person to sign in, not to a
//      bearer token; the right password joins and verifies the address.
//   5. one invitation's form submitted three times at once: one 200, the
//      others 409 or 410 (as the API), one membership.
//   6. a hand-made form (no minlength, bytes that are not UTF-8): the page
//      refuses every password and username the API refuses (422), and the
//      invitation still works after.
//   7. hostile: missing, empty, unknown, markup, long, badly escaped and
//      repeated tokens on GET of each page, and bad fields on POST: an error
//      page with a 4xx status and nothing of the input unescaped; in
//      Chromium, markup renders as text. Every page answer (forms, results,
//      errors) carries the headers docs/API.md promises:
//      Content-Security-Policy with default-src 'none', the style block's
//      own hash, form-action 'self' and frame-ancestors 'none';
//      Referrer-Policy: no-referrer; Cache-Control: no-store (and
//      X-Frame-Options: DENY, X-Content-Type-Options: nosniff, no cookie);
//      the style block's SHA-256 is the hash the policy names, and the
//      browser applies it; and a page framed by another origin is refused.
//
// Fails on any request that leaves the server, any script error, console
// error (a CSP violation is one) or 5xx. orgd is stopped by its pid (SIGTERM).
//
// Exit 77 (CTest: skipped) only when Chromium is not installed.
import { createHash } from 'node:crypto';
import { finish, launchChromium, skipWithoutChromium, sleep, startOrgd, testRun } from './harness_browser.mjs';

const [orgdBinary] = process.argv.slice(2);
if (!orgdBinary) {
  console.error('usage: node mail_pages.mjs ORGD_BINARY');
  process.exit(2);
}
skipWithoutChromium();
const mongoUri = process.env.ORGD_TEST_MONGO_URI;
const smtpUrl = process.env.ORGD_TEST_SMTP_URL;
const mailpitApi = process.env.ORGD_TEST_MAILPIT_API;
if (!mongoUri || !smtpUrl || !mailpitApi) {
  console.error('FAILED: ORGD_TEST_MONGO_URI, ORGD_TEST_SMTP_URL and ORGD_TEST_MAILPIT_API must be set ' +
    '(scripts/test sets them; or scripts/db start, scripts/mail start, scripts/mail api-url)');
  process.exit(1);
}
// scripts/mail api-url prints .../api/v1; accept the bare web address too
const mailpit = mailpitApi.replace(/\/+$/, '').replace(/\/api\/v1$/, '') + '/api/v1';

const { suffix, failures, fail, step } = testRun();

// ---- orgd, with mail on: its links lead back to it (PUBLIC_URL)
const orgd = await startOrgd({
  binary: orgdBinary,
  mongoUri,
  masterDb: `pages_${suffix}`,
  logName: `orgd-mail-pages-${suffix}.log`,
  extraEnv: (base) => ({
    SMTP_URL: smtpUrl,
    PUBLIC_URL: base,
    MAIL_FROM: 'orgd pages test <pages@example.com>',
  }),
  passEnv: ['MAIL_TEMPLATES_DIR'],
  fail,
});
const { base, env, logPath } = orgd;

// the JSON API; body: sent as application/json
async function api(method, path, body = undefined, token = undefined) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, json, text, headers: r.headers };
}

// the mail to an address whose subject matches, waited for (the outbox
// sends it after the answer): {subject, text, html}
async function mailTo(address, subjectRe, timeoutMs = 15000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const r = await fetch(`${mailpit}/search?query=${encodeURIComponent(`to:${address}`)}&limit=50`);
    if (r.ok) {
      const found = ((await r.json()).messages ?? []).filter((m) => subjectRe.test(m.Subject ?? ''));
      if (found.length > 0) {
        // the newest first in Mailpit's answers
        const m = await (await fetch(`${mailpit}/message/${found[0].ID}`)).json();
        return { subject: m.Subject, text: m.Text ?? '', html: m.HTML ?? '' };
      }
    }
    await sleep(200);
  }
  throw new Error(`no mail to ${address} with a subject matching ${subjectRe} within ${timeoutMs / 1000} s`);
}

// the link to path in a mail: in its text part and its HTML part, the same
function linkIn(mail, path, who) {
  const re = new RegExp(`${base.replace(/[.]/g, '\\.')}${path}\\?token=[A-Za-z0-9_-]+`);
  const inText = mail.text.match(re)?.[0];
  const inHtml = mail.html.match(re)?.[0];
  if (!inText) fail(`${who}: no ${base}${path}?token=… link in the text part:\n${mail.text}`);
  if (inHtml !== inText) fail(`${who}: the HTML part's link (${inHtml}) is not the text part's (${inText})`);
  if (!inText) throw new Error(`${who}: no link`);
  return inText;
}

// ---- what every page answer must carry (docs/API.md "The pages")
function checkHeaders(who, headers, html) {
  const h = (n) => headers[n] ?? '';
  if (!/^text\/html;\s*charset=utf-8$/i.test(h('content-type'))) fail(`${who}: Content-Type "${h('content-type')}"`);
  const csp = h('content-security-policy');
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim()).filter(Boolean)
    .map((d) => [d.split(/\s+/)[0], d.split(/\s+/).slice(1).join(' ')]));
  if (directives['default-src'] !== "'none'") fail(`${who}: CSP default-src is not 'none': "${csp}"`);
  if (directives['form-action'] !== "'self'") fail(`${who}: CSP form-action is not 'self': "${csp}"`);
  if (directives['frame-ancestors'] !== "'none'") fail(`${who}: CSP frame-ancestors is not 'none': "${csp}"`);
  for (const d of ['script-src', 'connect-src', 'img-src']) if (d in directives) fail(`${who}: CSP allows ${d}: "${csp}"`);
  const styleHash = directives['style-src'];
  if (!/^'sha256-[A-Za-z0-9+/]+=*'$/.test(styleHash ?? '')) fail(`${who}: CSP style-src is not one hash: "${csp}"`);
  if (html !== undefined) {
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
    const hash = styles.length === 1 ? `'sha256-${createHash('sha256').update(styles[0]).digest('base64')}'` : null;
    if (hash !== styleHash) fail(`${who}: ${styles.length} style block(s), hash ${hash}, the policy allows ${styleHash}`);
    if (/<script|<[^>]*\son[a-z]+\s*=|javascript:/i.test(html)) fail(`${who}: the page has script in it`);
    if (/<(link|img|iframe|object|embed)\b/i.test(html)) fail(`${who}: the page loads an asset`);
  }
  if (h('referrer-policy') !== 'no-referrer') fail(`${who}: Referrer-Policy "${h('referrer-policy')}"`);
  if (h('cache-control') !== 'no-store') fail(`${who}: Cache-Control "${h('cache-control')}"`);
  if (h('x-frame-options').toUpperCase() !== 'DENY') fail(`${who}: X-Frame-Options "${h('x-frame-options')}"`);
  if (h('x-content-type-options') !== 'nosniff') fail(`${who}: X-Content-Type-Options "${h('x-content-type-options')}"`);
  if (h('set-cookie')) fail(`${who}: the page sets a cookie`);
}

let browser = null;
const contexts = [];
try {
  await orgd.ready();
  step(`orgd on ${base}, MASTER_DB=${env.MASTER_DB}, mail through ${smtpUrl}`);

  browser = await launchChromium();

  // the browser page the cases share (the pages set no cookie and keep
  // nothing: checked), watched for requests leaving the server, script and
  // console errors, 5xx; every page answer of orgd has its headers checked.
  // `who` names the case in failures. One context for all: a context costs
  // about a second on a loaded machine.
  let who = '';
  let shared = null;
  async function newPage(name) {
    who = name;
    if (shared === null) shared = await openPage();
    return shared;
  }
  async function openPage() {
    const context = await browser.newContext({ viewport: { width: 900, height: 800 }, javaScriptEnabled: false });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    // watched, not intercepted (routing every request costs time); the
    // policy (default-src 'none') would stop such a request anyway
    page.on('request', (q) => {
      if (!q.url().startsWith(base + '/')) fail(`${who}: the page requested ${q.url()}: it must need nothing but this server`);
    });
    page.on('pageerror', (e) => fail(`${who}: script error on the page: ${e.message}`));
    page.on('console', (m) => {
      // a page answered 4xx on purpose logs "Failed to load resource"; anything else is a failure
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
        fail(`${who}: console error: ${m.text()}`);
    });
    page.on('response', async (r) => {
      const url = new URL(r.url());
      if (url.origin !== base) return;
      if (r.status() >= 500) fail(`${who}: ${r.request().method()} ${url.pathname}: ${r.status()}`);
      if (url.pathname.startsWith('/pages/') && r.request().isNavigationRequest()) {
        let body;
        try {
          body = (await r.body()).toString('utf8');
        } catch {
          /* navigated away */
        }
        checkHeaders(`${who}: ${r.request().method()} ${url.pathname} (${r.status()})`, r.headers(), body);
      }
    });
    return page;
  }

  // submits the form on page p and returns the answer's status, once the page shows it
  async function submit(p) {
    const [resp] = await Promise.all([
      p.waitForResponse((r) => r.request().method() === 'POST' && r.url().startsWith(`${base}/pages/`)),
      p.locator('button[type="submit"]').click(),
    ]);
    await p.waitForLoadState('load');
    return resp.status();
  }
  const heading = (p) => p.locator('h1').innerText();
  const mainText = (p) => p.locator('main').innerText();

  // the style block is applied (its hash is the policy's) and the page has no markup of its input
  async function checkRendered(p, who) {
    // (page scripts are off; Playwright's evaluate runs all the same)
    const maxWidth = await p.evaluate(() => getComputedStyle(document.body).maxWidth).catch(() => null);
    if (maxWidth !== '512px') fail(`${who}: the style block was not applied (body max-width ${maxWidth})`);
  }

  const password = `correct horse ${suffix}`;
  let ownerToken, orgId, orgName; // case 1's, for case 5
  let resetEmail, resetPassword; // case 2's account, unverified, for case 5

  // ================= 1. invitation
  {
    const ownerEmail = `pages-owner-${suffix}@example.com`;
    const owner = await api('POST', '/auth/signup', { email: ownerEmail, password, username: `Owner ${suffix}` });
    if (owner.status !== 201) throw new Error(`signup of the owner: ${owner.status} ${owner.text}`);
    ownerToken = (await api('POST', '/auth/signin', { email: ownerEmail, password })).json?.access_token;
    orgName = `<img src=x onerror="alert(1)"> & 'Q' ${suffix}`;
    const made = await api('POST', '/organization/', { name: orgName }, ownerToken);
    orgId = made.json?.id;
    if (made.status !== 201 || !orgId) throw new Error(`create the organization: ${made.status} ${made.text}`);
    const invitee = `pages-invitee-${suffix}@example.com`;
    const inv = await api('POST', `/organization/${orgId}/invite`, { email: invitee, role: 'admin' }, ownerToken);
    if (inv.status !== 201) throw new Error(`invite: ${inv.status} ${inv.text}`);
    if ('token' in (inv.json ?? {})) fail('invite: with mail on, the answer holds the token');
    step(`1. ${ownerEmail} made "${orgName}" and invited ${invitee} (201, no token in the answer)`);

    const mail = await mailTo(invitee, /./);
    const link = linkIn(mail, '/pages/invitation', 'invitation mail');
    if (mail.html.includes('<img src=x')) fail('invitation mail: the organization name is not escaped in the HTML part');
    step(`1. the invitation mail arrived ("${mail.subject}"), its link ${link.slice(0, base.length + 40)}…`);

    const page = await newPage('invitation');
    const shown = await page.goto(link);
    if (shown.status() !== 200) fail(`invitation: GET the link: ${shown.status()}`);
    await checkRendered(page, 'invitation form');
    const intro = await mainText(page);
    if (!intro.includes(orgName)) fail(`invitation: the page does not name the organization as text: ${intro}`);
    if (!intro.includes(invitee)) fail(`invitation: the page does not name the address: ${intro}`);
    if (!intro.includes('admin')) fail(`invitation: the page does not name the role: ${intro}`);
    if ((await page.locator('img').count()) > 0) fail('invitation: the organization name became an <img>');
    await page.locator('input[name="username"]').fill(`Invitee <b>${suffix}</b>`);
    await page.locator('input[name="password"]').fill(password);
    const accepted = await submit(page);
    const welcome = await mainText(page);
    if (accepted !== 200 || (await heading(page)) !== 'Welcome') fail(`invitation: submit: ${accepted}: ${welcome}`);
    if (!welcome.includes(orgName) || !welcome.includes(invitee) || !welcome.includes('admin'))
      fail(`invitation: the welcome page does not say where, as what and who: ${welcome}`);
    if ((await page.locator('img, b').count()) > 0) fail('invitation: the welcome page has markup of the input in it');
    step(`1. the page took a name and a password: ${accepted} "${welcome.split('\n').slice(-1)[0]}"`);

    const signin = await api('POST', '/auth/signin', { email: invitee, password });
    const tok = signin.json?.access_token;
    const orgs = await api('GET', '/organization/', undefined, tok);
    const listed = Array.isArray(orgs.json) ? orgs.json.find((o) => o.id === orgId) : undefined;
    if (signin.status !== 200 || listed?.role !== 'admin')
      fail(`invitation: the invitee signs in (${signin.status}) and lists the org (${orgs.status}): ${orgs.text}`);
    const check = await api('GET', '/auth/check', undefined, tok);
    if (check.json?.admin?.email_verified !== true) fail(`invitation: email_verified is not true: ${check.text}`);
    step('1. the invitee signs in through the API, is an admin of the organization, email_verified true');

    const again = await page.goto(link);
    const gone = await mainText(page);
    if (again.status() !== 410 || !/used|accepted|expired|no longer/i.test(gone))
      fail(`invitation: the link once more: ${again.status()}: ${gone}`);
    step(`1. the link once more: ${again.status()} "${gone.split('\n').slice(-1)[0]}"`);
  }

  // ================= 2. password reset
  {
    const email = `pages-reset-${suffix}@example.com`;
    const su = await api('POST', '/auth/signup', { email, password, username: `Reset ${suffix}` });
    if (su.status !== 201) throw new Error(`signup: ${su.status} ${su.text}`);
    const before = (await api('POST', '/auth/signin', { email, password })).json?.access_token;
    const forgot = await api('POST', '/auth/password/forgot', { email });
    if (forgot.status !== 202) fail(`forgot: ${forgot.status} ${forgot.text}`);
    const mail = await mailTo(email, /password/i);
    const link = linkIn(mail, '/pages/password-reset', 'reset mail');
    step(`2. forgot: ${forgot.status}; the reset mail arrived ("${mail.subject}")`);

    const page = await newPage('reset');
    for (const n of [1, 2]) { // a GET spends nothing: the second shows the form too
      const r = await page.goto(link);
      if (r.status() !== 200 || (await page.locator('input[name="password"]').count()) !== 1)
        fail(`reset: GET the link (${n}): ${r.status()}: ${await mainText(page)}`);
    }
    await checkRendered(page, 'reset form');
    const newPassword = `battery staple ${suffix}`;
    await page.locator('input[name="password"]').fill(newPassword);
    await page.locator('input[name="again"]').fill(`${newPassword}!`);
    const differ = await submit(page);
    if (differ !== 422 || !/differ/i.test(await mainText(page)))
      fail(`reset: two different passwords: ${differ}: ${await mainText(page)}`);
    step(`2. two different passwords: ${differ} "${(await mainText(page)).split('\n').slice(-1)[0]}"`);

    await page.goto(link);
    await page.locator('input[name="password"]').fill(newPassword);
    await page.locator('input[name="again"]').fill(newPassword);
    const done = await submit(page);
    const doneText = await mainText(page);
    if (done !== 200 || (await heading(page)) !== 'Password changed') fail(`reset: submit: ${done}: ${doneText}`);
    step(`2. the new password twice: ${done} "${await heading(page)}"`);

    const withNew = await api('POST', '/auth/signin', { email, password: newPassword });
    const withOld = await api('POST', '/auth/signin', { email, password });
    if (withNew.status !== 200) fail(`reset: sign-in with the new password: ${withNew.status} ${withNew.text}`);
    if (withOld.status !== 401) fail(`reset: sign-in with the old password: ${withOld.status}, expected 401`);
    const oldSession = await api('GET', '/auth/check', undefined, before);
    if (oldSession.status !== 401) fail(`reset: the session from before the reset: ${oldSession.status}, expected 401`);
    step(`2. sign-in: new password ${withNew.status}, old ${withOld.status}; the earlier session ${oldSession.status}`);

    // the form of the spent link, submitted again (back, as a person would), and the link anew
    await page.goBack();
    await page.locator('input[name="password"]').fill(`another one ${suffix}`);
    await page.locator('input[name="again"]').fill(`another one ${suffix}`);
    const resubmitted = await submit(page);
    const usedText = await mainText(page);
    if (resubmitted !== 410 || !/used.*expired/i.test(usedText)) fail(`reset: re-submitted: ${resubmitted}: ${usedText}`);
    // reopened: a page that says so at once (410), or the form, whose submission does
    let reopened = (await page.goto(link)).status();
    if (reopened === 200) {
      await page.locator('input[name="password"]').fill(`another one ${suffix}`);
      await page.locator('input[name="again"]').fill(`another one ${suffix}`);
      reopened = await submit(page);
    }
    if (reopened !== 410 || !/used.*expired/i.test(await mainText(page)))
      fail(`reset: the link reopened and submitted: ${reopened}: ${await mainText(page)}`);
    const still = await api('POST', '/auth/signin', { email, password: newPassword });
    resetEmail = email;
    resetPassword = newPassword;
    if (still.status !== 200) fail(`reset: after the spent link was tried, the new password: ${still.status}`);
    step(`2. the spent link: re-submitted ${resubmitted}, reopened ${reopened}: "${usedText.split('\n').slice(-1)[0]}"`);
  }

  // ================= 3. verify e-mail
  {
    const email = `pages-verify-${suffix}@example.com`;
    const su = await api('POST', '/auth/signup', { email, password });
    if (su.status !== 201 || su.json?.email_verified !== false) fail(`verify: signup: ${su.status} ${su.text}`);
    const mail = await mailTo(email, /./);
    const link = linkIn(mail, '/pages/verify-email', 'check mail');
    step(`3. signup ${su.status}; the check mail arrived ("${mail.subject}")`);

    const page = await newPage('verify');
    const shown = await page.goto(link);
    if (shown.status() !== 200) fail(`verify: GET the link: ${shown.status()}`);
    await checkRendered(page, 'verify form');
    const tok = (await api('POST', '/auth/signin', { email, password })).json?.access_token;
    const notYet = await api('GET', '/auth/check', undefined, tok);
    if (notYet.json?.admin?.email_verified !== false) fail(`verify: opening the link verified the address: ${notYet.text}`);
    const done = await submit(page);
    if (done !== 200 || (await heading(page)) !== 'Address confirmed') fail(`verify: submit: ${done}: ${await mainText(page)}`);
    const check = await api('GET', '/auth/check', undefined, tok);
    if (check.json?.admin?.email_verified !== true) fail(`verify: email_verified is not true: ${check.text}`);
    step(`3. the button: ${done} "${await heading(page)}"; GET /auth/check: email_verified ${check.json?.admin?.email_verified}`);

    let twice = (await page.goto(link)).status(); // 410 at once, or the form
    if (twice === 200) twice = await submit(page);
    if (twice !== 410 || !/used.*expired/i.test(await mainText(page)))
      fail(`verify: the link once more: ${twice}: ${await mainText(page)}`);
    step(`3. the link once more: ${twice}`);
  }

  // ================= 4. an invitation to an address that has an account: sign in on the page
  {
    const inv = await api('POST', `/organization/${orgId}/invite`, { email: resetEmail, role: 'member' }, ownerToken);
    if (inv.status !== 201) throw new Error(`invite ${resetEmail}: ${inv.status} ${inv.text}`);
    const mail = await mailTo(resetEmail, /invited/i);
    const link = linkIn(mail, '/pages/invitation', 'invitation mail (an account)');
    const page = await newPage('invitation (an account)');
    await page.goto(link);
    if ((await page.locator('input[name="username"]').count()) !== 0 ||
        (await page.locator('input[name="password"][autocomplete="current-password"]').count()) !== 1)
      fail(`invitation (an account): the page does not ask to sign in: ${await mainText(page)}`);
    // wrong passwords (the same form, posted without the browser: quicker);
    // a short one is just as wrong (no format rules at a sign-in, as the API)
    let wrong;
    for (const guess of [`not the password ${suffix}`, 'short']) {
      const wrongAnswer = await fetch(`${base}/pages/invitation`, {
        method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: new URL(link).searchParams.get('token'), account: 'existing',
          password: guess }).toString(),
      });
      wrong = wrongAnswer.status;
      if (wrong !== 401) fail(`invitation (an account): the password "${guess}": ${wrong}: ${await wrongAnswer.text()}`);
    }
    // the form of a new account (as if the account was made after the page was shown): sent to sign in
    const asNew = await fetch(`${base}/pages/invitation`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: new URL(link).searchParams.get('token'), account: 'new',
        password: `a new one ${suffix}` }).toString(),
    });
    const asNewText = await asNew.text();
    if (asNew.status !== 409 || /bearer/i.test(asNewText) || !/sign in/i.test(asNewText))
      fail(`invitation (an account): the new-account form: ${asNew.status}: ${asNewText}`);
    await page.locator('input[name="password"]').fill(resetPassword);
    const joined = await submit(page);
    if (joined !== 200 || (await heading(page)) !== 'Welcome' || !(await mainText(page)).includes(orgName))
      fail(`invitation (an account): the right password: ${joined}: ${await mainText(page)}`);
    const tok = (await api('POST', '/auth/signin', { email: resetEmail, password: resetPassword })).json?.access_token;
    const orgs = await api('GET', '/organization/', undefined, tok);
    const listed = Array.isArray(orgs.json) ? orgs.json.find((o) => o.id === orgId) : undefined;
    const check = await api('GET', '/auth/check', undefined, tok);
    if (listed?.role !== 'member' || check.json?.admin?.email_verified !== true)
      fail(`invitation (an account): not a member with a verified address: ${orgs.text} ${check.text}`);
    step(`4. an account invited: a wrong password ${wrong}, the new-account form ${asNew.status}, the right password ${joined}; a member, email_verified true`);
  }

  // ================= 5. one invitation's form submitted three times at once (a double click, twice)
  {
    const invitee = `pages-race-${suffix}@example.com`;
    const inv = await api('POST', `/organization/${orgId}/invite`, { email: invitee }, ownerToken);
    if (inv.status !== 201) throw new Error(`invite ${invitee}: ${inv.status} ${inv.text}`);
    const link = linkIn(await mailTo(invitee, /invited/i), '/pages/invitation', 'invitation mail (race)');
    const token = new URL(link).searchParams.get('token');
    const body = new URLSearchParams({ token, password, account: 'new', username: 'Race' }).toString();
    const answers = await Promise.all([1, 2, 3].map(() => fetch(`${base}/pages/invitation`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body,
    }).then(async (r) => ({ status: r.status, retry: r.headers.get('retry-after'), html: await r.text() }))));
    const codes = answers.map((a) => a.status).sort();
    if (codes.filter((c) => c === 200).length !== 1 || !codes.every((c) => [200, 409, 410].includes(c)))
      fail(`three submissions at once: ${codes.join(', ')}: one 200, the others 409 or 410 (as the API)`);
    for (const a of answers.filter((x) => x.status === 409 && /retry/i.test(x.html)))
      if (!a.retry) fail('a 409 "retry shortly" page without Retry-After');
    for (const a of answers.filter((x) => /bearer/i.test(x.html)))
      fail(`a page sends a person to a bearer token: ${a.html.match(/<p class="error">([^<]*)</)?.[1]}`);
    const tok = (await api('POST', '/auth/signin', { email: invitee, password })).json?.access_token;
    const orgs = await api('GET', '/organization/', undefined, tok);
    if (!Array.isArray(orgs.json) || orgs.json.filter((o) => o.id === orgId).length !== 1)
      fail(`three submissions at once: the invitee's organizations: ${orgs.text}`);
    const said = [...new Set(answers.map((x) => x.html.match(/<p class="error">([^<]*)</)?.[1]).filter(Boolean))];
    step(`5. one invitation submitted three times at once: ${codes.join(', ')} (${said.join('; ')}); one membership`);
  }

  // ================= 6. a hand-made form skips the page's minlength: orgd refuses what the API refuses
  {
    const invitee = `pages-handmade-${suffix}@example.com`;
    const inv = await api('POST', `/organization/${orgId}/invite`, { email: invitee }, ownerToken);
    if (inv.status !== 201) throw new Error(`invite ${invitee}: ${inv.status} ${inv.text}`);
    const link = linkIn(await mailTo(invitee, /invited/i), '/pages/invitation', 'invitation mail (hand-made)');
    const token = new URL(link).searchParams.get('token');
    // fields: an object, or the rest of a body as it is sent (bytes that are not UTF-8)
    const form = (fields) => fetch(`${base}/pages/invitation`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: typeof fields === 'string' ? `token=${token}&account=new&${fields}`
        : new URLSearchParams({ token, account: 'new', ...fields }).toString(),
    }).then(async (r) => ({ status: r.status, html: await r.text() }));
    const refused = [
      [{ password: 'x' }, 'a 1-byte password'],
      [{ password: '' }, 'an empty password'],
      [{ password: 'p'.repeat(129) }, 'a 129-byte password'],
      [{ password, username: 'bell\u0007name' }, 'a username with a control character'],
      [{ password, username: 'n'.repeat(65) }, 'a 65-character username'],
      ['password=long%20enough%FF', 'a password that is not UTF-8'],
      [`password=${encodeURIComponent(password)}&username=na%C0%AFme`, 'a username that is not UTF-8 (overlong)'],
      [{ password, username: 'zero\u200bwidth' }, 'a username with a zero-width character'],
    ];
    const codes = [];
    for (const [fields, what] of refused) {
      const r = await form(fields);
      codes.push(r.status);
      if (r.status !== 422) fail(`hand-made invitation form with ${what}: ${r.status}, expected 422 as the API: ${r.html}`);
    }
    const ok = await form({ password });
    if (ok.status !== 200) fail(`hand-made invitation form, then a good one: ${ok.status}: ${ok.html}`);
    step(`6. a hand-made invitation form: bad passwords and usernames ${codes.join(', ')}; then a good one ${ok.status}`);
  }

  // ================= 7. hostile
  {
    // without a browser (quicker): the status, the headers, the HTML as sent
    async function raw(method, path, fields = undefined) {
      const r = await fetch(base + path, {
        method,
        headers: fields ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {},
        body: typeof fields === 'string' ? fields : fields ? new URLSearchParams(fields).toString() : undefined,
        redirect: 'manual',
      });
      const html = await r.text();
      checkHeaders(`${method} ${path.slice(0, 60)} (${r.status})`, Object.fromEntries(r.headers), html);
      return { status: r.status, html };
    }
    const echoed = (html) => /<script>alert|<img src=x|<b>/i.test(html);
    const errorShown = (html) => /<p class="error">[^<]+<\/p>/.test(html);
    const bad = [
      ['', 'no token'],
      ['?token=', 'an empty token'],
      [`?token=${'A'.repeat(43)}`, 'an unknown token'],
      [`?token=${encodeURIComponent('<script>alert(1)</script>')}`, 'markup'],
      [`?token=${encodeURIComponent('"><img src=x>')}`, 'an attribute breaker'],
      [`?token=${'A'.repeat(5000)}`, 'a long token'],
      ['?token=%zz', 'a bad escape'],
      ['?token=a&token=%3Cb%3E', 'two tokens'],
    ];
    for (const path of ['/pages/invitation', '/pages/password-reset', '/pages/verify-email']) {
      for (const [q, what] of bad) {
        // reset and verify may show their form for any well-formed token (if the GET does not look it up)
        const r = await raw('GET', path + q);
        const formAllowed = path !== '/pages/invitation' && what === 'an unknown token' && r.status === 200;
        const ok = formAllowed || (r.status >= 400 && r.status < 500);
        if (!ok) fail(`GET ${path} with ${what}: ${r.status}`);
        if (!formAllowed && !errorShown(r.html)) fail(`GET ${path} with ${what}: no error on the page: ${r.html}`);
        if (echoed(r.html)) fail(`GET ${path} with ${what}: the input is echoed unescaped`);
      }
    }
    const markup = '<script>alert(1)</script>"><img src=x><b>';
    const posts = [
      ['/pages/password-reset', { token: 'A'.repeat(43), password: 'long enough 1', again: 'long enough 1' }, 404],
      ['/pages/password-reset', { token: markup, password: 'long enough 1', again: 'long enough 1' }, 404],
      ['/pages/password-reset', { token: 'A'.repeat(43), password: markup, again: 'other' }, 422],
      ['/pages/password-reset', { token: 'A'.repeat(43), password: 'short', again: 'short' }, 422],
      ['/pages/password-reset', { token: 'A'.repeat(43), password: 'x'.repeat(200), again: 'x'.repeat(200) }, 422],
      ['/pages/password-reset', `token=${'A'.repeat(43)}&password=long%20enough%FF&again=long%20enough%FF`, 422],
      ['/pages/verify-email', { token: 'A'.repeat(43) }, 404],
      ['/pages/verify-email', { token: markup }, 404],
      ['/pages/verify-email', {}, 404],
      ['/pages/verify-email', { token: 'A'.repeat(5000) }, 422],
      ['/pages/invitation', { token: 'A'.repeat(43), password: 'long enough 1', account: 'new', username: markup }, 404],
      ['/pages/invitation', { token: markup, password: markup, account: 'existing' }, 404],
      ['/pages/invitation', {}, 422], // no password: refused before the token is looked up, as the API
    ];
    for (const [path, fields, want] of posts) {
      const got = await raw('POST', path, fields);
      const what = `POST ${path} ${JSON.stringify(fields).slice(0, 80)}`;
      if (got.status !== want) fail(`${what}: ${got.status}, expected ${want}: ${got.html}`);
      if (echoed(got.html)) fail(`${what}: the input is echoed unescaped`);
      if (!errorShown(got.html)) fail(`${what}: no error on the page: ${got.html}`);
    }
    step(`7. GET of each page with ${bad.length} kinds of bad token, POST with bad fields ` +
      `(${posts.map((p) => p[2]).join(', ')}): error pages, nothing echoed raw, the documented headers`);

    // and in the browser: a markup token on each page, and a form posted with markup in every field
    const page = await newPage('hostile');
    for (const path of ['/pages/invitation']) {
      const r = await page.goto(`${base}${path}?token=${encodeURIComponent(markup)}`);
      if (r.status() !== 404 || (await page.locator('script, img, main b').count()) > 0 ||
          (await page.locator('.error').count()) !== 1)
        fail(`browser: GET ${path} with markup: ${r.status()}: ${await mainText(page)}`);
    }
    await page.goto(`${base}/pages/password-reset?token=${'A'.repeat(43)}`);
    await page.locator('input[name="token"]').evaluate((el, v) => { el.value = v; }, markup);
    await page.locator('input[name="password"]').fill(markup);
    await page.locator('input[name="again"]').fill(markup);
    const posted = await submit(page);
    if (posted !== 404 || (await page.locator('script, img, main b').count()) > 0 ||
        (await page.locator('.error').count()) !== 1)
      fail(`browser: the reset form posted with markup: ${posted}: ${await mainText(page)}`);
    step(`7. in Chromium: a markup token 404, a form of markup ${posted}; nothing rendered as markup`);

    // framed by another origin: the browser refuses it (frame-ancestors 'none', X-Frame-Options)
    const fp = await page.context().newPage(); // no console watch: the refusal is logged as an error
    const framed = fp.waitForResponse((r) => r.url().startsWith(`${base}/pages/verify-email`));
    await fp.setContent(`<iframe id="f" src="${base}/pages/verify-email?token=${'A'.repeat(43)}"></iframe>`,
      { waitUntil: 'load' });
    if ((await framed).status() !== 200) fail(`framed: orgd answered ${(await framed).status()}`);
    const child = fp.frames().find((f) => f !== fp.mainFrame());
    const shownInFrame = child ? await child.locator('main').count().catch(() => 0) : 0;
    if (!child || shownInFrame !== 0) fail(`a page framed by another origin was shown (${child?.url()})`);
    step('7. framed by another origin: the browser refuses the page');
  }
} catch (e) {
  fail(e.stack ?? String(e));
} finally {
  for (const c of contexts) await c.close().catch(() => {});
  if (browser) await browser.close().catch(() => {});
  await orgd.stop();
}

finish(failures, logPath, 'PASSED: the mail pages work in Chromium: an invitation accepted (a new account, and an existing ' +
  'one signing in), a password reset, an address confirmed, each link once; a form sent three times at once ' +
  'joins once; hand-made forms refused as the API refuses; hostile tokens and fields answered with 4xx pages; ' +
  'headers as documented');
