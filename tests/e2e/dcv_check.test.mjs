// Real domain-control validation (SPEC §4.3 "Validation", §4.4): a server in `--dcv-mode
// check` against dnsmasq (TXT, A and CAA records from its configuration, restarted on the same
// port to change them) and a small node HTTP server standing in for the hosts' port 80. TXT and
// HTTP validation stay pending with precise validation_errors while the records are missing or
// wrong and complete once they are right (`GET /ssl/verification?retry=true` re-checks now); a
// CAA record forbidding the CA blocks issuance; `--validation-timeout` times a pack out and
// PATCH restarts it with fresh values. Durability: packs mid-validation survive kill -9 and
// complete after a restart in auto mode.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import {
  HEX32,
  assertErr,
  assertNames,
  assertOk,
  createAccount,
  createToken,
  createZoneRaw,
  killServer,
  makeInitialisedDir,
  sleep,
  startDnsmasq,
  startServer,
  stopServerExpectClean,
  tokenClient,
  v4,
  waitFor,
  getPack,
  orderPath,
  packsPath,
  pollPack,
  waitPackStatus,
  stopAllClean,
} from './harness.mjs';

const B64URL43 = /^[A-Za-z0-9_-]{43}$/;
const DEPLOY_FILES = ['ecdsa.crt', 'ecdsa.key', 'rsa.crt', 'rsa.key'];
/** Bounded polls of the worker's transitions: ≤ 15 s. */
const HEAVY = { timeout: 300_000 };
/** The domains dnsmasq answers for (NXDOMAIN for unknown names rather than REFUSED; the
 * harness adds their TLDs, which a CAA lookup climbs up to). */
const DOMAINS = ['example.com', 'example.net', 'example.org'];

// ------------------------------------------------------------------------------------------
// Helpers

const verificationPath = (zoneId, id) => `/zones/${zoneId}/ssl/verification${id ? `/${id}` : ''}`;


async function orderOk(server, token, zoneId, body, what = 'order') {
  const p = assertOk(await v4(server, 'POST', orderPath(zoneId), { token, json: body }), what);
  assert.match(p.id, HEX32);
  assert.equal(p.status, 'initializing');
  return p;
}

const orderBody = (hosts, extra = {}) => ({
  certificate_authority: 'google',
  hosts,
  type: 'advanced',
  validation_method: 'txt',
  validity_days: 90,
  ...extra,
});


const waitStatus = waitPackStatus;

/** Waits until the pack is pending_validation with exactly these validation_errors messages. */
async function waitErrors(server, token, zoneId, id, messages, what) {
  const { pack } = await pollPack(
    server,
    token,
    zoneId,
    id,
    (p) => p.status === 'pending_validation' && JSON.stringify(p.validation_errors) === JSON.stringify(messages.map((message) => ({ message }))),
    `${what}: validation_errors ${JSON.stringify(messages)}`,
  );
  return pack;
}

/**
 * Waits until the pack is pending_validation with `field` set: 'validation_records' once its
 * values exist, 'validation_errors' once it has been checked.
 */
async function waitPending(server, token, zoneId, id, field, what = `${field} of ${id}`) {
  const { pack } = await pollPack(server, token, zoneId, id, (p) => p.status === 'pending_validation' && p[field], what);
  return pack;
}

/** Orders a pack (orderOk) and waits for it as waitPending does; returns both views. */
async function orderPending(server, token, zoneId, body, field, what) {
  const ordered = await orderOk(server, token, zoneId, body);
  return { ordered, pending: await waitPending(server, token, zoneId, ordered.id, field, what) };
}

/** After 1.5 s more of the worker's checks, the pack is still pending_validation; returns it. */
async function assertStillPending(server, token, zoneId, id, why) {
  await sleep(1500);
  const pack = await getPack(server, token, zoneId, id);
  assert.equal(pack.status, 'pending_validation', why);
  return pack;
}

/** GET /ssl/verification?retry=true (asserting success): the server re-checks pending packs now. */
async function retryNow(server, token, zoneId) {
  return assertOk(await v4(server, 'GET', `${verificationPath(zoneId)}?retry=true`, { token }), 'verification ?retry=true');
}

