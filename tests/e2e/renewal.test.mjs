// Renewal in place (SPEC §4.3), proven by running the real server with its clock moved
// ahead by libfaketime (Debian package faketime): a 30-day pack renews once two thirds of
// its validity have passed, stays `active` throughout, and serves (API and disk alike) a
// new certificate on a fresh key; a 90-day pack of the same zone is not yet due and keeps
// its certificate. In check mode a renewal first checks the pack's records (the same values
// as at its first validation) and CAA again: a domain whose record went away stops getting
// certificates, and one whose record is back renews.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  cleanup,
  fakeClockEnv,
  makeInitialisedDir,
  startDnsmasq,
  startServer,
  stopServerExpectClean,
  tokenClient,
  waitFor,
} from './harness.mjs';

const DAY_MS = 86_400_000;


async function waitActive(cf, zoneId, packId) {
  return waitFor(
    async () => {
      const pack = await cf.ssl.certificatePacks.get(packId, { zone_id: zoneId });
      return pack.status === 'active' ? pack : null;
    },
    { timeout: 30_000, interval: 100, what: `pack ${packId} active` },
  );
}

/** The deployed ECDSA pair of a pack: the leaf and whether the key belongs to it. */
async function deployed(dir, zoneId, packId) {
  const base = path.join(dir, 'deploy', zoneId, packId);
  const chain = await fs.readFile(path.join(base, 'ecdsa.crt'), 'utf8');
  const key = await fs.readFile(path.join(base, 'ecdsa.key'), 'utf8');
  const leaf = new X509Certificate(chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 25));
  const spki = (k) => k.export({ type: 'spki', format: 'der' }).toString('hex');
  return { leaf, keyMatches: spki(createPublicKey(createPrivateKey(key))) === spki(leaf.publicKey) };
}

describe('renewal under a clock moved ahead (libfaketime, installed by scripts/deps.sh)', () => {
  let root;
  after(async () => cleanup(root));

  test('a 30-day pack renews in place at two thirds of its validity; a 90-day one waits', async () => {
    const init = await makeInitialisedDir();
    root = init.root;
    const dir = init.dir;

    // Issue with the real clock.
    let server = await startServer(dir);
    let cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'renew.example', account: { id: init.creds.account_id } });
    const ordered = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'google',
      hosts: ['renew.example', 'www.renew.example'],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 30,
    });
    const before = await waitActive(cf, zone.id, ordered.id);
    const packs = [];
    for await (const p of cf.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all' })) packs.push(p);
    const universal = packs.find((p) => p.type === 'universal');
    assert.ok(universal, 'the zone has its universal pack');
    const universalBefore = await waitActive(cf, zone.id, universal.id);
    const diskBefore = await deployed(dir, zone.id, ordered.id);
    assert.ok(diskBefore.keyMatches);
    await stopServerExpectClean(server);

    // 25 days later: past 20 days (two thirds of 30), before 60 (two thirds of 90).
    server = await startServer(dir, [], { env: fakeClockEnv('+25d') });
    cf = tokenClient(server, init.creds.token);
    const seen = new Set();
    const after25 = await waitFor(
      async () => {
        const p = await cf.ssl.certificatePacks.get(ordered.id, { zone_id: zone.id });
        seen.add(p.status);
        return p.primary_certificate !== before.primary_certificate ? p : null;
      },
      { timeout: 30_000, interval: 50, what: 'the renewed certificate' },
    );
    assert.deepEqual([...seen], ['active'], 'the pack stays active throughout the renewal');
    assert.equal(after25.status, 'active');
    assert.equal(after25.certificates.length, 2, 'one ECDSA and one RSA certificate, old ones gone');
    assert.deepEqual(after25.certificates.map((c) => c.signature), ['ECDSAWithSHA256', 'SHA256WithRSA']);
    for (const c of after25.certificates)
      assert.ok(!before.certificates.some((o) => o.id === c.id), 'every certificate is new');
    const shift = Date.parse(after25.certificates[0].expires_on) - Date.parse(before.certificates[0].expires_on);
    assert.ok(Math.abs(shift - 25 * DAY_MS) < DAY_MS, `new expiry is ~25 days later (got ${shift / DAY_MS} days)`);

    // The disk serves the new pair, on a fresh key.
    const diskAfter = await deployed(dir, zone.id, ordered.id);
    assert.ok(diskAfter.keyMatches, 'the deployed key belongs to the deployed certificate');
    assert.notEqual(diskAfter.leaf.serialNumber, diskBefore.leaf.serialNumber);
    assert.notEqual(
      diskAfter.leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
      diskBefore.leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
      'renewal uses a fresh key',
    );
    assert.equal(Date.parse(diskAfter.leaf.validTo), Date.parse(after25.certificates[0].expires_on));

    // The 90-day universal pack is not due yet.
    const universalNow = await cf.ssl.certificatePacks.get(universal.id, { zone_id: zone.id });
    assert.equal(universalNow.status, 'active');
    assert.equal(universalNow.primary_certificate, universalBefore.primary_certificate);
    await stopServerExpectClean(server);
  });
});

