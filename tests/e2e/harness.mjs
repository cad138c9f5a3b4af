// Shared helpers of the tlsward end-to-end suite: temp data dirs, CLI runs, server processes,
// SDK clients, raw HTTP requests and envelope assertions.
//
// Every server started through startServer() is remembered; stopServer() stops it, and a
// process 'exit' hook SIGKILLs whatever a crashed test left running. Every wait and poll
// here is bounded in time and in number of iterations.

import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after } from 'node:test';
import Cloudflare from 'cloudflare';

export { Cloudflare };

const here = path.dirname(fileURLToPath(import.meta.url));

/** Absolute path of the binary under test. */
export const BIN = path.resolve(here, process.env.TLSWARD_BIN || '../../build-asan/tlsward');

/** Time limits (ms). The binary runs under ASan+UBSan, so be generous. */
export const CLI_TIMEOUT_MS = 60_000;
export const START_TIMEOUT_MS = 20_000;
export const STOP_TIMEOUT_MS = 20_000;
export const REQUEST_TIMEOUT_MS = 30_000;

export const HEX32 = /^[0-9a-f]{32}$/;
export const RFC3339_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const DEFAULT_NAME_SERVERS = ['ns1.tlsward.local', 'ns2.tlsward.local'];

export const MSG = Object.freeze({
  noCredentials: 'Missing X-Auth-Key, X-Auth-Email or Authorization headers',
  invalidHeaders: 'Invalid request headers',
  invalidAuthFormat: 'Invalid format for Authorization header',
  invalidAccessToken: 'Invalid access token',
  unauthorized: 'Unauthorized to access requested resource',
  unknownKeyPair: 'Unknown X-Auth-Key or X-Auth-Email',
  noRoute: 'No route for that URI',
  invalidApiToken: 'Invalid API Token',
  tokenValid: 'This API Token is valid and active',
});

// ------------------------------------------------------------------------------------------
// Small utilities

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A random 32-hex identifier that no server has issued. */
export const randomId = () => randomBytes(16).toString('hex');

/** A short random suffix for unique names. */
export const uniq = () => randomBytes(4).toString('hex');

export const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/**
 * Polls fn() until it returns a truthy value; bounded by both `timeout` ms and `tries`.
 * Returns that value; throws with `what` in the message when the bound is reached.
 */
export async function waitFor(fn, { timeout = 10_000, interval = 100, tries, what = 'condition' } = {}) {
  const maxTries = tries ?? Math.ceil(timeout / interval) + 1;
  const deadline = Date.now() + timeout;
  let last;
  for (let i = 0; i < maxTries; i++) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) break;
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what} (last value: ${JSON.stringify(last)})`);
}

/**
 * Waits (bounded, as waitFor) until a started process has written a line matching re to
 * its stderr: a server logs "listening on" for its API first and its other listeners right
 * after, so a line about another listener may still be on its way when the start resolves.
 */
export async function waitForStderr(proc, re, { timeout = 10_000 } = {}) {
  await waitFor(() => re.test(proc.stderr()), { timeout, what: `${re} on stderr` });
}

// ------------------------------------------------------------------------------------------
// Temp dirs

const tempRoots = new Set();

/**
 * Creates a fresh temp root (fs.mkdtemp under os.tmpdir()) and returns
 * { root, dir } where dir = root/data does not exist yet (init creates it).
 */
export async function makeTempDataDir() {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tlsward-e2e-'));
  tempRoots.add(root);
  return { root, dir: path.join(root, 'data') };
}

export async function cleanup(root) {
  if (!root) return;
  tempRoots.delete(root);
  await fs.rm(root, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------
// CLI

function cliEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  // The suite always passes --data explicitly; a stray TLSWARD_DATA must not leak in.
  if (!('TLSWARD_DATA' in extra)) delete env.TLSWARD_DATA;
  return env;
}

/**
 * Runs the binary with args. Resolves (never rejects on a non-zero exit) to
 * { code, signal, stdout, stderr }.
 */
export function runCli(args, { env, timeout = CLI_TIMEOUT_MS, cwd } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      BIN,
      args,
      { env: cliEnv(env), timeout, cwd, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number' && !err.signal) {
          reject(err); // spawn failure (ENOENT...)
          return;
        }
        resolve({
          code: err ? (typeof err.code === 'number' ? err.code : null) : 0,
          signal: err?.signal ?? null,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

/** Runs a command expected to succeed with --json; returns the parsed single JSON object. */
export async function runCliJson(args, opts) {
  const r = await runCli(args, opts);
  assert.equal(r.code, 0, `tlsward ${args.join(' ')} exited ${r.code}; stderr: ${r.stderr}`);
  return parseSingleJsonObject(r.stdout, `stdout of tlsward ${args[0]}`);
}

/** Asserts text is exactly one JSON object (surrounding whitespace allowed) and returns it. */
export function parseSingleJsonObject(text, what = 'output') {
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    assert.fail(`${what} is not exactly one JSON value: ${JSON.stringify(text)} (${e.message})`);
  }
  assert.equal(typeof obj, 'object', `${what} is not a JSON object`);
  assert.ok(obj !== null && !Array.isArray(obj), `${what} is not a JSON object`);
  return obj;
}

/** Asserts a CLI result is a user error: exit 1, exactly one non-empty line on stderr. */
export function assertUserError(r, what) {
  assert.equal(r.code, 1, `${what}: expected exit 1, got ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: expected one line on stderr, got ${JSON.stringify(r.stderr)}`);
}

/** tlsward init --data DIR --json → { user_email, api_key, account_id, token }. */
export async function initData(dir, extraArgs = []) {
  return runCliJson(['init', '--data', dir, ...extraArgs, '--json']);
}

/** Makes a temp dir and initialises it: { root, dir, creds }. */
export async function makeInitialisedDir(extraArgs = []) {
  const { root, dir } = await makeTempDataDir();
  const creds = await initData(dir, extraArgs);
  return { root, dir, creds };
}

/** tlsward account create → { id, name }. */
export async function createAccount(dir, name) {
  return runCliJson(['account', 'create', '--data', dir, '--name', name, '--json']);
}

/**
 * tlsward token create → { id, token }.
 * permissions: array of 'zone:read' etc.; zones: array of zone ids; expires: RFC 3339 string.
 */
export async function createToken(dir, account, permissions, { zones = [], expires } = {}) {
  const args = ['token', 'create', '--data', dir, '--account', account];
  for (const p of permissions) args.push('--permission', p);
  for (const z of zones) args.push('--zone', z);
  if (expires) args.push('--expires', expires);
  args.push('--json');
  return runCliJson(args);
}

export async function revokeToken(dir, tokenId) {
  const r = await runCli(['token', 'revoke', '--data', dir, tokenId]);
  assert.equal(r.code, 0, `token revoke exited ${r.code}; stderr: ${r.stderr}`);
  return r;
}

// ------------------------------------------------------------------------------------------
// Servers

const liveServers = new Set();

// Safety net at the end of every test file: whatever a failed test left running is stopped
// (SIGTERM, then SIGKILL) and every temp root removed.
after(async () => {
  for (const s of [...liveServers]) await stopServer(s).catch(() => killServer(s));
  for (const root of [...tempRoots]) await cleanup(root).catch(() => {});
});

function killAllNow() {
  for (const s of liveServers) {
    try {
      s.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', killAllNow);
// The runner (or a user) interrupting this file must not leave servers behind.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(sig, () => {
    killAllNow();
    process.exit(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
  });
}

const LISTEN_RE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

/**
 * Starts `tlsward serve --data DIR --listen 127.0.0.1:0 ...extraArgs` and waits for the
 * "listening on http://127.0.0.1:PORT" line on stderr. Returns a server object:
 *   { proc, pid, port, origin, baseURL, stderr(), stdout(), exited (Promise<{code,signal}>), exitInfo }
 */
/**
 * A smaller RSA key pool than the default 32 unless the caller chooses: every server the
 * suite starts fills its pool in the background, and 32 RSA-2048 generations under ASan
 * cost tens of CPU seconds per server on a 2-core machine.
 */
function testKeyPool(extraArgs) {
  return extraArgs.includes('--rsa-key-pool') ? [] : ['--rsa-key-pool', '4'];
}

export async function startServer(dir, extraArgs = [], { env, serveDefaults = false } = {}) {
  // serve defaults to --dcv-mode check; the suite was written against auto, so callers that
  // do not choose get auto, unless they test the defaults themselves (serveDefaults).
  const mode = serveDefaults || extraArgs.includes('--dcv-mode') ? [] : ['--dcv-mode', 'auto'];
  const args = ['serve', '--data', dir, '--listen', '127.0.0.1:0', ...mode, ...testKeyPool(extraArgs), ...extraArgs];
  const proc = spawn(BIN, args, { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  proc.stderr.setEncoding('utf8');
  proc.stdout.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  proc.stdout.on('data', (d) => {
    stdout += d;
  });
  const server = {
    proc,
    pid: proc.pid,
    port: null,
    origin: null,
    baseURL: null,
    exitInfo: null,
    stderr: () => stderr,
    stdout: () => stdout,
  };
  server.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      server.exitInfo = { code, signal };
      liveServers.delete(server);
      resolve(server.exitInfo);
    });
    proc.on('error', (err) => {
      server.exitInfo = { code: null, signal: null, error: err };
      liveServers.delete(server);
      resolve(server.exitInfo);
    });
  });
  liveServers.add(server);

  try {
    const port = await waitFor(
      () => {
        if (server.exitInfo) {
          throw new Error(
            `tlsward serve exited early (${JSON.stringify(server.exitInfo)}); stderr:\n${stderr}`,
          );
        }
        const m = LISTEN_RE.exec(stderr);
        return m ? Number(m[1]) : null;
      },
      { timeout: START_TIMEOUT_MS, interval: 50, what: `"listening on" from tlsward serve (stderr so far: ${stderr})` },
    );
    assert.ok(port > 0 && port < 65536, `bad port ${port}`);
    server.port = port;
    server.origin = `http://127.0.0.1:${port}`;
    server.baseURL = `${server.origin}/client/v4`;
    return server;
  } catch (e) {
    proc.kill('SIGKILL');
    await server.exited;
    throw e;
  }
}