/** The SANs of the deployed ECDSA leaf of a pack (DATA/deploy/<zone id>/<id>/ecdsa.crt). */
async function deployedSans(dir, zoneId, packId) {
  const live = path.join(dir, 'deploy', zoneId, packId);
  assert.deepEqual((await fs.readdir(live)).sort(), DEPLOY_FILES, `deployed files of ${packId}`);
  const sans = [];
  for (const kind of ['ecdsa', 'rsa']) {
    const leaf = new X509Certificate(await fs.readFile(path.join(live, `${kind}.crt`), 'utf8'));
    sans.push(leaf.subjectAltName.split(', ').map((x) => x.replace(/^DNS:/, '')));
  }
  assert.deepEqual(sans[0], sans[1], 'both leaves carry the same names');
  return sans[0];
}

/** An active pack: no records left, two certificates, deployed with SANs = hosts. */
async function assertIssued(dir, zone, pack) {
  assert.equal(pack.status, 'active');
  assert.ok(!pack.validation_records || pack.validation_records.length === 0, `records gone once active: ${JSON.stringify(pack.validation_records)}`);
  assert.ok(!pack.validation_errors || pack.validation_errors.length === 0, `no errors once active: ${JSON.stringify(pack.validation_errors)}`);
  assert.deepEqual(pack.certificates.map((c) => [c.priority, c.signature]), [[1, 'ECDSAWithSHA256'], [2, 'SHA256WithRSA']]);
  assert.equal(pack.primary_certificate, pack.certificates[0].id);
  assert.deepEqual(await deployedSans(dir, zone.id, pack.id), pack.hosts, 'SANs are the hosts');
}

/**
 * The hosts' "port 80": answers GET /.well-known/acme-challenge/<token> from `routes`
 * (path → body; anything else 404) and records every request's Host header and path.
 */
