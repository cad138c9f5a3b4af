// The process: CLI behaviour (help, version, exit codes, init, account/token commands) and
// the server's life cycle (SIGTERM/SIGINT with in-flight requests, kill -9 in the middle of a
// burst of creations, then restart on the same data dir).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  HEX32,
  assertOk,
  assertUserError,
  createAccount,
  createToken,
  createZoneRaw,
  getZoneRaw,
  initData,
  killServer,
  listAllZones,
  makeInitialisedDir,
  makeTempDataDir,
  onCleanup,
  parseSingleJsonObject,
  randomId,
  runCli,
  sha256,
  sleep,
  startServer,
  stopServer,
  stopServerExpectClean,
  uniq,
  v4,
  waitFor,
} from './harness.mjs';

const CMD_TIMEOUT = 20_000; // a usage error must not start anything long-lived

/** Names of the files under dir (recursive, relative), excluding SQLite's transient files. */
async function listFiles(dir) {
  const out = [];
  const walk = async (d) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (!/-(wal|shm|journal)$/.test(e.name)) out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

const exists = (p) => fs.stat(p).then(() => true, () => false);

describe('CLI', () => {
  test('version → exit 0 with a version number', async () => {
    const r = await runCli(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\d+\.\d+\.\d+/, `version output: ${r.stdout}`);
  });

  test('--help on every command → exit 0, text on stdout, nothing created', async (t) => {
    const { root } = await makeTempDataDir();
    onCleanup(t, { root });
    const commands = [
      [[], ['init', 'serve', 'token']],
      [['init'], ['init', '--data']],
      [['serve'], ['serve', '--data', '--listen']],
      [['account', 'create'], ['account', '--name']],
      [['token', 'create'], ['token', '--account', '--permission']],
      [['token', 'revoke'], ['token', 'revoke']],
      [['version'], ['version']],
    ];
    for (const [cmd, words] of commands) {
      const r = await runCli([...cmd, '--help'], { cwd: root, timeout: CMD_TIMEOUT });
      const what = `tlsward ${[...cmd, '--help'].join(' ')}`;
      assert.equal(r.code, 0, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
      assert.ok(r.stdout.trim().length > 0, `${what}: no text on stdout`);
      for (const w of words) assert.ok(r.stdout.includes(w), `${what}: help should mention ${w}:\n${r.stdout}`);
    }
    assert.deepEqual(await fs.readdir(root), [], '--help created files');
  });

  test('usage errors → exit 2 (unknown option, unknown command, missing required option)', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    onCleanup(t, { root });
    const fresh = path.join(root, 'never-created');
    const cases = [
      ['init', '--data', fresh, '--bogus'],
      ['init', '--data', fresh, '--json', '--no-such-option=1'],
      ['init', '--data'],
      ['init'],
      ['serve', '--data', dir, '--bogus'],
      ['serve'],
      ['account', 'create', '--data', dir, '--name', 'x', '--bogus'],
      ['account', 'create', '--data', dir],
      ['account', 'frobnicate', '--data', dir],
      ['token', 'create', '--data', dir, '--account', creds.account_id, '--permission', 'zone:read', '--bogus'],
      ['token', 'create', '--data', dir, '--account', creds.account_id],
      ['token', 'create', '--data', dir, '--permission', 'zone:read'],
      ['token', 'revoke', '--data', dir],
      ['token', 'revoke', '--data', dir, randomId(), '--bogus'],
      ['version', '--bogus'],
      ['frobnicate'],
    ];
    for (const args of cases) {
      const r = await runCli(args, { cwd: root, timeout: CMD_TIMEOUT });
      assert.equal(r.code, 2, `tlsward ${args.join(' ')}: exit ${r.code} (signal ${r.signal}); stderr: ${r.stderr}`);
      assert.ok(r.stderr.trim().length > 0, `tlsward ${args.join(' ')}: nothing on stderr`);
    }
    assert.equal(await exists(fresh), false, 'a refused init created its data dir');
  });

  test('init prints exactly one JSON object and creates the dir with mode 0700', async (t) => {
    const { root, dir } = await makeTempDataDir();
    onCleanup(t, { root });
    const r = await runCli(['init', '--data', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const creds = parseSingleJsonObject(r.stdout, 'init --json');
    for (const k of ['user_email', 'api_key', 'account_id', 'token']) {
      assert.equal(typeof creds[k], 'string', `${k} must be a string`);
      assert.ok(creds[k].length > 0, `${k} must not be empty`);
    }
    assert.equal(creds.user_email, 'admin@localhost');
    assert.match(creds.account_id, HEX32);
    assert.notEqual(creds.api_key, creds.token);
    const st = await fs.stat(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o777, 0o700, `data dir mode ${(st.mode & 0o777).toString(8)}`);
  });

  test('init --email sets the user e-mail; TLSWARD_DATA replaces --data', async (t) => {
    const { root, dir } = await makeTempDataDir();
    onCleanup(t, { root });
    const creds = await initData(dir, ['--email', 'ops@example.com']);
    assert.equal(creds.user_email, 'ops@example.com');

    const envDir = path.join(root, 'from-env');
    const r = await runCli(['init', '--json'], { env: { TLSWARD_DATA: envDir } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseSingleJsonObject(r.stdout).user_email, 'admin@localhost');
    assert.ok(await exists(envDir), 'TLSWARD_DATA dir created');
  });

  test('a second init refuses (exit 1, one line) and changes nothing', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    onCleanup(t, { root });
    const filesBefore = await listFiles(dir);
    const keyPath = path.join(dir, 'master.key');
    const keyBefore = (await exists(keyPath)) ? sha256(await fs.readFile(keyPath)) : null;

    for (const extra of [[], ['--email', 'someone@example.com']]) {
      const r = await runCli(['init', '--data', dir, ...extra, '--json']);
      assertUserError(r, `second init ${extra.join(' ')}`);
      assert.equal(r.stdout, '', 'a refused init prints nothing on stdout');
    }
    assert.deepEqual(await listFiles(dir), filesBefore, 'files changed');
    if (keyBefore) assert.equal(sha256(await fs.readFile(keyPath)), keyBefore, 'master.key changed');

    const server = await startServer(dir);
    onCleanup(t, { server });
    const verify = await v4(server, 'GET', '/user/tokens/verify', { token: creds.token });
    assert.equal(assertOk(verify, 'first token after a second init').status, 'active');
    assertOk(await v4(server, 'GET', '/zones', { email: creds.user_email, key: creds.api_key }), 'first api key');
    const refused = await v4(server, 'GET', '/zones', { email: 'someone@example.com', key: creds.api_key });
    assert.equal(refused.status, 403, 'the refused init did not add a user');
    await stopServerExpectClean(server);
  });

  test('account create and token create print {id,name} / {id,token}', async (t) => {
    const { root, dir } = await makeInitialisedDir();
    onCleanup(t, { root });
    const acct = await createAccount(dir, 'Second Account');
    assert.deepEqual(Object.keys(acct).sort(), ['id', 'name']);
    assert.match(acct.id, HEX32);
    assert.equal(acct.name, 'Second Account');
    const tok = await createToken(dir, acct.id, ['ssl:read', 'zone:write']);
    assert.deepEqual(Object.keys(tok).sort(), ['id', 'token']);
    assert.match(tok.id, HEX32);
    assert.ok(tok.token.length >= 20, 'token secret too short');
    const tok2 = await createToken(dir, acct.id, ['zone:read']);
    assert.notEqual(tok2.id, tok.id);
    assert.notEqual(tok2.token, tok.token);
  });

  test('user errors → exit 1 with one line on stderr', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    onCleanup(t, { root });
    const past = new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const tokenCreate = (...extra) => ['token', 'create', '--data', dir, '--account', creds.account_id, ...extra, '--json'];
    const cases = [
      ['unknown permission', tokenCreate('--permission', 'zone:admin')],
      ['unknown account', ['token', 'create', '--data', dir, '--account', randomId(), '--permission', 'zone:read', '--json']],
      ['unknown zone', tokenCreate('--permission', 'zone:read', '--zone', randomId())],
      ['expires in the past', tokenCreate('--permission', 'zone:read', '--expires', past)],
      ['expires not a date', tokenCreate('--permission', 'zone:read', '--expires', 'tomorrow')],
      ['revoke unknown id', ['token', 'revoke', '--data', dir, randomId()]],
      ['data dir not initialised', ['account', 'create', '--data', path.join(root, 'nothing-here'), '--name', 'x', '--json']],
    ];
    for (const [label, args] of cases) {
      const r = await runCli(args);
      assertUserError(r, label);
      assert.equal(r.stdout, '', `${label}: nothing on stdout`);
    }
    assert.equal(await exists(path.join(root, 'nothing-here')), false);
  });
});

/**
 * Starts a POST whose body is sent in two halves; returns { response, finish }: the response
 * promise, and finish() which sends the second half.
 */
function slowPost(server, urlPath, headers, body) {
  const buf = Buffer.from(body);
  const half = Math.floor(buf.length / 2);
  const req = http.request({
    host: '127.0.0.1',
    port: server.port,
    method: 'POST',
    path: urlPath,
    agent: false,
    headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(buf.length) },
  });
  const response = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode, text, body: JSON.parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('slow request timed out')));
  });
  req.write(buf.subarray(0, half));
  return { response, finish: () => req.end(buf.subarray(half)) };
}