/**
 * Sends `signal` (SIGTERM by default) and awaits the exit, bounded by `timeout`; after that
 * the process is SIGKILLed and an error thrown. Returns the exit code (null if killed by a
 * signal). Safe to call on a server that already exited.
 */
export async function stopServer(server, { signal = 'SIGTERM', timeout = STOP_TIMEOUT_MS } = {}) {
  if (!server) return null;
  if (!server.exitInfo) {
    if (signal) server.proc.kill(signal); // signal null: already signalled, just await the exit
    let timer;
    const timedOut = new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeout);
    });
    const r = await Promise.race([server.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout') {
      server.proc.kill('SIGKILL');
      await server.exited;
      throw new Error(`tlsward serve did not exit within ${timeout} ms of ${signal}; stderr:\n${server.stderr()}`);
    }
  }
  return server.exitInfo.code;
}

/** Stops and asserts the clean exit (code 0) — what every graceful stop must give. */
export async function stopServerExpectClean(server, opts) {
  const code = await stopServer(server, opts);
  assert.equal(
    code,
    0,
    `tlsward serve exited with ${JSON.stringify(server.exitInfo)} instead of 0 (ASan report?); stderr tail:\n${server
      .stderr()
      .slice(-4000)}`,
  );
}

/** SIGKILLs a server and waits for it to be gone. */
export async function killServer(server) {
  if (!server.exitInfo) {
    server.proc.kill('SIGKILL');
    let timer;
    await Promise.race([server.exited, new Promise((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    assert.ok(server.exitInfo, 'the server survived SIGKILL');
  }
}

/**
 * Registers, on a node:test context (t) or via the given `after` hook function, the stop of a
 * server and the removal of a temp root, so that they run even when the test fails.
 */
export function onCleanup(tOrAfter, { server, servers = [], root } = {}) {
  const registerAfter = typeof tOrAfter === 'function' ? tOrAfter : tOrAfter.after.bind(tOrAfter);
  registerAfter(async () => {
    for (const s of [server, ...servers]) {
      if (s && !s.exitInfo) await stopServer(s).catch(() => killServer(s));
    }
    if (root) await cleanup(root);
  });
}

// ------------------------------------------------------------------------------------------
// SDK clients

/** A Cloudflare SDK client on a bearer token. Never retries (the SDK retries 429/5xx otherwise). */
export function tokenClient(server, apiToken) {
  return new Cloudflare({
    apiToken,
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: server.baseURL,
    maxRetries: 0,
    timeout: REQUEST_TIMEOUT_MS,
  });
}

/** A Cloudflare SDK client on the legacy X-Auth-Email + X-Auth-Key pair. */
export function legacyClient(server, apiEmail, apiKey) {
  return new Cloudflare({
    apiToken: null,
    apiKey,
    apiEmail,
    userServiceKey: null,
    baseURL: server.baseURL,
    maxRetries: 0,
    timeout: REQUEST_TIMEOUT_MS,
  });
}

/**
 * Awaits an SDK promise expected to fail; asserts it throws a Cloudflare.APIError with the
 * given HTTP status and error codes (in order). Returns the error (err.errors holds the body's
 * errors, err.error the whole parsed body, err.headers the response headers).
 */
export async function expectSdkError(promise, status, codes, what = 'SDK call') {
  let err;
  try {
    const value = await promise;
    assert.fail(`${what}: expected HTTP ${status} ${JSON.stringify(codes)}, got success: ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof Cloudflare.APIError, `${what}: expected a Cloudflare.APIError, got ${err}`);
  assert.equal(err.status, status, `${what}: status; body ${JSON.stringify(err.error)}`);
  assert.deepEqual(
    err.errors.map((e) => e.code),
    codes,
    `${what}: error codes; body ${JSON.stringify(err.error)}`,
  );
  assert.equal(err.error?.success, false, `${what}: success must be false`);
  assert.equal(err.error?.result, null, `${what}: result must be null`);
  return err;
}

// ------------------------------------------------------------------------------------------
// Raw HTTP

/**
 * Raw request through fetch. opts: { token, email, key, headers, json (object → JSON body),
 * body (string/Buffer, sent as is), contentType }. Path is absolute ("/client/v4/zones").
 * Returns { status, headers, text, body } where body is the parsed JSON or undefined.
 */
export async function request(server, method, urlPath, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.email !== undefined) headers['X-Auth-Email'] = opts.email;
  if (opts.key !== undefined) headers['X-Auth-Key'] = opts.key;
  let body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers['Content-Type'] = opts.contentType ?? 'application/json';
  } else if (opts.body !== undefined) {
    body = opts.body;
    if (opts.contentType !== null) headers['Content-Type'] = opts.contentType ?? 'application/json';
  }
  const res = await fetch(server.origin + urlPath, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(opts.timeout ?? REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** A request on /client/v4 + p. */
export const v4 = (server, method, p, opts) => request(server, method, `/client/v4${p}`, opts);

/**
 * Low-level request through node:http that tolerates the server answering (and closing)
 * before the whole body was sent — for the body-size limit. `body` is a Buffer; with
 * chunked:true no Content-Length is sent. Resolves { status, headers, text, body }.
 */
export function rawHttp(server, method, urlPath, { headers = {}, body, chunked = false, timeout = REQUEST_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body && !chunked) h['Content-Length'] = String(body.length);
    const req = http.request(
      { host: '127.0.0.1', port: server.port, method, path: urlPath, headers: h, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => {
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(timeout, () => req.destroy(new Error(`request timed out after ${timeout} ms`)));
    // The server may answer 413 and close while we are still writing: a write error after the
    // response arrived is expected, so only reject if no response comes at all.
    req.on('error', (err) => {
      setTimeout(() => reject(err), 500);
    });
    if (body) {
      const CHUNK = 64 * 1024;
      let off = 0;
      const pump = () => {
        while (off < body.length) {
          const piece = body.subarray(off, off + CHUNK);
          off += piece.length;
          if (!req.write(piece)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    } else {
      req.end();
    }
  });
}

// ------------------------------------------------------------------------------------------
// Envelope assertions

function assertJsonContentType(res, what) {
  const ct = typeof res.headers.get === 'function' ? res.headers.get('content-type') : res.headers['content-type'];
  assert.match(String(ct), /^application\/json\b/i, `${what}: Content-Type`);
}

function headerOf(res, name) {
  return typeof res.headers.get === 'function' ? res.headers.get(name) : res.headers[name.toLowerCase()];
}

/** Asserts a successful envelope (HTTP 200) and returns the result. */
export function assertOk(res, what = 'request') {
  assert.equal(res.status, 200, `${what}: HTTP status; body ${res.text}`);
  assertJsonContentType(res, what);
  assert.ok(headerOf(res, 'x-request-id'), `${what}: X-Request-Id header missing`);
  assert.ok(res.body && typeof res.body === 'object', `${what}: body is not JSON: ${res.text}`);
  assert.equal(res.body.success, true, `${what}: success; body ${res.text}`);
  assert.deepEqual(res.body.errors, [], `${what}: errors`);
  assert.ok(Array.isArray(res.body.messages), `${what}: messages must be an array`);
  assert.ok('result' in res.body, `${what}: result missing`);
  return res.body.result;
}

/**
 * Asserts a failed envelope: HTTP status, success false, result null, messages an array, and
 * the error codes (in order). Returns the errors array.
 */
export function assertErr(res, status, codes, what = 'request') {
  assert.equal(res.status, status, `${what}: HTTP status; body ${res.text}`);
  assertJsonContentType(res, what);
  assert.ok(headerOf(res, 'x-request-id'), `${what}: X-Request-Id header missing`);
  assert.ok(res.body && typeof res.body === 'object', `${what}: body is not JSON: ${res.text}`);
  assert.equal(res.body.success, false, `${what}: success; body ${res.text}`);
  assert.equal(res.body.result, null, `${what}: result must be null; body ${res.text}`);
  assert.ok(Array.isArray(res.body.messages), `${what}: messages must be an array`);
  assert.ok(Array.isArray(res.body.errors), `${what}: errors must be an array`);
  assert.deepEqual(
    res.body.errors.map((e) => e.code),
    codes,
    `${what}: error codes; body ${res.text}`,
  );
  for (const e of res.body.errors) {
    assert.equal(typeof e.message, 'string', `${what}: error message must be a string`);
    assert.ok(e.message.length > 0, `${what}: error message must not be empty`);
  }
  return res.body.errors;
}

/** Asserts the 7003 + 7000 pair for zoneId (the "zone not routable" answer). */
export function assertZoneNotFound(res, zoneId, what = 'request') {
  const errors = assertErr(res, 400, [7003, 7000], what);
  assert.ok(
    errors[0].message.includes(`/zones/${zoneId}`),
    `${what}: 7003 message must name /zones/${zoneId}: ${errors[0].message}`,
  );
  assert.match(errors[0].message, /^Could not route to \/zones\/.*, perhaps your object identifier is invalid\?$/);
  assert.equal(errors[1].message, MSG.noRoute, `${what}: 7000 message`);
  return errors;
}

/** Asserts an error message names a field (case-sensitive substring). */
export function assertNames(errors, field, what = 'error') {
  const all = errors.map((e) => e.message).join(' | ');
  assert.ok(all.includes(field), `${what}: message should name "${field}": ${all}`);
}

// ------------------------------------------------------------------------------------------
// Zone helpers over raw HTTP

/** Auth options for raw requests from a credential set: a token string or {email,key}. */
export function authOpts(cred) {
  return typeof cred === 'string' ? { token: cred } : { email: cred.email, key: cred.key };
}

/** Creates a zone with raw HTTP and returns the zone object (asserting success). */
export async function createZoneRaw(server, cred, name, accountId, extra = {}) {
  const res = await v4(server, 'POST', '/zones', { ...authOpts(cred), json: { name, account: { id: accountId }, ...extra } });
  return assertOk(res, `POST /zones ${name}`);
}

/** Every zone visible to cred, in server order (walks pages of 50, bounded). */
export async function listAllZones(server, cred, query = '') {
  const out = [];
  for (let page = 1; page <= 100; page++) {
    const sep = query ? `&${query}` : '';
    const res = await v4(server, 'GET', `/zones?per_page=50&page=${page}${sep}`, authOpts(cred));
    const result = assertOk(res, `GET /zones page ${page}`);
    if (result.length === 0) return out;
    out.push(...result);
    if (page >= res.body.result_info.total_pages) return out;
  }
  throw new Error('listAllZones: more than 100 pages');
}

/** Raw GET of one zone. */
export const getZoneRaw = (server, cred, id) => v4(server, 'GET', `/zones/${id}`, authOpts(cred));

// ------------------------------------------------------------------------------------------
// DNS fixture: dnsmasq (package dnsmasq-base) on a free 127.0.0.1 port, serving the records
// a test gives it. dnsmasq reads TXT/CAA records only at start-up, so set() rewrites the
// configuration and restarts it on the same port. Every instance is stopped by the after
// hook of the file (and SIGKILLed on exit) like the servers.

const DNSMASQ_PATHS = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq', '/usr/local/sbin/dnsmasq', '/sbin/dnsmasq'];
const liveDns = new Set();

export async function findDnsmasq() {
  for (const p of DNSMASQ_PATHS) {
    try {
      await fs.access(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** "dns-rr=NAME,257,HEX" payload of one CAA record (RFC 8659 §4.1 wire format). */
function caaHex(flags, tag, value) {
  return Buffer.concat([Buffer.from([flags, tag.length]), Buffer.from(tag, 'latin1'), Buffer.from(value, 'latin1')]).toString('hex');
}

/**
 * dnsmasq configuration for records = { domains: [...] (answered locally, with their TLDs:
 * NXDOMAIN for unknown names instead of REFUSED), txt: { name: [value, ...] } (one record per value),
 * hosts: { name: ipv4 }, caa: [[name, flags, tag, value], ...] }.
 */
function dnsmasqConf(dir, records) {
  const lines = ['listen-address=127.0.0.1', 'bind-interfaces', 'no-resolv', 'no-hosts', 'log-facility=-', 'log-queries', `pid-file=${dir}/dnsmasq.pid`];
  for (const d of records.domains ?? []) lines.push(`local=/${d}/`);
  // A CAA check climbs from each host up to its TLD: answer for the TLDs too (NODATA rather
  // than REFUSED, which would fail the check as a DNS error).
  for (const tld of new Set((records.domains ?? []).map((d) => d.split('.').pop()))) lines.push(`local=/${tld}/`);
  for (const [name, ip] of Object.entries(records.hosts ?? {})) lines.push(`host-record=${name},${ip}`);
  for (const [name, values] of Object.entries(records.txt ?? {})) {
    for (const v of values) {
      assert.ok(!/["\\\n]/.test(v), `TXT value ${JSON.stringify(v)} needs no escaping here`);
      lines.push(`txt-record=${name},"${v}"`);
    }
  }
  for (const [name, flags, tag, value] of records.caa ?? []) lines.push(`dns-rr=${name},257,${caaHex(flags, tag, value)}`);
  return `${lines.join('\n')}\n`;
}

/** Resolves once a TCP connection to 127.0.0.1:port succeeds (true) or the process exits (false). */
async function waitTcpReady(port, proc, exited, what) {
  return waitFor(
    async () => {
      if (exited()) return 'exited';
      const ok = await new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        sock.once('connect', () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('error', () => resolve(false));
      });
      return ok ? 'ready' : null;
    },
    { timeout: START_TIMEOUT_MS, interval: 20, what },
  ).then((r) => r === 'ready');
}

/** A free UDP port on 127.0.0.1 (bound, then released). */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts dnsmasq in workDir (created if needed) serving `records` (see dnsmasqConf).
 * Returns { port, address: "127.0.0.1:PORT", records, set(records), stop(), log() }.
 * Throws when dnsmasq is not installed.
 */
export async function startDnsmasq(workDir, records = {}) {
  const bin = await findDnsmasq();
  assert.ok(bin, 'dnsmasq is not installed (package dnsmasq-base, see scripts/deps.sh)');
  await fs.mkdir(workDir, { recursive: true });
  const confPath = path.join(workDir, 'dnsmasq.conf');
  const dns = { port: null, address: null, records, proc: null, logText: '' };

  const launch = async (port) => {
    await fs.writeFile(confPath, dnsmasqConf(workDir, dns.records));
    const proc = spawn(bin, ['--keep-in-foreground', `--conf-file=${confPath}`, `--port=${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const inst = { proc, exitInfo: null };
    inst.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        inst.exitInfo = { code, signal };
        resolve(inst.exitInfo);
      });
      proc.on('error', (err) => {
        inst.exitInfo = { code: null, signal: null, error: err };
        resolve(inst.exitInfo);
      });
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        dns.logText = (dns.logText + d).slice(-200_000);
      });
    }
    dns.proc = inst;
    liveDns.add(dns);
    const ok = await waitTcpReady(port, proc, () => inst.exitInfo, `dnsmasq on 127.0.0.1:${port}`);
    if (!ok) {
      await inst.exited;
      return false;
    }
    return true;
  };

  const halt = async () => {
    const inst = dns.proc;
    if (!inst) return;
    if (!inst.exitInfo) {
      inst.proc.kill('SIGTERM');
      let timer;
      const r = await Promise.race([inst.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)))]);
      clearTimeout(timer);
      if (r === 'timeout') {
        inst.proc.kill('SIGKILL');
        await inst.exited;
      }
    }
    dns.proc = null;
  };

  for (let attempt = 0; attempt < 5 && dns.port === null; attempt++) {
    const port = await freeUdpPort();
    if (await launch(port)) dns.port = port;
  }
  assert.ok(dns.port !== null, `dnsmasq did not start; its log:\n${dns.logText}`);
  dns.address = `127.0.0.1:${dns.port}`;

  /** Replaces the records and restarts dnsmasq on the same port. */
  dns.set = async (next) => {
    dns.records = next;
    await halt();
    // While dnsmasq is down its port is free, and any process's UDP client (a resolver
    // query from another test file running alongside) may get it as an ephemeral source
    // port for a moment: retry a few times before giving up (bounded, ~2 s).
    let up = false;
    for (let attempt = 0; attempt < 10 && !up; attempt++) {
      if (attempt) await sleep(200);
      up = await launch(dns.port);
    }
    assert.ok(up, `dnsmasq did not restart on ${dns.address}; its log:\n${dns.logText.slice(-4000)}`);
  };
  dns.stop = async () => {
    await halt();
    liveDns.delete(dns);
  };
  dns.log = () => dns.logText;
  return dns;
}