async function startChallengeServer() {
  const routes = new Map();
  const requests = [];
  const srv = http.createServer((req, res) => {
    requests.push({ host: req.headers.host, path: req.url, method: req.method });
    const body = routes.get(req.url);
    if (req.method === 'GET' && body !== undefined) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(body);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: srv.address().port,
    routes,
    requests,
    close: () => new Promise((resolve) => {
      srv.closeAllConnections?.();
      srv.close(() => resolve());
    }),
  };
}


// ------------------------------------------------------------------------------------------

describe('DCV in check mode (dnsmasq + HTTP challenge server)', () => {
  let root;
  let dir;
  let creds;
  let dns;
  let web;
  let server;
  /** What dnsmasq serves; tests edit it and call publish(). */
  const records = { domains: DOMAINS, txt: {}, hosts: {}, caa: [] };
  const publish = () => dns.set(records);

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    dns = await startDnsmasq(path.join(root, 'dns'), records);
    web = await startChallengeServer();
    // The challenge server is on 127.0.0.1: HTTP DCV may go there only with --dcv-allow-private.
    server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-http-port', String(web.port), '--dcv-allow-private']);
  });

  after(async () => {
    try {
      await stopAllClean([server]);
    } finally {
      await web?.close();
      await dns?.stop();
    }
  });

  test('TXT for example.com: pending with errors naming _acme-challenge.<host> while records are missing or wrong; right values (beside stale ones) + ?retry=true → active', async () => {
    const { token, account_id: accountId } = creds;
    const zone = await createZoneRaw(server, token, 'example.com', accountId);
    const { ordered, pending } = await orderPending(server, token, zone.id, orderBody(['example.com', '*.example.com', 'www.example.com']), 'validation_errors', 'first check');
    const recs = pending.validation_records;
    assert.deepEqual(recs.map((r) => r.txt_name), ['_acme-challenge.example.com', '_acme-challenge.example.com', '_acme-challenge.www.example.com']);
    for (const r of recs) {
      assert.match(r.txt_value, B64URL43);
      assert.equal(r.status, 'pending');
    }
    assert.deepEqual(pending.validation_errors, [
      { message: 'no TXT records at _acme-challenge.example.com' },
      { message: 'no TXT records at _acme-challenge.example.com' },
      { message: 'no TXT records at _acme-challenge.www.example.com' },
    ]);
    const entry = (await retryNow(server, token, zone.id)).find((e) => e.cert_pack_uuid === ordered.id);
    assert.equal(entry.certificate_status, 'authorizing');
    assert.equal(entry.verification_status, false);
    assert.deepEqual(entry.verification_info, { record_name: '_acme-challenge.example.com', record_target: recs[0].txt_value });

    // Wrong values: the errors say what was seen.
    records.txt = { '_acme-challenge.example.com': ['wrong-value'], '_acme-challenge.www.example.com': ['stale'] };
    await publish();
    await retryNow(server, token, zone.id);
    await waitErrors(server, token, zone.id, ordered.id, [
      'TXT record not found at _acme-challenge.example.com; saw "wrong-value"',
      'TXT record not found at _acme-challenge.example.com; saw "wrong-value"',
      'TXT record not found at _acme-challenge.www.example.com; saw "stale"',
    ], 'wrong values');

    // The apex and its wildcard right (two values at one name, beside a stale one); www still wrong.
    records.txt = { '_acme-challenge.example.com': ['wrong-value', recs[0].txt_value, recs[1].txt_value], '_acme-challenge.www.example.com': ['stale'] };
    await publish();
    await retryNow(server, token, zone.id);
    const partial = await waitErrors(server, token, zone.id, ordered.id, ['TXT record not found at _acme-challenge.www.example.com; saw "stale"'], 'www still wrong');
    assert.deepEqual(partial.validation_records.map((r) => r.status), ['active', 'active', 'pending'], 'record statuses follow the checks');
    assert.deepEqual(partial.validation_records.map((r) => r.txt_value), recs.map((r) => r.txt_value), 'values unchanged');
    await assertStillPending(server, token, zone.id, ordered.id, 'one missing record keeps the pack pending');

    // Everything right (the stale www value may stay): active.
    records.txt['_acme-challenge.www.example.com'] = ['stale', recs[2].txt_value];
    await publish();
    await retryNow(server, token, zone.id);
    const { pack: active, seen } = await pollPack(server, token, zone.id, ordered.id, (p) => p.status === 'active', 'active after publishing');
    assert.ok(seen.every((s) => ['pending_validation', 'pending_issuance', 'pending_deployment', 'active'].includes(s)), seen.join(' → '));
    await assertIssued(dir, zone, active);
    const after = (await retryNow(server, token, zone.id)).find((e) => e.cert_pack_uuid === ordered.id);
    assert.equal(after.certificate_status, 'active');
    assert.equal(after.verification_status, true);

    // The zone's universal pack has its own values, which nobody published: still pending.
    const { result: all } = await tokenClient(server, token).ssl.certificatePacks.list({ zone_id: zone.id, status: 'all' });
    const universal = all.find((p) => p.type === 'universal');
    assert.equal(universal.status, 'pending_validation');
    const published = records.txt['_acme-challenge.example.com'];
    for (const r of universal.validation_records) assert.ok(!published.includes(r.txt_value), 'the universal pack has its own values');
    // Its re-check (asked by the retries above) may still be running on another worker
    // thread: wait for it to see what is published now.
    const saw = `TXT record not found at _acme-challenge.example.com; saw ${published.map((v) => `"${v}"`).sort().join(', ')}`;
    await waitErrors(server, token, zone.id, universal.id, [saw, saw], 'universal pack checked against the published values');
  });

  test('HTTP for example.com (another account): 404, then a wrong body, keep it pending with errors naming the URL; the right bodies + ?retry=true → active; the checks came to <host>:<--dcv-http-port>', async () => {
    const account = await createAccount(dir, 'http-dcv');
    const { token } = await createToken(dir, account.id, ['zone:write', 'ssl:write']);
    records.hosts = { 'example.com': '127.0.0.1', 'www.example.com': '127.0.0.1' };
    await publish();
    const zone = await createZoneRaw(server, token, 'example.com', account.id);
    const { ordered, pending } = await orderPending(server, token, zone.id, orderBody(['example.com', 'www.example.com'], { certificate_authority: 'lets_encrypt', validation_method: 'http' }), 'validation_errors', 'first check');
    const recs = pending.validation_records;
    const urls = recs.map((r) => r.http_url);
    const tokens = urls.map((u, i) => {
      const host = ['example.com', 'www.example.com'][i];
      const m = new RegExp(`^http://${host.replace(/\./g, '\\.')}/\\.well-known/acme-challenge/([A-Za-z0-9_-]{43})$`).exec(u);
      assert.ok(m, `http_url of ${host}: ${u}`);
      assert.match(recs[i].http_body, new RegExp(`^${m[1]}\\.[A-Za-z0-9_-]{43}$`));
      return m[1];
    });
    assert.deepEqual(pending.validation_errors, urls.map((u) => ({ message: `HTTP check of ${u} got 404` })));
    const entry = (await retryNow(server, token, zone.id)).find((e) => e.cert_pack_uuid === ordered.id);
    assert.deepEqual(entry.verification_info, { record_name: urls[0], record_target: recs[0].http_body });
    assert.equal(entry.validation_method, 'http');

    const challenge = (t) => `/.well-known/acme-challenge/${t}`;
    web.routes.set(challenge(tokens[0]), 'not-the-key-authorization');
    web.routes.set(challenge(tokens[1]), recs[1].http_body);
    await retryNow(server, token, zone.id);
    const partial = await waitErrors(server, token, zone.id, ordered.id, [`HTTP check of ${urls[0]} body did not match`], 'wrong apex body');
    assert.deepEqual(partial.validation_records.map((r) => r.status), ['pending', 'active']);

    web.routes.set(challenge(tokens[0]), `${recs[0].http_body}\n`);
    await retryNow(server, token, zone.id);
    const active = await waitStatus(server, token, zone.id, ordered.id, 'active');
    await assertIssued(dir, zone, active);

    for (const [i, host] of ['example.com', 'www.example.com'].entries()) {
      const hits = web.requests.filter((r) => r.path === challenge(tokens[i]));
      assert.ok(hits.length >= 2, `${host} was checked more than once (${hits.length})`);
      for (const h of hits) {
        assert.equal(h.method, 'GET');
        assert.equal(h.host, `${host}:${web.port}`, 'resolved through the DNS fixture, sent to --dcv-http-port');
      }
    }
  });

  test('CAA at example.org forbidding the CA (0 issue "digicert.com") keeps a validated pack pending with errors naming CAA; allowing it → active', async () => {
    const { token, account_id: accountId } = creds;
    records.caa = [['example.org', 0, 'issue', 'digicert.com']];
    await publish();
    const zone = await createZoneRaw(server, token, 'example.org', accountId);
    const { ordered, pending } = await orderPending(server, token, zone.id, orderBody(['example.org', 'www.example.org'], { certificate_authority: 'lets_encrypt' }), 'validation_records', 'records');
    const recs = pending.validation_records;
    records.txt['_acme-challenge.example.org'] = [recs[0].txt_value];
    records.txt['_acme-challenge.www.example.org'] = [recs[1].txt_value];
    await publish();
    await retryNow(server, token, zone.id);
    const denied = 'CAA record at example.org forbids lets_encrypt (letsencrypt.org, tlsward.local): 0 issue "digicert.com"';
    const blocked = await waitErrors(server, token, zone.id, ordered.id, [denied], 'CAA denial (one message: both hosts climb to the same record)');
    assert.deepEqual(blocked.validation_records.map((r) => r.status), ['active', 'active'], 'the TXT records themselves passed');
    assert.deepEqual(blocked.certificates, [], 'nothing issued');
    await retryNow(server, token, zone.id);
    const still = await assertStillPending(server, token, zone.id, ordered.id, 'CAA keeps it pending');
    for (const e of still.validation_errors) assertNames([e], 'CAA');

    records.caa = [['example.org', 0, 'issue', 'letsencrypt.org']];
    await publish();
    await retryNow(server, token, zone.id);
    const active = await waitStatus(server, token, zone.id, ordered.id, 'active');
    await assertIssued(dir, zone, active);
  });
});

