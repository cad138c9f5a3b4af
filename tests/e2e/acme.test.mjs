// Packs of a CA with --acme-directory are issued by that ACME upstream (SPEC §5), here a
// real Pebble started by the test: real dns-01 values in validation_records, tlsward's own
// check before the challenge is answered (check mode), both certificates chaining to
// Pebble's root and deployed as sent, a resumed order after kill -9, back-off while Pebble
// is frozen, re-registration after Pebble forgot everything, revocation on DELETE, EAB, and
// the order-time rules (no e-mail through ACME; a CA without a directory keeps the
// built-in CA).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  cleanup,
  expectSdkError,
  killServer,
  makeInitialisedDir,
  request,
  runCli,
  sleep,
  startDnsmasq,
  startPebble,
  startServer,
  stopServerExpectClean,
  tokenClient,
  waitFor,
} from './harness.mjs';

const roots = [];
after(async () => {
  for (const r of roots) await cleanup(r);
});

async function setup() {
  const init = await makeInitialisedDir();
  roots.push(init.root);
  return init;
}

const acmeArgs = (pebble, ca = 'lets_encrypt') => [
  '--acme-directory',
  `${ca}=${pebble.directory}`,
  '--acme-ca-file',
  pebble.caFile,
  '--acme-contact',
  'mailto:ops@example.com',
  '--worker-interval',
  '200ms',
];

async function getPack(cf, zoneId, id) {
  return cf.ssl.certificatePacks.get(id, { zone_id: zoneId });
}

async function waitStatus(cf, zoneId, id, status, timeout = 60_000, server = null) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = await getPack(cf, zoneId, id);
        return last.status === status ? last : null;
      },
      { timeout, interval: 100, what: `pack ${id} ${status}` },
    );
  } catch (e) {
    e.message += `; last seen: ${JSON.stringify(last)}${server ? `; log:\n${server.stderr().split("\n").filter((l) => !/ request /.test(l)).join("\n").slice(-5000)}` : ''}`;
    throw e;
  }
}

function opensslVerify(rootFile, chainFile) {
  return new Promise((resolve) => {
    execFile('openssl', ['verify', '-CAfile', rootFile, '-untrusted', chainFile, chainFile], (err, stdout, stderr) =>
      resolve({ ok: !err, out: stdout + stderr }),
    );
  });
}

/** Every PEM certificate of a text. */
const pems = (text) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

/** Checks the pack's deployed pairs against Pebble's root; returns the leaves. */
async function checkDeployed(dir, zoneId, pack, pebble, workDir) {
  const base = path.join(dir, 'deploy', zoneId, pack.id);
  const rootFile = path.join(workDir, `root-${pack.id}.pem`);
  const pebbleRoot = await pebble.root();
  await fs.writeFile(rootFile, pebbleRoot);
  const leaves = [];
  for (const kind of ['ecdsa', 'rsa']) {
    const crt = path.join(base, `${kind}.crt`);
    const chain = await fs.readFile(crt, 'utf8');
    const certs = pems(chain);
    assert.ok(certs.length >= 2, `${kind}.crt holds the leaf and the intermediate(s) (got ${certs.length})`);
    assert.ok(!certs.includes(pems(pebbleRoot)[0]), `${kind}.crt has no root`);
    const v = await opensslVerify(rootFile, crt);
    assert.ok(v.ok, `${kind}.crt chains to Pebble's root: ${v.out}`);
    const leaf = new X509Certificate(certs[0]);
    const key = await fs.readFile(path.join(base, `${kind}.key`), 'utf8');
    const spki = (k) => k.export({ type: 'spki', format: 'der' }).toString('hex');
    assert.equal(spki(createPublicKey(createPrivateKey(key))), spki(leaf.publicKey), `${kind}.key matches`);
    assert.equal(leaf.publicKey.asymmetricKeyType, kind === 'ecdsa' ? 'ec' : 'rsa');
    leaves.push(leaf);
  }
  const issuerCn = /CN=([^\n]+)/.exec(leaves[0].issuer)[1];
  assert.match(issuerCn, /^Pebble Intermediate CA/);
  for (const c of pack.certificates) assert.equal(c.issuer, issuerCn, 'issuer is the leaf issuer CN');
  assert.deepEqual(
    pack.certificates.map((c) => c.signature),
    ['ECDSAWithSHA256', 'SHA256WithRSA'],
  );
  return leaves;
}

