// HTTP-01 publication by tlsward itself: with
// `--http-challenge-listen` a pack's pending http records are served at
// /.well-known/acme-challenge/<token> (text/plain, 404 for anything else, 405 for other
// methods), so in `--dcv-mode check` with the hosts resolving (dnsmasq) to that responder the
// pack becomes active without the test serving anything, and the token is 404 afterwards;
// with `--webroot DIR` the records are files under DIR/.well-known/acme-challenge/ (0644,
// directories 0755) that a plain static server (node here) serves, removed once validated,
// and nothing else in DIR is touched. Last, the nginx fixture: nginx serves a local-CA pack's
// deployed certificate and curl verifies it against the built-in CA's root.

import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import {
  assertOk,
  assertUserError,
  freeTcpPort,
  freshTenant,
  makeInitialisedDir,
  orderPath,
  pollPack,
  request,
  runCli,
  startDnsmasq,
  startNginx,
  startServer,
  startWorker,
  stopAllClean,
  v4,
  waitForStderr,
  waitPackStatus,
} from './harness.mjs';

const DOMAINS = ['example.com'];
const CHALLENGE = '/.well-known/acme-challenge/';

const httpOrder = (zone) => ({
  certificate_authority: 'lets_encrypt',
  hosts: [zone.name, `www.${zone.name}`],
  type: 'advanced',
  validation_method: 'http',
  validity_days: 90,
});