after(async () => {
  for (const d of [...liveDns]) await d.stop().catch(() => {});
});
process.on('exit', () => {
  for (const d of liveDns) {
    try {
      d.proc?.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

// ------------------------------------------------------------------------------------------
// Certificate packs (shared by the pack test files)

export const packsPath = (zoneId, id) => `/zones/${zoneId}/ssl/certificate_packs${id ? `/${id}` : ''}`;
export const orderPath = (zoneId) => `/zones/${zoneId}/ssl/certificate_packs/order`;

/** GET one pack (raw HTTP), asserting success. */
export async function getPack(server, token, zoneId, id) {
  return assertOk(await v4(server, 'GET', packsPath(zoneId, id), { token }), `GET pack ${id}`);
}

/**
 * Polls a pack until pred(pack) holds (≤ 15 s); records every status seen, and the error
 * shows them. Returns { pack, seen } (seen: the distinct statuses in the order observed).
 */
export async function pollPack(server, token, zoneId, id, pred, what) {
  const seen = [];
  let last;
  try {
    const pack = await waitFor(
      async () => {
        last = await getPack(server, token, zoneId, id);
        if (seen[seen.length - 1] !== last.status) seen.push(last.status);
        return pred(last) ? last : null;
      },
      { timeout: 15_000, interval: 50, what },
    );
    return { pack, seen };
  } catch (e) {
    throw new Error(`${e.message}; statuses seen: ${seen.join(' → ')}; last: ${JSON.stringify(last)}`);
  }
}

/** Waits until the pack has `status`; returns it. */
export const waitPackStatus = async (server, token, zoneId, id, status) =>
  (await pollPack(server, token, zoneId, id, (p) => p.status === status, `pack ${id} to reach ${status}`)).pack;

// ------------------------------------------------------------------------------------------
// Tenants and clean stops (shared by the resource test files)

/** A new account with an ssl:write + zone:write token, a zone, a client and a work dir. */
export async function freshTenant(server, dir, root, label) {
  const account = await createAccount(dir, `${label}-${uniq()}`);
  const { token } = await createToken(dir, account.id, ['zone:write', 'ssl:write']);
  const zone = await createZoneRaw(server, token, `${label}-${uniq()}.example.com`, account.id);
  const work = await fs.mkdtemp(path.join(root, `work-${label}-`));
  return { account, token, client: tokenClient(server, token), zone, work };
}

/**
 * Stops every server of `list` still running with SIGTERM and asserts exit 0. Used in after
 * hooks; servers deliberately SIGKILLed have already exited and are skipped.
 */
export async function stopAllClean(list) {
  const errors = [];
  for (const s of list) {
    if (s && !s.exitInfo) await stopServerExpectClean(s).catch((e) => errors.push(e));
  }
  if (errors.length) throw errors[0];
}

/** Runs fn over items with at most `limit` calls in flight; results in item order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/**
 * Sends `bytes` (a Buffer or string: request line, headers and any body, exactly as given,
 * byte for byte) on a fresh TCP connection and resolves with the first response as soon as
 * it is complete (by its Content-Length), never sending anything more: for bytes no HTTP
 * client would send (invalid UTF-8 or controls in a header or path) and for requests whose
 * announced body never comes. Resolves { status, headers (lower-case names), bytes (the raw
 * body), text, body (parsed JSON or undefined), ms (time to the complete response) }.
 */
export function rawSocketRequest(server, bytes, { timeout = REQUEST_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = net.connect({ host: '127.0.0.1', port: server.port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeout} ms`)), timeout);
    const tryParse = (ended) => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return ended ? finish(new Error(`connection closed before a response: ${buf}`)) : undefined;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1]);
      const headers = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
      const bodyBytes = buf.subarray(end + 4);
      if (length === undefined ? !ended : bodyBytes.length < length) return undefined;
      const raw = length === undefined ? bodyBytes : bodyBytes.subarray(0, length);
      const text = raw.toString('utf8');
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return finish(null, { status, headers, bytes: raw, text, body, ms: Date.now() - started });
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      tryParse(false);
    });
    sock.on('end', () => tryParse(true));
    sock.on('error', (err) => {
      // A reset after the response arrived is fine; without one it is the answer.
      if (!done) setTimeout(() => (tryParse(true), finish(err)), 200);
    });
    sock.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

// ------------------------------------------------------------------------------------------
// Stand-alone workers (`tlsward worker`)

/**
 * Starts `tlsward worker --data DIR ...extraArgs` and waits for its "worker started" line.
 * Returns an object like startServer's (proc, pid, stderr(), exited, exitInfo; no port),
 * so stopServer / killServer / stopAllClean work on it; it is stopped at the end of the file.
 */
export async function startWorker(dir, extraArgs = [], { env } = {}) {
  const proc = spawn(BIN, ['worker', '--data', dir, ...testKeyPool(extraArgs), ...extraArgs], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  proc.stdout.resume();
  const worker = { proc, pid: proc.pid, exitInfo: null, stderr: () => stderr, stdout: () => '' };
  worker.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      worker.exitInfo = { code, signal };
      liveServers.delete(worker);
      resolve(worker.exitInfo);
    });
    proc.on('error', (err) => {
      worker.exitInfo = { code: null, signal: null, error: err };
      liveServers.delete(worker);
      resolve(worker.exitInfo);
    });
  });
  liveServers.add(worker);
  try {
    await waitFor(
      () => {
        if (worker.exitInfo) throw new Error(`tlsward worker exited early (${JSON.stringify(worker.exitInfo)}); stderr:\n${stderr}`);
        return /worker started/.test(stderr);
      },
      { timeout: START_TIMEOUT_MS, interval: 50, what: `"worker started" from tlsward worker (stderr so far: ${stderr})` },
    );
    return worker;
  } catch (e) {
    proc.kill('SIGKILL');
    await worker.exited;
    throw e;
  }
}

/**
 * Waits (≤ 15 s) until a pack has left the API: GET answers 404/1472, as for a pack that
 * reached `deleted`. Returns the statuses seen before (in the order observed).
 */
export async function waitPackGone(server, token, zoneId, id) {
  const seen = [];
  await waitFor(
    async () => {
      const res = await v4(server, 'GET', packsPath(zoneId, id), { token });
      if (res.status === 404) {
        assertErr(res, 404, [1472], `GET pack ${id} once deleted`);
        return true;
      }
      const pack = assertOk(res, `GET pack ${id}`);
      if (seen[seen.length - 1] !== pack.status) seen.push(pack.status);
      return false;
    },
    { timeout: 15_000, interval: 50, what: `pack ${id} to be deleted (seen ${seen.join(' → ')})` },
  );
  return seen;
}

// Pebbles still running when a test file ends (or the runner dies) are stopped.
const livePebbles = new Set();
const httpsModule = (await import('node:https')).default;
after(async () => {
  for (const p of [...livePebbles]) await p.stop().catch(() => {});
});
process.on('exit', () => {
  for (const p of livePebbles) {
    try {
      p.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

// ------------------------------------------------------------------------------------------
// nginx fixture (package nginx): a TLS site on a free 127.0.0.1 port serving a pack's
// deployed certificate, DATA/deploy/<zone id>/<pack id>/ecdsa.{crt,key}, as an operator's
// nginx would. Foreground (`daemon off`), prefix, pid, logs and temp dirs in workDir;
// stopped by the after hook of the file (and SIGKILLed on exit).

const NGINX_BIN = '/usr/sbin/nginx';
const liveNginx = new Set();

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts nginx in workDir serving https://127.0.0.1:PORT/ (any name; body "tlsward nginx
 * fixture\n") with the pack's deployed ECDSA pair, or { cert, key } files given instead.
 * Returns { port, stop(), log() }. Throws when nginx is not installed or does not start.
 */
export async function startNginx(workDir, { dataDir, zoneId, packId, cert, key } = {}) {
  await fs.access(NGINX_BIN, fs.constants.X_OK).catch(() => assert.fail(`${NGINX_BIN} is not installed (package nginx, see scripts/deps.sh)`));
  const live = dataDir ? path.join(dataDir, 'deploy', zoneId, packId) : null;
  const crt = cert ?? path.join(live, 'ecdsa.crt');
  const pkey = key ?? path.join(live, 'ecdsa.key');
  await fs.mkdir(path.join(workDir, 'tmp'), { recursive: true });
  const ngx = { port: null, proc: null, exitInfo: null, logText: '' };
  const conf = (port) => `worker_processes 1;
pid ${workDir}/nginx.pid;
error_log ${workDir}/error.log notice;
events { worker_connections 64; }
http {
  access_log ${workDir}/access.log;
  client_body_temp_path ${workDir}/tmp/body;
  proxy_temp_path ${workDir}/tmp/proxy;
  fastcgi_temp_path ${workDir}/tmp/fastcgi;
  uwsgi_temp_path ${workDir}/tmp/uwsgi;
  scgi_temp_path ${workDir}/tmp/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    server_name _;
    ssl_certificate ${crt};
    ssl_certificate_key ${pkey};
    location / { default_type text/plain; return 200 "tlsward nginx fixture\\n"; }
  }
}
`;
  const launch = async (port) => {
    const confPath = path.join(workDir, 'nginx.conf');
    await fs.writeFile(confPath, conf(port));
    const proc = spawn(NGINX_BIN, ['-p', workDir, '-e', path.join(workDir, 'error.log'), '-c', confPath, '-g', 'daemon off;'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ngx.proc = proc;
    ngx.exitInfo = null;
    ngx.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve((ngx.exitInfo = { code, signal })));
      proc.on('error', (err) => resolve((ngx.exitInfo = { code: null, signal: null, error: err })));
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (d) => {
        ngx.logText = (ngx.logText + d).slice(-100_000);
      });
    }
    liveNginx.add(ngx);
    const ok = await waitTcpReady(port, proc, () => ngx.exitInfo, `nginx on 127.0.0.1:${port}`);
    if (!ok) {
      await ngx.exited;
      liveNginx.delete(ngx);
    }
    return ok;
  };
  for (let attempt = 0; attempt < 5 && ngx.port === null; attempt++) {
    const port = await freeTcpPort();
    if (await launch(port)) ngx.port = port;
  }
  const errorLog = () => fs.readFile(path.join(workDir, 'error.log'), 'utf8').catch(() => '');
  if (ngx.port === null) assert.fail(`nginx did not start: ${ngx.logText}\n${await errorLog()}`);
  ngx.log = async () => `${ngx.logText}${await errorLog()}`;
  ngx.stop = async () => {
    if (!ngx.exitInfo) {
      ngx.proc.kill('SIGTERM');
      let timer;
      const r = await Promise.race([ngx.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)))]);
      clearTimeout(timer);
      if (r === 'timeout') {
        ngx.proc.kill('SIGKILL');
        await ngx.exited;
      }
    }
    liveNginx.delete(ngx);
  };
  return ngx;
}

after(async () => {
  for (const n of [...liveNginx]) await n.stop().catch(() => {});
});
process.on('exit', () => {
  for (const n of liveNginx) {
    try {
      n.proc?.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

// ------------------------------------------------------------------------------------------
// Knot DNS and unbound (DNS publication tests): each daemon runs in the foreground on a free
// 127.0.0.1 port with its configuration and state in workDir, and is stopped by stop() or,
// at the latest, by the after() hook of the file.

const liveDaemons = new Set();
after(async () => {
  for (const d of [...liveDaemons]) await d.stop().catch(() => {});
});
process.on('exit', () => {
  for (const d of liveDaemons) {
    try {
      d.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Runs `bin args` until it accepts TCP on port; { proc, stop(), log() }, or { failed, logText }. */
async function startDaemon(bin, args, port, what) {
  // Debian installs the daemons in /usr/sbin, which a non-login PATH may lack.
  const sbin = `/usr/sbin/${bin}`;
  const exe = await fs.access(sbin).then(() => sbin, () => bin);
  const proc = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const d = { proc, exitInfo: null, logText: '' };
  d.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => resolve((d.exitInfo = { code, signal })));
    proc.on('error', (error) => resolve((d.exitInfo = { code: null, signal: null, error })));
  });
  for (const stream of [proc.stdout, proc.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (t) => {
      d.logText = (d.logText + t).slice(-100_000);
    });
  }
  d.log = () => d.logText;
  d.stop = async () => {
    liveDaemons.delete(d);
    if (d.exitInfo) return;
    proc.kill('SIGTERM');
    let timer;
    const r = await Promise.race([d.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    if (r === 'timeout') {
      proc.kill('SIGKILL');
      await d.exited;
    }
  };
  liveDaemons.add(d);
  if (await waitTcpReady(port, proc, () => d.exitInfo, what)) return d;
  await d.stop();
  return { failed: true, logText: d.logText };
}

function execText(bin, args, input) {
  return new Promise((resolve) => {
    const child = execFile(bin, args, { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin.end(input);
  });
}

export const KNOT_TSIG_NAME = 'tlsward-e2e';
export const KNOT_TSIG_SECRET = 'ZTJlLXRlc3QtdHNpZy1rZXktZm9yLXRsc3dhcmQtMzI=';

/**
 * Starts Knot DNS (`knotd -c CONF`, as root, no `user:` line) serving `zones` (names), each
 * with SOA (negative TTL 1 s), NS, `@`/`www` A and `* A 127.0.0.1`, plus extra[zone] lines
 * (zone-file syntax, relative to the zone). A TSIG key (hmac-sha256) may update every zone.
 * Returns { port, address, tsig ("NAME:hmac-sha256:SECRET"), txt(name), dig(name, type),
 * update(zone, lines), stop(), log() }.
 */
export async function startKnot(workDir, zones, extra = {}) {
  await fs.mkdir(workDir, { recursive: true });
  for (const z of zones) {
    const lines = [
      `$ORIGIN ${z}.`,
      '$TTL 60',
      `@ SOA ns.${z}. hostmaster.${z}. 1 60 60 600 1`,
      `@ NS ns.${z}.`,
      'ns A 127.0.0.1',
      '@ A 127.0.0.1',
      'www A 127.0.0.1',
      '* A 127.0.0.1',
      ...(extra[z] ?? []),
    ];
    await fs.writeFile(path.join(workDir, `${z}.zone`), `${lines.join('\n')}\n`);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeUdpPort();
    const conf = [
      'server:',
      `    rundir: ${workDir}`,
      `    listen: 127.0.0.1@${port}`,
      'database:',
      `    storage: ${workDir}`,
      'key:',
      `  - id: ${KNOT_TSIG_NAME}`,
      '    algorithm: hmac-sha256',
      `    secret: ${KNOT_TSIG_SECRET}`,
      'acl:',
      '  - id: update',
      `    key: ${KNOT_TSIG_NAME}`,
      '    action: update',
      'template:',
      '  - id: default',
      `    storage: ${workDir}`,
      '    file: "%s.zone"',
      '    acl: update',
      '    zonefile-sync: -1',
      'zone:',
      ...zones.map((z) => `  - domain: ${z}`),
      'log:',
      '  - target: stderr',
      '    any: info',
    ].join('\n');
    const confPath = path.join(workDir, 'knot.conf');
    await fs.writeFile(confPath, `${conf}\n`);
    const d = await startDaemon('knotd', ['-c', confPath], port, `knotd on 127.0.0.1:${port}`);
    if (d.failed) {
      if (attempt === 4) assert.fail(`knotd did not start; its log:\n${d.logText}`);
      continue;
    }
    d.port = port;
    d.address = `127.0.0.1:${port}`;
    d.tsig = `${KNOT_TSIG_NAME}:hmac-sha256:${KNOT_TSIG_SECRET}`;
    /** The records of `type` at name as kdig prints them (+short), sorted. */
    d.dig = async (name, type) => {
      const r = await execText('kdig', [`@127.0.0.1`, '-p', String(port), '+tcp', '+short', type, name]);
      assert.equal(r.code, 0, `kdig ${type} ${name}: ${r.stderr}`);
      return r.stdout.split('\n').filter(Boolean).sort();
    };
    /** The TXT values at name, unquoted, sorted. */
    d.txt = async (name) => (await d.dig(name, 'TXT')).map((v) => v.replace(/^"|"$/g, ''));
    /** Applies `update add|delete ...` lines to zone with knsupdate (signed with the key). */
    d.update = async (zone, lines) => {
      const script = [`server 127.0.0.1 ${port}`, `zone ${zone}`, ...lines, 'send', ''].join('\n');
      const r = await execText('knsupdate', ['-y', `hmac-sha256:${KNOT_TSIG_NAME}:${KNOT_TSIG_SECRET}`], script);
      assert.equal(r.code, 0, `knsupdate: ${r.stdout}${r.stderr}`);
    };
    return d;
  }
  throw new Error('unreachable');
}

/**
 * Starts unbound (`unbound -d -c CONF`) as a recursive resolver in front of Knot: a stub
 * zone per name of `zones` pointing at knotPort, and `local-zone ... static` for each of
 * `tlds` (so CAA lookups that climb to the top-level domain get NXDOMAIN, while the stub
 * zones are marked transparent). No DNSSEC validation, no remote control, no chroot, no
 * user change; caching capped at 1 s. Returns { port, address, stop(), log() }.
 */
export async function startUnbound(workDir, knotPort, zones, tlds) {
  await fs.mkdir(workDir, { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeUdpPort();
    const conf = [
      'server:',
      `    interface: 127.0.0.1@${port}`,
      '    do-ip6: no',
      '    do-not-query-localhost: no',
      '    username: ""',
      '    chroot: ""',
      `    directory: "${workDir}"`,
      `    pidfile: "${path.join(workDir, 'unbound.pid')}"`,
      '    use-syslog: no',
      '    logfile: ""',
      '    verbosity: 1',
      '    module-config: "iterator"',
      '    qname-minimisation: no',
      '    cache-max-ttl: 1',
      '    cache-max-negative-ttl: 1',
      '    access-control: 127.0.0.0/8 allow',
      ...tlds.map((t) => `    local-zone: "${t}." static`),
      ...zones.map((z) => `    local-zone: "${z}." transparent`),
      ...zones.flatMap((z) => ['stub-zone:', `    name: "${z}."`, `    stub-addr: 127.0.0.1@${knotPort}`]),
      'remote-control:',
      '    control-enable: no',
    ].join('\n');
    const confPath = path.join(workDir, 'unbound.conf');
    await fs.writeFile(confPath, `${conf}\n`);
    const d = await startDaemon('unbound', ['-d', '-c', confPath], port, `unbound on 127.0.0.1:${port}`);
    if (d.failed) {
      if (attempt === 4) assert.fail(`unbound did not start; its log:\n${d.logText}`);
      continue;
    }
    d.port = port;
    d.address = `127.0.0.1:${port}`;
    return d;
  }
  throw new Error('unreachable');
}

/** Runs openssl with args in cwd; rejects with its stderr on failure. */
function openssl(args, cwd) {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) =>
      err ? reject(new Error(`openssl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

/**
 * Starts Debian's Pebble (an RFC 8555 test CA) in workDir on free 127.0.0.1 ports, with a
 * test CA and a localhost/127.0.0.1 leaf made by openssl for its HTTPS (Pebble ships none),
 * in the foreground with PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 (no DNS or HTTP
 * publication needed) plus `env`. Options: eab = { kid: base64urlKey } makes external
 * account binding required; alwaysValid: false makes its VA really check (then dnsServer,
 * "127.0.0.1:PORT", is where it resolves); tlsDays: validity of its HTTPS certificate (a
 * client whose clock is moved ahead needs more than the default 2); config: more keys of
 * its config (e.g. certificateValidityPeriod, seconds).
 * Returns { directory, caFile, mgmt, stop(), restart(), freeze(), thaw(), root(),
 * certStatus(serialHex), log() }. restart() starts a fresh Pebble (it forgets everything) on
 * the same ports.
 */
export async function startPebble(workDir, { eab, env = {}, alwaysValid = true, dnsServer, tlsDays = 2, config: extra = {} } = {}) {
  await fs.mkdir(workDir, { recursive: true });
  const caKey = path.join(workDir, 'ca.key');
  const caFile = path.join(workDir, 'ca.pem');
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caFile, '-days', String(tlsDays), '-subj', '/CN=pebble test TLS CA'], workDir);
  await fs.writeFile(path.join(workDir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost'], workDir);
  await openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', 'leaf.pem', '-days', String(tlsDays), '-extfile', 'leaf.ext'], workDir);
  const [port, mgmtPort, httpPort, tlsPort] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: path.join(workDir, 'leaf.pem'),
      privateKey: path.join(workDir, 'leaf.key'),
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: Boolean(eab),
      ...(eab ? { externalAccountMACKeys: eab } : {}),
      ...extra,
    },
  };
  const configFile = path.join(workDir, 'pebble.json');
  await fs.writeFile(configFile, JSON.stringify(config));
  const caPem = await fs.readFile(caFile);
  let proc = null;
  let exitInfo = null;
  let log = '';
  const spawnIt = async () => {
    exitInfo = null;
    const args = ['-config', configFile, '-strict=false', ...(dnsServer ? ['-dnsserver', dnsServer] : [])];
    proc = spawn('/usr/bin/pebble', args, {
      env: { ...process.env, ...(alwaysValid ? { PEBBLE_VA_ALWAYS_VALID: '1' } : {}), PEBBLE_VA_NOSLEEP: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const me = proc;
    me.stdout.setEncoding('utf8');
    me.stderr.setEncoding('utf8');
    me.stdout.on('data', (d) => (log += d));
    me.stderr.on('data', (d) => (log += d));
    me.exited = new Promise((resolve) => me.on('exit', (code, signal) => resolve((exitInfo = { code, signal }))));
    livePebbles.add(pebble);
    const up = await waitTcpReady(port, me, () => exitInfo, `Pebble on port ${port}`);
    assert.ok(up, `pebble exited early: ${log}`);
    assert.ok(await waitTcpReady(mgmtPort, me, () => exitInfo, `Pebble management on ${mgmtPort}`));
  };
  const mgmt = (p) =>
    new Promise((resolve, reject) => {
      const req = httpsModule.get({ host: '127.0.0.1', port: mgmtPort, path: p, ca: caPem, servername: 'localhost', timeout: REQUEST_TIMEOUT_MS }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
    });
  const stop = async () => {
    if (!proc || exitInfo) return;
    proc.kill('SIGCONT');
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await proc.exited;
    clearTimeout(t);
    livePebbles.delete(pebble);
  };
  const pebble = {
    directory: `https://127.0.0.1:${port}/dir`,
    caFile,
    port,
    mgmtPort,
    httpPort,
    mgmt,
    log: () => log,
    stop,
    get proc() {
      return proc;
    },
    async restart() {
      await stop();
      await spawnIt();
    },
    freeze: () => proc.kill('SIGSTOP'),
    thaw: () => proc.kill('SIGCONT'),
    /** Pebble's current root (PEM), from /roots/0. */
    async root() {
      const r = await mgmt('/roots/0');
      assert.equal(r.status, 200, `GET /roots/0: ${r.body}`);
      return r.body;
    },
    /** /cert-status-by-serial/<hex>: { Status: "Valid"|"Revoked", ... }. */
    async certStatus(serialHex) {
      const r = await mgmt(`/cert-status-by-serial/${serialHex}`);
      assert.equal(r.status, 200, `cert status ${serialHex}: ${r.body}`);
      return JSON.parse(r.body);
    },
  };
  await spawnIt();
  return pebble;
}

// ------------------------------------------------------------------------------------------
// libfaketime (package faketime): a server run with its wall clock moved ahead.

export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';

/**
 * The environment that moves a tlsward process's wall clock by `offset` (e.g. '+25d'); the
 * monotonic clock stays real, so timeouts and the worker's sleeps behave; ASan accepts the
 * preloaded library ahead of its runtime.
 */
export const fakeClockEnv = (offset) => ({
  LD_PRELOAD: LIBFAKETIME,
  FAKETIME: offset,
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
  ASAN_OPTIONS: [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':'),
});

// ------------------------------------------------------------------------------------------
// PostgreSQL fixture (packages postgresql, postgresql-client): a throwaway PostgreSQL 15
// cluster in a temp dir, on a free 127.0.0.1 port with its socket in that dir. initdb and
// postgres run as the `postgres` user when the suite runs as root (PostgreSQL refuses
// root; the temp dir is chowned so that user can enter it). postgres is a direct child
// (never pg_ctl, whose daemonised postmaster lingers after a kill -9 and blocks the next
// start) and leads a process group of its own, so kill() takes its children too.

import { execFileSync as pgExecFileSync } from 'node:child_process';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PG_START_TIMEOUT_MS = 30_000;
const livePostgres = new Set();

/** { uid, gid } of the `postgres` user when we are root, else {} (run as ourselves). */
async function pgOwner() {
  if (process.getuid() !== 0) return {};
  const ids = await Promise.all(['-u', '-g'].map((f) => execText('id', [f, 'postgres'])));
  assert.ok(ids.every((r) => r.code === 0), 'startPostgres: no `postgres` user (install the postgresql package)');
  return { uid: Number(ids[0].stdout), gid: Number(ids[1].stdout) };
}

/** The SysV shared-memory id on line 7 of postmaster.pid ("KEY SHMID"), or null. */
async function pgShmId(data) {
  const text = await fs.readFile(path.join(data, 'postmaster.pid'), 'utf8').catch(() => '');
  const m = /^\s*\d+\s+(\d+)\s*$/.exec(text.split('\n')[6] ?? '');
  return m ? m[1] : null;
}

/** Removes a segment a killed cluster left behind (it vanishes once nothing is attached). */
function pgRemoveShm(shmid) {
  if (shmid === null) return;
  try {
    pgExecFileSync('ipcrm', ['-m', shmid], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** Waits (≤ 5 s) until segment shmid is gone: ipcrm only marks it, and the kernel frees
 * it once the last killed process has detached, which can take a moment after SIGKILL. */
async function pgWaitShmGone(shmid) {
  if (shmid === null) return;
  const listed = () => {
    try {
      const out = pgExecFileSync('ipcs', ['-m'], { encoding: 'utf8' });
      return out.split('\n').some((l) => l.trim().split(/\s+/)[1] === String(shmid));
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 100 && listed(); i++) await new Promise((r) => setTimeout(r, 50));
}

function pgKillGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* the group is gone */
  }
}

/**
 * Starts a cluster (settings: extra `-c name=value` server settings, e.g. { fsync: 'off' }).
 * Returns { url, port, dir, proc (the postmaster), exitInfo, shmid, stop(), kill(), restart(), log() }:
 *   url      postgresql://postgres@127.0.0.1:PORT/postgres (trust authentication)
 *   stop()   SIGINT (fast shutdown: SIGTERM would wait for pooled clients), then the dir goes
 *   kill()   SIGKILL to the postmaster and its children, as a crash; removes the shared
 *            memory segment left behind; the data dir stays for restart()
 *   restart() starts it again on the same port and data dir and waits until it is ready
 * Every wait is bounded; the file's after hook stops what a failed test left running.
 */
export async function startPostgres({ settings = {} } = {}) {
  for (const b of ['initdb', 'postgres', 'pg_isready']) {
    await fs.access(path.join(PG_BIN, b)).catch(() => {
      throw new Error(`startPostgres: ${PG_BIN}/${b} is missing: install PostgreSQL 15 (scripts/deps.sh)`);
    });
  }
  const owner = await pgOwner();
  // Not a tempRoots entry: the generic after hook would remove the data dir under a live
  // server; pg.stop() removes it once the server is gone.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tlsward-pg-'));
  if (owner.uid !== undefined) await fs.chown(dir, owner.uid, owner.gid);
  const data = path.join(dir, 'data');
  const env = { LC_ALL: 'C', PATH: '/usr/bin:/bin' };
  const init = await new Promise((resolve) => {
    execFile(
      path.join(PG_BIN, 'initdb'),
      ['-D', data, '--auth=trust', '--locale=C', '-E', 'UTF8', '-U', 'postgres', '--no-sync', '--no-instructions'],
      { ...owner, env, cwd: dir, timeout: CLI_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ err, out: `${stdout}${stderr}` }),
    );
  });
  if (init.err) {
    await cleanup(dir);
    throw new Error(`startPostgres: initdb failed (${init.err.message}):\n${init.out}`);
  }
  const port = await freeTcpPort();
  const extra = Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const args = ['-D', data, '-k', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', ...extra];
  const pg = { url: `postgresql://postgres@127.0.0.1:${port}/postgres`, port, dir, proc: null, exitInfo: null, shmid: null };
  let logText = '';
  pg.log = () => logText;

  const launch = async () => {
    const proc = spawn(path.join(PG_BIN, 'postgres'), args, { ...owner, env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    pg.proc = proc;
    pg.exitInfo = null;
    pg.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => resolve((pg.exitInfo = { code, signal })));
      proc.on('error', (error) => resolve((pg.exitInfo = { code: null, signal: null, error })));
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (t) => {
        logText = (logText + t).slice(-100_000);
      });
    }
    livePostgres.add(pg);
    try {
      await waitFor(
        async () => {
          if (pg.exitInfo) throw new Error(`postgres exited (${JSON.stringify(pg.exitInfo)}); log:\n${logText}`);
          const r = await execText(path.join(PG_BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-t', '2']);
          return r.code === 0;
        },
        { timeout: PG_START_TIMEOUT_MS, interval: 50, what: `postgres on port ${port} to accept connections` },
      );
    } catch (e) {
      await pg.kill();
      throw e;
    }
    pg.shmid = await pgShmId(data);
  };

  // Waits for the postmaster's exit, bounded; false on timeout.
  const awaitExit = async (ms) => {
    let timer;
    const r = await Promise.race([pg.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
    clearTimeout(timer);
    return r !== 'timeout';
  };

  pg.kill = async () => {
    if (pg.proc && !pg.exitInfo) {
      pgKillGroup(pg.proc.pid);
      assert.ok(await awaitExit(STOP_TIMEOUT_MS), 'postgres survived SIGKILL');
    }
    pgKillGroup(pg.proc?.pid); // children the postmaster left, if it had died on its own
    pgRemoveShm(pg.shmid); // the cluster stays in livePostgres: its dir goes at stop()
    await pgWaitShmGone(pg.shmid);
  };

  pg.restart = async () => {
    assert.ok(!pg.proc || pg.exitInfo, 'restart() of a running cluster: stop or kill it first');
    await launch();
  };

  pg.stop = async () => {
    if (pg.proc && !pg.exitInfo) {
      pg.proc.kill('SIGINT');
      if (!(await awaitExit(STOP_TIMEOUT_MS))) await pg.kill();
    }
    if (pg.exitInfo && pg.exitInfo.code !== 0) await pg.kill(); // it died: clean after it
    livePostgres.delete(pg);
    await cleanup(dir);
  };

  try {
    await launch();
  } catch (e) {
    await cleanup(dir);
    throw e;
  }
  return pg;
}

after(async () => {
  for (const pg of [...livePostgres]) await pg.stop().catch(() => {});
});
process.on('exit', () => {
  for (const pg of livePostgres) {
    pgKillGroup(pg.proc.pid);
    pgRemoveShm(pg.shmid);
    try {
      pgExecFileSync('rm', ['-rf', pg.dir], { stdio: 'ignore' });
    } catch {
      /* best effort on the way out */
    }
  }
});

// Several nodes on one store (--database): API nodes (`serve --no-worker`) and worker nodes,
// each with its own data dir and the same master key (TLSWARD_MASTER_KEY_FILE). `database` is
// what --database gets: an SQLite file path, or a postgres:// URI for the PostgreSQL variant.

/** tlsward init --database DB --data DIR, the master key at keyFile → init's JSON. */
export async function initNodeStore(database, dir, keyFile, extraArgs = []) {
  return runCliJson(['init', '--data', dir, '--database', database, ...extraArgs, '--json'], {
    env: { TLSWARD_MASTER_KEY_FILE: keyFile },
  });
}

/** An API node: `tlsward serve --no-worker --database DB --data DIR ...`. */
export async function startApiNode(database, dir, keyFile, extraArgs = []) {
  return startServer(dir, ['--no-worker', '--database', database, ...extraArgs], {
    env: { TLSWARD_MASTER_KEY_FILE: keyFile },
  });
}

/** A worker node: `tlsward worker --database DB --data DIR ...` (--dcv-mode auto unless given). */
export async function startWorkerNode(database, dir, keyFile, extraArgs = []) {
  const mode = extraArgs.includes('--dcv-mode') ? [] : ['--dcv-mode', 'auto'];
  return startWorker(dir, ['--database', database, ...mode, ...extraArgs], {
    env: { TLSWARD_MASTER_KEY_FILE: keyFile },
  });
}

/** True when a node's data dir holds the pack's complete deployed set. */
export async function hasDeployedPack(dir, zoneId, packId) {
  const base = path.join(dir, 'deploy', zoneId, packId);
  for (const f of ['ecdsa.crt', 'ecdsa.key', 'rsa.crt', 'rsa.key']) {
    try {
      await fs.access(path.join(base, f));
    } catch {
      return false;
    }
  }
  return true;
}