describe('ACME packs against a real Pebble', () => {
  test('check mode: real dns-01 values, nothing answered before the record is seen, kill -9 resumes the same order, active, deployed, revoked on DELETE', async () => {
    const init = await setup();
    const work = path.join(init.root, 'pebble');
    const dns = await startDnsmasq(path.join(init.root, 'dns'), { domains: ['acme1.test'] });
    // Pebble's VA really checks here, through the same DNS server.
    // PEBBLE_AUTHZREUSE: the RSA order reuses the authorizations the ECDSA one validated, as
    // Let's Encrypt does for an account.
    const pebble = await startPebble(work, { alwaysValid: false, dnsServer: dns.address, env: { PEBBLE_AUTHZREUSE: '100' } });
    const args = [...acmeArgs(pebble), '--dcv-mode', 'check', '--dns-resolver', dns.address];
    let server = await startServer(init.dir, args);
    let cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acme1.test', account: { id: init.creds.account_id } });
    const ordered = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acme1.test', '*.acme1.test'],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 90,
    });
    const pending = await waitFor(
      async () => {
        const p = await getPack(cf, zone.id, ordered.id);
        return p.status === 'pending_validation' && p.validation_errors?.length ? p : null;
      },
      { timeout: 30_000, interval: 100, what: 'pending_validation with its own check failing' },
    );
    const records = pending.validation_records;
    assert.equal(records.length, 2, 'one record per authorization (apex and wildcard)');
    for (const r of records) {
      assert.equal(r.txt_name, '_acme-challenge.acme1.test');
      assert.match(r.txt_value, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(r.status, 'pending');
    }
    assert.notEqual(records[0].txt_value, records[1].txt_value);
    assert.match(pending.validation_errors[0].message, /TXT/);
    const openLine = new RegExp(`pack ${ordered.id}: opened ACME ecdsa order (\\S+)`).exec(server.stderr());
    assert.ok(openLine, `the order was opened: ${server.stderr().slice(-2000)}`);
    const orderUrl = openLine[1];
    assert.doesNotMatch(server.stderr(), /challenge failed|authorization failed/);

    // http → http-01: the URL carries the challenge token, the body is the key
    // authorization (token "." the account key's thumbprint, the same for every order).
    const web = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acme1.test'],
      type: 'advanced',
      validation_method: 'http',
      validity_days: 90,
    });
    const webPending = await waitFor(
      async () => {
        const p = await getPack(cf, zone.id, web.id);
        return p.status === 'pending_validation' && p.validation_errors?.length ? p : null;
      },
      { timeout: 30_000, interval: 100, what: 'the http pack pending' },
    );
    const [rec] = webPending.validation_records;
    const m = /^http:\/\/acme1\.test\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{16,})$/.exec(rec.http_url);
    assert.ok(m, `http_url ${rec.http_url}`);
    assert.match(rec.http_body, new RegExp(`^${m[1]}\\.[A-Za-z0-9_-]{43}$`), 'http_body is token.thumbprint');
    // Switching a pending pack's method (PATCH /ssl/verification) shows the order's
    // http-01 values, not fresh local ones: its key authorization ends with the same account
    // thumbprint as every other record of this account.
    const thumbprint = rec.http_body.split('.')[1];
    const sw = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acme1.test'],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 90,
    });
    await waitStatus(cf, zone.id, sw.id, 'pending_validation', 30_000, server);
    await cf.ssl.verification.edit(sw.id, { zone_id: zone.id, validation_method: 'http' });
    await waitFor(
      async () => {
        const p = await getPack(cf, zone.id, sw.id);
        const body = p.validation_records?.[0]?.http_body;
        return body && body.split('.')[1] === thumbprint;
      },
      { timeout: 30_000, interval: 100, what: 'the switched pack showing its order\'s http-01 key authorization' },
    );
    await cf.ssl.certificatePacks.delete(sw.id, { zone_id: zone.id });
    await cf.ssl.certificatePacks.delete(web.id, { zone_id: zone.id });
    assert.ok(!server.stderr().includes(rec.http_body), 'a key authorization is never logged');

    // kill -9 while the order is pending; the next process resumes the stored order.
    await killServer(server);
    const firstLog = server.stderr().split('\n').filter((l) => / pack /.test(l)).join('\n');
    server = await startServer(init.dir, args);
    cf = tokenClient(server, init.creds.token);
    // Pebble frozen mid-order: the pack says the upstream does not answer, and the same
    // order completes once it is thawed and the real values (which Pebble checks itself)
    // are published.
    pebble.freeze();
    await dns.set({ domains: ['acme1.test'], txt: { '_acme-challenge.acme1.test': records.map((r) => r.txt_value) } });
    await cf.ssl.verification.get({ zone_id: zone.id, retry: true }); // re-check now
    await waitFor(
      async () => /^ACME: .*(Timeout|timed out)/i.test((await getPack(cf, zone.id, ordered.id)).validation_errors?.[0]?.message ?? ''),
      { timeout: 40_000, interval: 200, what: 'the frozen upstream reported on the pack' },
    );
    const frozenTries = (server.stderr().match(new RegExp(`pack ${ordered.id}: ACME \\S+ failed`, 'g')) ?? []).length;
    pebble.thaw();
    assert.ok(frozenTries <= 2, `backed off while frozen (${frozenTries} attempts)`);
    await cf.ssl.verification.get({ zone_id: zone.id, retry: true });
    const active = await waitStatus(cf, zone.id, ordered.id, 'active', 60_000, server);
    assert.ok(server.stderr().includes(`resuming ACME ecdsa order ${orderUrl}`), `the stored order ${orderUrl} is resumed; first process:\n${firstLog}\nsecond:\n${server.stderr().split('\n').filter((l) => / pack /.test(l)).join('\n')}`);
    assert.ok(!server.stderr().includes(`pack ${ordered.id}: opened ACME ecdsa order`), 'no new ECDSA order after the restart');
    const leaves = await checkDeployed(init.dir, zone.id, active, pebble, work);
    assert.ok(leaves[0].subjectAltName.includes('DNS:*.acme1.test'));

    // DELETE revokes both certificates upstream (and does not wait for it).
    await cf.ssl.certificatePacks.delete(ordered.id, { zone_id: zone.id });
    for (const leaf of leaves) {
      await waitFor(
        async () => (await pebble.certStatus(leaf.serialNumber)).Status === 'Revoked',
        { timeout: 30_000, interval: 200, what: `serial ${leaf.serialNumber} revoked at Pebble` },
      );
    }
    await stopServerExpectClean(server);
    assert.doesNotMatch(server.stderr(), /BEGIN (EC )?PRIVATE KEY/);
    for (const r of records) assert.ok(!server.stderr().includes(r.txt_value), 'no challenge value in the log');
  });

  test('auto mode: active through Pebble; e-mail refused for an ACME CA; a CA without a directory keeps the built-in CA; frozen and restarted Pebble', async () => {
    const init = await setup();
    const work = path.join(init.root, 'pebble');
    const pebble = await startPebble(work, { env: { PEBBLE_AUTHZREUSE: '100' } });
    const server = await startServer(init.dir, [
      ...acmeArgs(pebble),
      '--acme-directory',
      `ssl_com=${pebble.directory}`,
      '--dcv-mode',
      'auto',
    ]);
    const cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acme2.test', account: { id: init.creds.account_id } });
    const order = (ca, extra = {}) =>
      cf.ssl.certificatePacks.create({
        zone_id: zone.id,
        certificate_authority: ca,
        hosts: ['acme2.test', 'www.acme2.test'],
        type: 'advanced',
        validation_method: 'txt',
        validity_days: 90,
        ...extra,
      });

    const emailErr = await expectSdkError(order('ssl_com', { validation_method: 'email' }), 400, [1004], 'email for ACME');
    assert.match(JSON.stringify(emailErr.errors), /ACME has no e-mail validation method/);

    const le = await order('lets_encrypt');
    const leActive = await waitStatus(cf, zone.id, le.id, 'active');
    await checkDeployed(init.dir, zone.id, leActive, pebble, work);

    const google = await order('google', { validity_days: 30 });
    const local = await waitStatus(cf, zone.id, google.id, 'active');
    assert.doesNotMatch(local.certificates[0].issuer, /Pebble/, 'google has no directory: the built-in CA issues');

    // Frozen mid-order: every call times out (10 s each); tlsward says so in the pack and
    // backs off instead of calling again and again, then completes once thawed.
    pebble.freeze();
    const frozen = await order('lets_encrypt');
    const stuck = await waitFor(
      async () => {
        const p = await getPack(cf, zone.id, frozen.id);
        return p.validation_errors?.length ? p : null;
      },
      { timeout: 40_000, interval: 200, what: 'the frozen upstream reported in validation_errors' },
    );
    assert.notEqual(stuck.status, 'active');
    assert.match(stuck.validation_errors[0].message, /ACME|transport|timed out|timeout/i);
    const tries = (server.stderr().match(new RegExp(`pack ${frozen.id}: ACME \\S+ failed`, 'g')) ?? []).length;
    assert.ok(tries >= 1 && tries <= 3, `a few attempts while frozen, not a loop (${tries})`);
    pebble.thaw();
    const thawed = await waitStatus(cf, zone.id, frozen.id, 'active', 90_000);
    await checkDeployed(init.dir, zone.id, thawed, pebble, work);

    const metrics = (await request(server, 'GET', '/metrics')).text;
    assert.match(metrics, /tlsward_acme_requests_total\{endpoint="newOrder",status="2xx"\} [1-9]/);
    assert.match(metrics, /tlsward_acme_requests_total\{endpoint="finalize",status="2xx"\} [1-9]/);
    assert.match(metrics, /tlsward_acme_requests_total\{endpoint="directory",status="none"\} [1-9]/, 'the frozen calls count as no response');
    assert.match(metrics, /tlsward_acme_orders_total\{outcome="valid"\} [4-9]/);
    assert.match(metrics, /tlsward_acme_issuance_duration_seconds_count [2-9]/);

    // Restarted Pebble forgets the account: tlsward registers again and completes.
    await pebble.restart();
    const again = await order('lets_encrypt');
    const againActive = await waitStatus(cf, zone.id, again.id, 'active', 60_000);
    await checkDeployed(init.dir, zone.id, againActive, pebble, work);
    assert.ok((server.stderr().match(/ACME account \S+ registered/g) ?? []).length >= 2, 'registered again after the restart');
    await stopServerExpectClean(server);
  });

  test('an invalid authorization ends validation with the reason; PATCH restarts with a new order', async () => {
    const init = await setup();
    const dns = await startDnsmasq(path.join(init.root, 'dns'), { domains: ['acme4.test'] });
    // Pebble really checks, and nothing is published: auto mode answers at once and fails.
    const pebble = await startPebble(path.join(init.root, 'pebble'), { alwaysValid: false, dnsServer: dns.address });
    const server = await startServer(init.dir, [...acmeArgs(pebble), '--dcv-mode', 'auto']);
    const cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acme4.test', account: { id: init.creds.account_id } });
    const p = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acme4.test'],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 90,
    });
    const failed = await waitStatus(cf, zone.id, p.id, 'validation_timed_out', 30_000, server);
    assert.match(failed.validation_errors[0].message, /^ACME: .*(DNS|TXT|record|value)/i);
    const opened = () => (server.stderr().match(new RegExp(`pack ${p.id}: opened ACME ecdsa order (\\S+)`, 'g')) ?? []);
    assert.equal(opened().length, 1);
    await cf.ssl.certificatePacks.edit(p.id, { zone_id: zone.id });
    await waitFor(() => opened().length === 2, { timeout: 30_000, interval: 100, what: 'a new order after PATCH' });
    assert.notEqual(opened()[0], opened()[1], 'the restart opened a different order');
    await stopServerExpectClean(server);
  });

  test('EAB required: without --acme-eab the pack says so; with it, active', async () => {
    const init = await setup();
    const work = path.join(init.root, 'pebble');
    const macKey = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
    const pebble = await startPebble(work, { eab: { 'kid-1': macKey } });
    let server = await startServer(init.dir, [...acmeArgs(pebble), '--dcv-mode', 'auto']);
    let cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acme3.test', account: { id: init.creds.account_id } });
    const p = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acme3.test'],
      type: 'advanced',
      validation_method: 'http',
      validity_days: 90,
    });
    const refused = await waitFor(
      async () => {
        const x = await getPack(cf, zone.id, p.id);
        return x.validation_errors?.length ? x : null;
      },
      { timeout: 30_000, interval: 100, what: 'the EAB refusal in validation_errors' },
    );
    assert.match(refused.validation_errors[0].message, /external account/i);
    assert.notEqual(refused.status, 'active');
    await stopServerExpectClean(server);
    assert.doesNotMatch(server.stderr(), new RegExp(macKey));

    server = await startServer(init.dir, [...acmeArgs(pebble), '--acme-eab', `lets_encrypt=kid-1:${macKey}`, '--dcv-mode', 'auto']);
    cf = tokenClient(server, init.creds.token);
    const active = await waitStatus(cf, zone.id, p.id, 'active', 60_000);
    await checkDeployed(init.dir, zone.id, active, pebble, work);
    await stopServerExpectClean(server);
    assert.doesNotMatch(server.stderr(), new RegExp(macKey), 'the MAC key is never logged');
  });

  test('the --acme-* flags are validated and listed in --help', async () => {
    for (const cmd of ['serve', 'worker']) {
      const help = await runCli([cmd, '--help']);
      assert.equal(help.code, 0);
      for (const f of ['--acme-directory', '--acme-eab', '--acme-contact', '--acme-ca-file', '--acme-preferred-chain'])
        assert.ok(help.stdout.includes(f), `${cmd} --help lists ${f}`);
    }
    const init = await setup();
    const bad = [
      [['--acme-directory', 'nope=https://x.test/dir'], /unknown certificate authority/],
      [['--acme-directory', 'lets_encrypt=http://x.test/dir'], /https:\/\//],
      [['--acme-eab', 'lets_encrypt=kid:not*base64'], /base64url/],
      [['--acme-eab', 'lets_encrypt=kid:c2VjcmV0'], /has no --acme-directory/],
      [['--acme-contact', 'ops@example.com'], /mailto:/],
      [['--acme-directory', 'google=https://x.test/dir', '--acme-ca-file', '/nonexistent.pem'], /cannot read/],
      [['--acme-preferred-chain', 'google'], /CA=/],
    ];
    for (const [flags, re] of bad) {
      const r = await runCli(['worker', '--data', init.dir, ...flags]);
      assert.equal(r.code, 1, `${flags.join(' ')} is refused: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /not\*base64|c2VjcmV0/, 'a MAC key is never echoed');
    }
  });
});
