// harness_browser.mjs — what the Chromium tests (browser.mjs, mail_pages.mjs)
// share: Debian's headless Chromium (found, or the test skipped; launched
// through playwright-core), orgd started on a free 127.0.0.1 port with its
// environment and log file, waited for on /healthz and stopped by its pid
// (SIGTERM, then SIGKILL after 30 s), the failures and steps a test reports,
// and its verdict.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.ORGD_TEST_CHROMIUM || '/usr/bin/chromium';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// exits 77 (CTest: skipped) when Chromium is not installed
export function skipWithoutChromium() {
  if (!existsSync(CHROMIUM)) {
    console.log(`SKIPPED: ${CHROMIUM} is not installed (scripts/bootstrap installs Debian's chromium)`);
    process.exit(77);
  }
}

// a test's run: a suffix that makes its names unique, fail() that collects
// a failure and says it, step() that says what was done and when
export function testRun() {
  const suffix = randomBytes(4).toString('hex');
  const failures = [];
  const fail = (msg) => {
    failures.push(msg);
    console.error(`FAIL: ${msg}`);
  };
  const started = Date.now();
  const step = (msg) => console.log(`- ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${msg}`);
  return { suffix, failures, fail, step };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts orgd (binary) on a free 127.0.0.1 port against mongoUri, with
// MASTER_DB masterDb and a random JWT_SECRET, its output appended to logName
// in ORGD_TEST_LOG_DIR (else the temporary directory). extraEnv(base) adds
// variables of the test's own (after the common ones); passEnv names
// variables passed on from this process when set, besides the sanitizers'
// options. fail: the run's, for stop(). Returns {port, base, env, logPath,
// ready(), stop()}.
export async function startOrgd({ binary, mongoUri, masterDb, logName, extraEnv = () => ({}), passEnv = [], fail }) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logDir = process.env.ORGD_TEST_LOG_DIR || tmpdir();
  const logPath = join(logDir, logName);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    MONGO_URI: mongoUri,
    MASTER_DB: masterDb,
    JWT_SECRET: randomBytes(32).toString('hex'),
    HOST: '127.0.0.1',
    PORT: String(port),
    ENV_FILE: '/nonexistent/orgd-test.env',
    MONGOC_DISABLE_SHM: '1', // see test/api/harness_orgd.c
    ...extraEnv(base),
  };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', ...passEnv]) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  const logFd = openSync(logPath, 'a');
  const orgd = spawn(binary, [], { env, stdio: ['ignore', logFd, logFd] });
  let orgdExit = null;
  orgd.on('exit', (code, signal) => {
    orgdExit = { code, signal };
  });

  async function waitHealthy() {
    for (let i = 0; i < 100; i++) {
      if (orgdExit !== null) break;
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.status === 200) return true;
      } catch {
        /* not listening yet */
      }
      await sleep(100);
    }
    return false;
  }

  return {
    port,
    base,
    env,
    logPath,
    // resolves once /healthz answers 200; else fails the run and throws
    async ready() {
      if (!(await waitHealthy())) {
        fail(`orgd did not become healthy on ${base}`);
        throw new Error('no orgd');
      }
    },
    // SIGTERM by its pid, SIGKILL after 30 s; fails the run unless it exited 0
    async stop() {
      if (orgdExit === null) {
        process.kill(orgd.pid, 'SIGTERM');
        for (let i = 0; i < 300 && orgdExit === null; i++) await sleep(100);
        if (orgdExit === null) {
          process.kill(orgd.pid, 'SIGKILL');
          fail('orgd did not stop within 30 s of SIGTERM');
        }
      }
      if (orgdExit && orgdExit.code !== 0) fail(`orgd exited with ${orgdExit.code ?? orgdExit.signal}`);
    },
  };
}

// headless Chromium, as both tests launch it
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
}

// the verdict: with failures, their count and the end of orgd's log, exit 1;
// else the passed line
export function finish(failures, logPath, passed) {
  if (failures.length) {
    const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').split('\n').slice(-15).join('\n') : '';
    console.error(`FAILED: ${failures.length} problem(s); orgd's log (${logPath}) ends:\n${log}`);
    process.exit(1);
  }
  console.log(passed);
}