/** A plain GET (or other method) to 127.0.0.1:port; resolves { status, type, text }. */
function fetchLocal(port, urlPath, method = 'GET') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], allow: res.headers.allow, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath}: timed out`)));
    req.on('error', reject);
    req.end(method === 'POST' ? 'x=1' : undefined);
  });
}

/** Orders an http pack and waits until it is pending with records and a first failed check. */
async function orderPendingHttp(server, t) {
  const ordered = assertOk(await v4(server, 'POST', orderPath(t.zone.id), { token: t.token, json: httpOrder(t.zone) }), 'order');
  const { pack } = await pollPack(
    server,
    t.token,
    t.zone.id,
    ordered.id,
    (p) => p.status === 'pending_validation' && p.validation_records?.length === 2 && p.validation_errors?.length > 0,
    'records and a first (failed: the hosts do not resolve yet) check',
  );
  const records = pack.validation_records.map((r) => ({ ...r, token: new URL(r.http_url).pathname.slice(CHALLENGE.length) }));
  for (const r of records) assert.match(r.token, /^[A-Za-z0-9_-]{43}$/);
  return { pack, records };
}

/** Points the pack's hosts at 127.0.0.1 in dnsmasq and asks for a re-check now. */
async function resolveHostsAndRetry(server, dns, t) {
  await dns.set({ domains: DOMAINS, hosts: { [t.zone.name]: '127.0.0.1', [`www.${t.zone.name}`]: '127.0.0.1' } });
  assertOk(await v4(server, 'GET', `/zones/${t.zone.id}/ssl/verification?retry=true`, { token: t.token }), 'retry');
}

/** Files (recursively, relative paths) under dir, with their modes. */
async function tree(dir) {
  const out = {};
  const walk = async (d) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out[path.relative(dir, p)] = ((await fs.stat(p)).mode & 0o7777).toString(8) + (e.isDirectory() ? '/' : '');
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out;
}

/** A static file server for `dir` (what a web server in front of --webroot does). */
async function startStatic(dir) {
  const requests = [];
  const srv = http.createServer(async (req, res) => {
    requests.push(req.url);
    const file = path.join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    try {
      assert.ok(file.startsWith(`${dir}/`));
      const body = await fs.readFile(file);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: srv.address().port,
    requests,
    close: () => new Promise((resolve) => {
      srv.closeAllConnections?.();
      srv.close(() => resolve());
    }),
  };
}

function run(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr }));
  });
}

describe('HTTP-01 publication (--http-challenge-listen, --webroot) and the nginx fixture', () => {
  let root;
  let dir;
  let dns;
  let web;
  const servers = [];

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
    dns = await startDnsmasq(path.join(root, 'dns'), { domains: DOMAINS });
  });

  // One data dir: each test's processes stop (cleanly, on SIGTERM) before the next starts,
  // so no other worker takes its packs.
  beforeEach(async () => {
    await stopAllClean(servers.splice(0));
  });

  after(async () => {
    try {
      await stopAllClean(servers);
    } finally {
      await web?.close();
      await dns?.stop();
    }
  });

  test('--http-challenge-listen: tlsward serves its pending http records and its own check passes through them; 404 once validated', async () => {
    const port = await freeTcpPort();
    const server = await startServer(dir, [
      '--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-allow-private',
      '--dcv-http-port', String(port), '--http-challenge-listen', `127.0.0.1:${port}`,
    ]);
    servers.push(server);
    await waitForStderr(server, new RegExp(`challenge responder listening on http://127\\.0\\.0\\.1:${port}\\b`));
    assert.notEqual(server.port, port, 'the API keeps its own listener');

    // Ordered after the responder started; the hosts do not resolve yet, so the pack waits.
    const t = await freshTenant(server, dir, root, 'h01');
    const { pack, records } = await orderPendingHttp(server, t);
    for (const r of records) {
      const res = await fetchLocal(port, `${CHALLENGE}${r.token}`);
      assert.deepEqual([res.status, res.type, res.text], [200, 'text/plain', r.http_body], `served ${r.http_url}`);
      assert.equal((await fetchLocal(port, `${CHALLENGE}${r.token}`, 'HEAD')).status, 200);
    }
    const post = await fetchLocal(port, `${CHALLENGE}${records[0].token}`, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.allow, 'GET, HEAD');
    assert.ok(!post.text.includes(records[0].http_body), 'a refused method gets no body');
    assert.equal((await fetchLocal(port, `${CHALLENGE}${'A'.repeat(43)}`)).status, 404, 'unknown token');
    assert.equal((await fetchLocal(port, `${CHALLENGE}..%2f..%2fetc`)).status, 404, 'bad token');
    assert.equal((await fetchLocal(port, `${CHALLENGE}${'a'.repeat(129)}`)).status, 404, 'token too long');
    assert.equal((await fetchLocal(port, '/client/v4/zones')).status, 404, 'not the API');

    // Nothing but tlsward listens on that port: the check that makes the pack active is
    // answered by tlsward's own responder.
    await resolveHostsAndRetry(server, dns, t);
    const active = await waitPackStatus(server, t.token, t.zone.id, pack.id, 'active');
    assert.equal(active.certificates.length, 2);
    for (const r of records) assert.equal((await fetchLocal(port, `${CHALLENGE}${r.token}`)).status, 404, `${r.token} withdrawn once validated`);
  });

  test('--webroot: the records are files a static server serves (0644, directories 0755), removed once validated; nothing else in the webroot changes', async () => {
    const webroot = path.join(root, 'webroot');
    await fs.mkdir(webroot, { mode: 0o700 });
    await fs.writeFile(path.join(webroot, 'index.html'), 'hello\n', { mode: 0o600 });
    web = await startStatic(webroot);
    // A fresh DNS view: the earlier test's hosts must not resolve for this tenant yet.
    await dns.set({ domains: DOMAINS });
    const server = await startServer(dir, [
      '--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-allow-private',
      '--dcv-http-port', String(web.port), '--webroot', webroot,
    ]);
    servers.push(server);
    const t = await freshTenant(server, dir, root, 'wr');
    const { pack, records } = await orderPendingHttp(server, t);
    const expected = { 'index.html': '600', '.well-known': '755/', '.well-known/acme-challenge': '755/' };
    for (const r of records) {
      expected[`.well-known/acme-challenge/${r.token}`] = '644';
      assert.equal(await fs.readFile(path.join(webroot, '.well-known/acme-challenge', r.token), 'utf8'), r.http_body);
    }
    assert.deepEqual(await tree(webroot), expected, 'one file per pending record, nothing else');

    await resolveHostsAndRetry(server, dns, t);
    const active = await waitPackStatus(server, t.token, t.zone.id, pack.id, 'active');
    assert.equal(active.certificates.length, 2);
    for (const r of records) assert.ok(web.requests.includes(`${CHALLENGE}${r.token}`), `the check fetched ${r.token} from the static server`);
    assert.deepEqual(await tree(webroot), { 'index.html': '600', '.well-known': '755/', '.well-known/acme-challenge': '755/' }, 'the files are gone, the rest untouched');
    assert.equal(await fs.readFile(path.join(webroot, 'index.html'), 'utf8'), 'hello\n');
  });

  test('nginx fixture: nginx serves a local-CA pack deployed by tlsward; curl verifies it against the built-in root', async () => {
    const server = await startServer(dir, ['--dcv-mode', 'auto']);
    servers.push(server);
    const t = await freshTenant(server, dir, root, 'ngx');
    const host = `www.${t.zone.name}`;
    const ordered = assertOk(await v4(server, 'POST', orderPath(t.zone.id), { token: t.token, json: { ...httpOrder(t.zone), validation_method: 'txt' } }), 'order');
    const active = await waitPackStatus(server, t.token, t.zone.id, ordered.id, 'active');
    const ngx = await startNginx(path.join(root, 'nginx'), { dataDir: dir, zoneId: t.zone.id, packId: ordered.id });
    const ca = await request(server, 'GET', `/pki/accounts/${t.account.id}/ca.pem`);
    assert.equal(ca.status, 200);
    const rootPem = path.join(root, 'root.pem');
    await fs.writeFile(rootPem, ca.text);

    const ok = await run('curl', ['-sS', '--max-time', '10', '--cacert', rootPem, '--resolve', `${host}:${ngx.port}:127.0.0.1`, `https://${host}:${ngx.port}/`]);
    assert.equal(ok.code, 0, `curl: ${ok.stderr}\nnginx: ${await ngx.log()}`);
    assert.equal(ok.stdout, 'tlsward nginx fixture\n');
    // A name the certificate does not carry fails verification: curl really checked it.
    const other = `other.${t.zone.name}`;
    const bad = await run('curl', ['-sS', '--max-time', '10', '--cacert', rootPem, '--resolve', `${other}:${ngx.port}:127.0.0.1`, `https://${other}:${ngx.port}/`]);
    assert.equal(bad.code, 60, `curl to a name not in the certificate: ${bad.stderr}`);

    // The certificate nginx presents is the pack's primary (ECDSA) one.
    const peer = await new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: ngx.port, servername: host, ca: ca.text }, () => {
        const c = sock.getPeerX509Certificate();
        sock.end();
        resolve(c);
      });
      sock.on('error', reject);
    });
    const deployed = new X509Certificate(await fs.readFile(path.join(dir, 'deploy', t.zone.id, ordered.id, 'ecdsa.crt'), 'utf8'));
    assert.equal(peer.fingerprint256, deployed.fingerprint256);
    assert.equal(peer.serialNumber.toLowerCase(), deployed.serialNumber.toLowerCase());
    assert.ok(active.certificates.some((c) => c.signature === 'ECDSAWithSHA256'));
    await ngx.stop();
  });

  test('tlsward worker --http-challenge-listen: the responder runs in the worker process next to a serve --no-worker, from the shared store', async () => {
    await dns.set({ domains: DOMAINS });
    const port = await freeTcpPort();
    const server = await startServer(dir, ['--no-worker', '--dcv-mode', 'check']);
    servers.push(server);
    const worker = await startWorker(dir, [
      '--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-allow-private',
      '--dcv-http-port', String(port), '--http-challenge-listen', `127.0.0.1:${port}`, '--worker-interval', '200ms',
    ]);
    servers.push(worker);
    await waitForStderr(worker, new RegExp(`challenge responder listening on http://127\\.0\\.0\\.1:${port}\\b`));
    const t = await freshTenant(server, dir, root, 'wk');
    const { pack, records } = await orderPendingHttp(server, t);
    for (const r of records) assert.equal((await fetchLocal(port, `${CHALLENGE}${r.token}`)).text, r.http_body);
    await resolveHostsAndRetry(server, dns, t);
    await waitPackStatus(server, t.token, t.zone.id, pack.id, 'active');
    for (const r of records) assert.equal((await fetchLocal(port, `${CHALLENGE}${r.token}`)).status, 404);
  });

  test('bad --webroot / --http-challenge-listen values are user errors naming the flag', async () => {
    const missing = path.join(root, 'no-such-dir');
    const r1 = await runCli(['serve', '--data', dir, '--webroot', missing]);
    assertUserError(r1, '--webroot of a missing directory');
    assert.match(r1.stderr, /--webroot .*not an existing directory/);
    const file = path.join(root, 'a-file');
    await fs.writeFile(file, 'x');
    assertUserError(await runCli(['worker', '--data', dir, '--webroot', file]), '--webroot of a file');
    const r2 = await runCli(['serve', '--data', dir, '--http-challenge-listen', 'nonsense']);
    assertUserError(r2, '--http-challenge-listen without a port');
    assert.match(r2.stderr, /--http-challenge-listen nonsense: expected ADDR:PORT/);
  });
});