describe('validation timeout (--validation-timeout 3s) and restart', () => {
  let root;
  let dir;
  let creds;
  let dns;
  let server;

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    dns = await startDnsmasq(path.join(root, 'dns'), { domains: DOMAINS });
    server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--validation-timeout', '3s']);
  });

  after(async () => {
    try {
      await stopAllClean([server]);
    } finally {
      await dns?.stop();
    }
  });

  test('a pack without its TXT records times out (validation_timed_out, verification timing_out); PATCH restarts it with new values (pending_validation, authorizing); it times out again 3 s later; a method switch restarts it too', async () => {
    const { token, account_id: accountId } = creds;
    const client = tokenClient(server, token);
    const zone = await createZoneRaw(server, token, 'example.net', accountId);
    const { ordered, pending } = await orderPending(server, token, zone.id, orderBody(['example.net', '*.example.net']), 'validation_records', 'records');
    const oldValues = pending.validation_records.map((r) => r.txt_value);
    const t0 = Date.now();
    const { pack: timedOut, seen } = await pollPack(server, token, zone.id, ordered.id, (p) => p.status === 'validation_timed_out', 'validation_timed_out');
    assert.deepEqual(seen.slice(-2), ['pending_validation', 'validation_timed_out']);
    assert.deepEqual(timedOut.certificates, []);
    const entry = (await client.ssl.verification.get({ zone_id: zone.id })).find((e) => e.cert_pack_uuid === ordered.id);
    assert.equal(entry.certificate_status, 'timing_out');
    assert.equal(entry.verification_status, false);
    // A timed-out pack is not re-checked by ?retry=true.
    await client.ssl.verification.get({ zone_id: zone.id, retry: true });
    await sleep(500);
    assert.equal((await getPack(server, token, zone.id, ordered.id)).status, 'validation_timed_out');
    assert.ok(Date.now() - t0 < 15_000);

    // PATCH restarts validation with fresh values.
    const restarted = await client.ssl.certificatePacks.edit(ordered.id, { zone_id: zone.id });
    const tRestart = Date.now();
    assert.equal(restarted.id, ordered.id);
    assert.equal(restarted.status, 'pending_validation');
    assert.deepEqual(restarted.validation_records.map((r) => r.txt_name), ['_acme-challenge.example.net', '_acme-challenge.example.net']);
    for (const r of restarted.validation_records) {
      assert.match(r.txt_value, B64URL43);
      assert.ok(!oldValues.includes(r.txt_value), 'new TXT values');
      assert.equal(r.status, 'pending');
    }
    assert.ok(!restarted.validation_errors || restarted.validation_errors.length === 0, 'errors cleared by the restart');
    assert.deepEqual(await getPack(server, token, zone.id, ordered.id).then((p) => p.validation_records.map((r) => r.txt_value)), restarted.validation_records.map((r) => r.txt_value));
    const again = (await client.ssl.verification.get({ zone_id: zone.id })).find((e) => e.cert_pack_uuid === ordered.id);
    assert.equal(again.certificate_status, 'authorizing');
    // A second restart while pending → 1406.
    const errors = assertErr(await v4(server, 'PATCH', packsPath(zone.id, ordered.id), { token, json: {} }), 400, [1406], 'restart while pending');
    assertNames(errors, 'pending_validation');

    // The timeout runs again from the restart.
    await waitStatus(server, token, zone.id, ordered.id, 'validation_timed_out');
    assert.ok(Date.now() - tRestart >= 2_500, `timed out again ${Date.now() - tRestart} ms after the restart (timeout 3 s)`);

    // verification PATCH on a timed-out pack switches the method and restarts validation.
    assert.deepEqual(await client.ssl.verification.edit(ordered.id, { zone_id: zone.id, validation_method: 'txt' }), { status: 'pending_validation', validation_method: 'txt' });
    const switched = await getPack(server, token, zone.id, ordered.id);
    assert.equal(switched.status, 'pending_validation');
    for (const r of switched.validation_records) assert.ok(!restarted.validation_records.some((x) => x.txt_value === r.txt_value), 'fresh values');
  });
});