describe('renewal in check mode re-checks domain control (libfaketime + dnsmasq)', () => {
  let root;
  let dns;
  after(async () => {
    if (dns) await dns.stop();
    await cleanup(root);
  });

  test('a record removed after issuance stops the renewal (old certificate kept, pending_expiration, reason shown); put back, the pack renews', async () => {
    const init = await makeInitialisedDir();
    root = init.root;
    const dir = init.dir;
    const domains = ['recheck.example'];
    dns = await startDnsmasq(path.join(root, 'dns'), { domains });
    const checkArgs = ['--dcv-mode', 'check', '--dns-resolver', dns.address];

    // Validated and issued with the real clock, the TXT record published.
    let server = await startServer(dir, checkArgs);
    let cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'recheck.example', account: { id: init.creds.account_id } });
    const ordered = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'google',
      hosts: ['recheck.example'],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 30,
    });
    const pending = await waitFor(
      async () => {
        const p = await cf.ssl.certificatePacks.get(ordered.id, { zone_id: zone.id });
        return p.status === 'pending_validation' && p.validation_records?.length ? p : null;
      },
      { timeout: 30_000, interval: 100, what: 'the pack pending validation with its record' },
    );
    const record = pending.validation_records[0];
    const published = { domains, txt: { [record.txt_name]: [record.txt_value] } };
    await dns.set(published);
    await cf.ssl.verification.get({ zone_id: zone.id, retry: true });
    const before = await waitActive(cf, zone.id, ordered.id);
    await stopServerExpectClean(server);

    // 25 days later the renewal is due, but the record is gone: no certificate, a reason.
    await dns.set({ domains });
    server = await startServer(dir, checkArgs, { env: fakeClockEnv('+25d') });
    cf = tokenClient(server, init.creds.token);
    const refused = await waitFor(
      async () => {
        const p = await cf.ssl.certificatePacks.get(ordered.id, { zone_id: zone.id });
        return (p.validation_errors ?? []).some((e) => e.message.includes(record.txt_name)) ? p : null;
      },
      { timeout: 30_000, interval: 100, what: 'the failed re-check in validation_errors' },
    );
    // Five days before expiry a failing renewal is reported as pending_expiration; the pack
    // keeps serving its certificate.
    assert.equal(refused.status, 'pending_expiration', 'a failing renewal close to expiry');
    assert.equal(refused.primary_certificate, before.primary_certificate, 'no certificate without validation');

    // The record back: asked to check now, the pack renews on the same record value.
    await dns.set(published);
    await cf.ssl.verification.edit(ordered.id, { zone_id: zone.id });
    const renewed = await waitFor(
      async () => {
        const p = await cf.ssl.certificatePacks.get(ordered.id, { zone_id: zone.id });
        return p.primary_certificate !== before.primary_certificate ? p : null;
      },
      { timeout: 30_000, interval: 100, what: 'the renewed certificate' },
    );
    assert.equal(renewed.status, 'active');
    assert.deepEqual(renewed.validation_errors ?? [], [], 'the reason is cleared once the check passes');
    await stopServerExpectClean(server);
  });
});