describe('server life cycle', () => {
  test('SIGTERM during in-flight requests: they complete with 200, exit 0, data kept', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const server = await startServer(dir);
    onCleanup(t, { server, root });

    const names = [0, 1, 2].map((i) => `inflight-${i}-${uniq()}.example.com`);
    const slow = names.map((name) =>
      slowPost(
        server,
        '/client/v4/zones',
        { Authorization: `Bearer ${creds.token}` },
        JSON.stringify({ name, account: { id: creds.account_id } }),
      ),
    );
    await sleep(750); // the server has accepted the connections and read the headers
    server.proc.kill('SIGTERM');
    await sleep(300);
    // Stopped accepting: a new request is not served (refused, or never answered).
    const late = await fetch(`${server.baseURL}/zones`, {
      headers: { Authorization: `Bearer ${creds.token}` },
      signal: AbortSignal.timeout(2000),
    }).then(
      (res) => `HTTP ${res.status}`,
      () => 'not served',
    );
    assert.equal(late, 'not served', 'a request arriving after SIGTERM was served');
    for (const s of slow) s.finish();

    const results = await Promise.all(slow.map((s) => s.response));
    results.forEach((r, i) => {
      assert.equal(r.status, 200, `in-flight request ${i}: ${r.text}`);
      assert.equal(r.body.success, true);
      assert.equal(r.body.result.name, names[i]);
    });
    await stopServerExpectClean(server, { signal: null }); // already signalled: await the exit, expect 0

    const again = await startServer(dir);
    onCleanup(t, { server: again });
    for (const r of results) {
      const got = assertOk(await getZoneRaw(again, creds.token, r.body.result.id), 'zone created during shutdown');
      assert.equal(got.name, r.body.result.name);
    }
    await stopServerExpectClean(again);
  });

  test('SIGTERM with an idle keep-alive connection open → exits 0 promptly', async (t) => {
    const { root, dir } = await makeInitialisedDir();
    const server = await startServer(dir);
    onCleanup(t, { server, root });

    const socket = net.connect(server.port, '127.0.0.1');
    t.after(() => socket.destroy());
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    let received = '';
    socket.on('data', (d) => {
      received += d;
    });
    socket.on('error', () => {});
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => /\r\n\r\n[\s\S]*"ok"/.test(received), { timeout: 10_000, interval: 25, what: 'the /healthz answer' });
    assert.match(received, /^HTTP\/1\.1 200 /);

    const started = Date.now();
    const code = await stopServer(server, { timeout: 10_000 });
    assert.equal(code, 0, `exit ${JSON.stringify(server.exitInfo)}; stderr:\n${server.stderr().slice(-3000)}`);
    assert.ok(Date.now() - started < 10_000);
  });

  test('SIGINT → exit 0', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const server = await startServer(dir);
    onCleanup(t, { server, root });
    assertOk(await v4(server, 'GET', '/zones', { token: creds.token }));
    await stopServerExpectClean(server, { signal: 'SIGINT' });
  });

  test('kill -9 during a burst of 200 creations loses no acknowledged zone', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const server = await startServer(dir);
    onCleanup(t, { server, root });

    const tag = uniq();
    const names = Array.from({ length: 200 }, (_, i) => `burst-${String(i).padStart(3, '0')}-${tag}.example.com`);
    const acked = [];
    const answeredNot200 = [];
    const failedToAnswer = [];
    let next = 0;
    const abort = new AbortController();

    const worker = async () => {
      while (next < names.length) {
        const name = names[next++];
        try {
          const res = await fetch(`${server.baseURL}/zones`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ name, account: { id: creds.account_id } }),
            signal: AbortSignal.any([abort.signal, AbortSignal.timeout(30_000)]),
          });
          const text = await res.text();
          let body;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          if (res.status === 200 && body?.success === true && body.result?.name === name) acked.push(body.result);
          else answeredNot200.push({ name, status: res.status, text });
        } catch {
          failedToAnswer.push(name); // the connection died with the server
        }
      }
    };
    const workers = Array.from({ length: 16 }, worker);

    await waitFor(() => acked.length >= 30 || next >= names.length || answeredNot200.length > 0, {
      timeout: 60_000,
      interval: 5,
      what: '30 acknowledged creations',
    });
    await killServer(server); // in-flight requests are cut; later ones find no server
    assert.equal(server.exitInfo.signal, 'SIGKILL');
    let timer;
    const deadline = new Promise((resolve) => { timer = setTimeout(() => resolve(false), 35_000); });
    const settled = await Promise.race([Promise.all(workers).then(() => true), deadline]);
    clearTimeout(timer); // a pending timer would keep the test process alive for 35 s
    abort.abort();
    assert.ok(settled, 'the burst did not settle after the kill');

    assert.deepEqual(answeredNot200, [], 'every answered creation before the kill must be a 200');
    assert.ok(acked.length >= 30, `only ${acked.length} creations acknowledged`);
    assert.equal(acked.length + failedToAnswer.length, names.length, 'every creation was attempted');
    t.diagnostic(`acknowledged ${acked.length}, unanswered (cut or refused after the kill) ${failedToAnswer.length}`);

    const again = await startServer(dir);
    onCleanup(t, { server: again });
    const listed = await listAllZones(again, creds.token);
    const listedIds = new Set(listed.map((z) => z.id));
    for (const z of acked) {
      assert.ok(listedIds.has(z.id), `acknowledged zone ${z.name} (${z.id}) missing from the list after restart`);
      const got = assertOk(await getZoneRaw(again, creds.token, z.id), `GET ${z.name} after restart`);
      assert.equal(got.name, z.name);
      assert.equal(got.created_on, z.created_on);
    }
    const nameSet = new Set(names);
    for (const z of listed) assert.ok(nameSet.has(z.name), `unexpected zone after restart: ${z.name}`);
    assert.equal(new Set(listed.map((z) => z.name)).size, listed.length, 'duplicate zone names after restart');

    // The restarted server works normally.
    const extra = await createZoneRaw(again, creds.token, `after-kill-${tag}.example.com`, creds.account_id);
    assert.match(extra.id, HEX32);
    await stopServerExpectClean(again);
  });
});