describe('durability: packs mid-validation survive kill -9', () => {
  test('6 packs ordered on a check-mode server whose DNS has no records; SIGKILL; restarted in auto mode every pack (and the universal one) completes to active', HEAVY, async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const dns = await startDnsmasq(path.join(root, 'dns'), { domains: DOMAINS });
    const servers = [];
    t.after(async () => {
      try {
        await stopAllClean(servers);
      } finally {
        await dns.stop();
      }
    });
    const { token, account_id: accountId } = creds;
    const s1 = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-http-port', '9']);
    servers.push(s1);
    const zone = await createZoneRaw(s1, token, 'durable.example.com', accountId);
    const z = zone.name;
    const bodies = [
      orderBody([z, `*.${z}`]),
      orderBody([z, `www.${z}`], { validity_days: 14 }),
      orderBody([z, `api.${z}`], { certificate_authority: 'lets_encrypt', validation_method: 'http' }),
      orderBody([z], { certificate_authority: 'ssl_com', validation_method: 'email', validity_days: 365 }),
      orderBody([z, `a.${z}`, `b.${z}`, `*.b.${z}`], { certificate_authority: 'ssl_com', validity_days: 30 }),
    ];
    const packs = [];
    for (const b of bodies) packs.push(await orderOk(s1, token, zone.id, b));
    // Mid-lifecycle: each has its records and has failed at least one check.
    for (const p of packs) {
      const pack = await waitPending(s1, token, zone.id, p.id, 'validation_errors', `pack ${p.id} checked once`);
      assert.ok(pack.validation_errors.length > 0);
    }
    const universal = (await tokenClient(s1, token).ssl.certificatePacks.list({ zone_id: zone.id, status: 'all' })).result.find((p) => p.type === 'universal');
    // One more, acknowledged just before the kill (may still be initializing).
    packs.push(await orderOk(s1, token, zone.id, orderBody([z, `last.${z}`])));
    // Kill while the worker is busy: re-check everything now, then SIGKILL at once.
    await retryNow(s1, token, zone.id);
    await killServer(s1);
    assert.equal(s1.exitInfo.signal, 'SIGKILL');

    const s2 = await startServer(dir);
    servers.push(s2);
    for (const p of [universal, ...packs]) {
      const active = await waitStatus(s2, token, zone.id, p.id, 'active');
      assert.deepEqual(active.hosts, p.hosts, 'the pack is the one ordered');
      assert.equal(active.validation_method, p.validation_method);
      assert.equal(active.certificate_authority, p.certificate_authority);
      assert.equal(active.validity_days, p.validity_days);
      await assertIssued(dir, zone, active);
    }
    const { result } = await tokenClient(s2, token).ssl.certificatePacks.list({ zone_id: zone.id, status: 'all', per_page: 50 });
    assert.deepEqual(result.map((p) => p.id), [universal.id, ...packs.map((p) => p.id)], 'every acknowledged order, nothing else');
    assert.deepEqual(assertOk(await v4(s2, 'GET', `/zones/${zone.id}/ssl/certificate_packs/quota`, { token })), { advanced: { allocated: 50, used: 6 } });
  });
});

describe('HTTP DCV address guard (SSRF): no --dcv-allow-private', () => {
  let root;
  let dir;
  let creds;
  let dns;
  let web;
  let server;

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    dns = await startDnsmasq(path.join(root, 'dns'), { domains: DOMAINS, hosts: { 'example.com': '127.0.0.1', 'www.example.com': '127.0.0.1' } });
    web = await startChallengeServer();
    server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-http-port', String(web.port)]);
  });

  after(async () => {
    try {
      await stopAllClean([server]);
    } finally {
      await web?.close();
      await dns?.stop();
    }
  });

  test('an http pack whose hosts resolve to 127.0.0.1 fails with a message naming host and address, even with the right bodies served; nothing is fetched', async () => {
    const { token, account_id: accountId } = creds;
    const zone = await createZoneRaw(server, token, 'example.com', accountId);
    const { ordered, pending } = await orderPending(server, token, zone.id, orderBody(['example.com', 'www.example.com'], { certificate_authority: 'lets_encrypt', validation_method: 'http' }), 'validation_errors', 'first check');
    // Serve the right answers: only the guard stands between the check and success.
    for (const r of pending.validation_records) web.routes.set(new URL(r.http_url).pathname, r.http_body);
    await retryNow(server, token, zone.id);
    const pack = await assertStillPending(server, token, zone.id, ordered.id);
    assert.deepEqual(
      pack.validation_errors,
      pending.validation_records.map((r) => ({
        message: `HTTP check of ${r.http_url} refused to connect to 127.0.0.1 (loopback address of ${new URL(r.http_url).hostname}); --dcv-allow-private allows non-public addresses`,
      })),
    );
    assert.deepEqual(web.requests, [], 'no request reached the loopback server');
  });
});

describe('serve without --dcv-mode runs in check mode', () => {
  test('a txt pack with no records published stays pending_validation with errors instead of going active', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const dns = await startDnsmasq(path.join(root, 'dns'), { domains: DOMAINS });
    const servers = [];
    t.after(async () => {
      try {
        await stopAllClean(servers);
      } finally {
        await dns.stop();
      }
    });
    // serveDefaults: the harness adds no --dcv-mode of its own.
    const server = await startServer(dir, ['--dns-resolver', dns.address], { serveDefaults: true });
    servers.push(server);
    assert.ok(!server.proc.spawnargs.includes('--dcv-mode'), `started without --dcv-mode: ${server.proc.spawnargs.join(' ')}`);
    const { token, account_id: accountId } = creds;
    const zone = await createZoneRaw(server, token, 'example.org', accountId);
    const { ordered, pending: pack } = await orderPending(server, token, zone.id, orderBody(['example.org', 'www.example.org']), 'validation_errors', 'checked once');
    assert.deepEqual(pack.validation_errors, [
      { message: 'no TXT records at _acme-challenge.example.org' },
      { message: 'no TXT records at _acme-challenge.www.example.org' },
    ]);
    await retryNow(server, token, zone.id);
    const later = await assertStillPending(server, token, zone.id, ordered.id, 'never issued without validation');
    assert.deepEqual(later.certificates ?? [], []);
  });
});
