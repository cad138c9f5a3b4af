// ACME packs over time, against a real Pebble: a renewal is a NEW order on a NEW key (the
// server restarted under libfaketime past two thirds of the certificate's validity, read
// from the leaf Pebble issued; Pebble keeps the real clock and really validates each order
// over http-01 through tlsward's responder), the pack staying active throughout; and DELETE /zones/{id} revokes the zone's ACME certificates upstream, as a
// pack's DELETE does. Debian's Pebble 2.4 has no renewalInfo, so the usual two-thirds rule
// decides here, not ARI.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  cleanup,
  expectSdkError,
  fakeClockEnv,
  makeInitialisedDir,
  startDnsmasq,
  startKnot,
  startPebble,
  startServer,
  stopServerExpectClean,
  tokenClient,
  waitFor,
} from './harness.mjs';

const DAY_MS = 86_400_000;


const roots = [];
after(async () => {
  for (const r of roots) await cleanup(r);
});

const acmeArgs = (pebble) => [
  '--acme-directory',
  `lets_encrypt=${pebble.directory}`,
  '--acme-ca-file',
  pebble.caFile,
  '--worker-interval',
  '200ms',
  '--dcv-mode',
  'auto',
];

const pems = (text) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
const spki = (k) => k.export({ type: 'spki', format: 'der' }).toString('hex');

/** The deployed pairs of a pack: { ecdsa, rsa } → { leaf, spki }, each key matching. */
async function deployed(dir, zoneId, packId) {
  const out = {};
  for (const kind of ['ecdsa', 'rsa']) {
    const base = path.join(dir, 'deploy', zoneId, packId);
    const leaf = new X509Certificate(pems(await fs.readFile(path.join(base, `${kind}.crt`), 'utf8'))[0]);
    const key = createPublicKey(createPrivateKey(await fs.readFile(path.join(base, `${kind}.key`), 'utf8')));
    assert.equal(spki(key), spki(leaf.publicKey), `${kind}.key belongs to ${kind}.crt`);
    assert.match(leaf.issuer, /Pebble Intermediate CA/);
    out[kind] = { leaf, spki: spki(leaf.publicKey) };
  }
  return out;
}

async function waitActive(cf, zoneId, id, server) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = await cf.ssl.certificatePacks.get(id, { zone_id: zoneId });
        return last.status === 'active' ? last : null;
      },
      { timeout: 60_000, interval: 100, what: `pack ${id} active` },
    );
  } catch (e) {
    e.message += `; last seen: ${JSON.stringify(last)}; log:\n${server.stderr().slice(-3000)}`;
    throw e;
  }
}

const orderUrls = (log, packId, kind) =>
  [...log.matchAll(new RegExp(`pack ${packId}: opened ACME ${kind} order (\\S+)`, 'g'))].map((m) => m[1]);

describe('ACME renewal and zone deletion against a real Pebble', () => {
  test('renewal past two thirds of the validity: a new order, new keys, new serials, active throughout', async () => {
    const init = await makeInitialisedDir();
    roots.push(init.root);
    // Pebble really validates every order (no authorization reused) over http-01, through
    // tlsward's own responder on Pebble's httpPort: each order of the renewal, and the RSA
    // one opened at issuance, must have its challenges served. Its HTTPS certificate must
    // still be valid for the server whose clock is moved ahead.
    const hosts = { 'acmerenew.test': '127.0.0.1', 'www.acmerenew.test': '127.0.0.1' };
    const dns = await startDnsmasq(path.join(init.root, 'dns'), { domains: ['acmerenew.test'], hosts });
    const pebble = await startPebble(path.join(init.root, 'pebble'), {
      alwaysValid: false,
      dnsServer: dns.address,
      env: { PEBBLE_AUTHZREUSE: '0' },
      tlsDays: 4000,
      config: { certificateValidityPeriod: 90 * 86_400 },
    });
    const args = [...acmeArgs(pebble), '--http-challenge-listen', `127.0.0.1:${pebble.httpPort}`];
    let server = await startServer(init.dir, args);
    let cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acmerenew.test', account: { id: init.creds.account_id } });
    const ordered = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acmerenew.test', 'www.acmerenew.test'],
      type: 'advanced',
      validation_method: 'http',
      validity_days: 90,
    });
    const before = await waitActive(cf, zone.id, ordered.id, server);
    const diskBefore = await deployed(init.dir, zone.id, ordered.id);
    const firstOrders = { ecdsa: orderUrls(server.stderr(), ordered.id, 'ecdsa'), rsa: orderUrls(server.stderr(), ordered.id, 'rsa') };
    assert.equal(firstOrders.ecdsa.length, 1, `one ECDSA order: ${server.stderr().slice(-2000)}`);
    assert.equal(firstOrders.rsa.length, 1, 'one RSA order');
    await stopServerExpectClean(server);

    // Past two thirds of the leaf's own validity, before its end.
    const { leaf } = diskBefore.ecdsa;
    const nb = Date.parse(leaf.validFrom);
    const na = Date.parse(leaf.validTo);
    const offsetDays = Math.ceil((nb + 0.75 * (na - nb) - Date.now()) / DAY_MS);
    assert.ok(Date.now() + offsetDays * DAY_MS < na, `+${offsetDays}d is before notAfter ${leaf.validTo}`);
    server = await startServer(init.dir, args, { env: fakeClockEnv(`+${offsetDays}d`) });
    cf = tokenClient(server, init.creds.token);
    const seen = new Set();
    let after;
    try {
      after = await waitFor(
        async () => {
          const p = await cf.ssl.certificatePacks.get(ordered.id, { zone_id: zone.id });
          seen.add(p.status);
          return p.primary_certificate !== before.primary_certificate ? p : null;
        },
        { timeout: 60_000, interval: 50, what: 'the renewed certificates' },
      );
    } catch (e) {
      e.message += `; log:\n${server.stderr().slice(-3000)}`;
      throw e;
    }
    assert.deepEqual([...seen], ['active'], 'the pack stays active throughout the renewal');
    assert.equal(after.certificates.length, 2);
    for (const c of after.certificates)
      assert.ok(!before.certificates.some((o) => o.id === c.id), 'every certificate is new');

    // Each certificate came from a new order (the stored one was not reused). Pebble's clock
    // is not moved: the renewed certificates are dated by the real clock, so at the moved
    // clock they are due again at once and more renewals may follow; the first is the one
    // that replaced the original certificates.
    const log = server.stderr();
    for (const kind of ['ecdsa', 'rsa']) {
      const now = orderUrls(log, ordered.id, kind);
      assert.ok(now.length >= 1, `a new ${kind} order: ${log.slice(-2000)}`);
      assert.notEqual(now[0], firstOrders[kind][0], `the ${kind} renewal is a new order`);
      assert.ok(!log.includes(`resuming ACME ${kind} order ${firstOrders[kind][0]}`), 'the old order is not resumed');
    }
    const diskAfter = await deployed(init.dir, zone.id, ordered.id);
    for (const kind of ['ecdsa', 'rsa']) {
      assert.notEqual(diskAfter[kind].spki, diskBefore[kind].spki, `${kind}: a new key`);
      assert.notEqual(diskAfter[kind].leaf.serialNumber, diskBefore[kind].leaf.serialNumber, `${kind}: a new serial`);
      assert.equal(
        (await pebble.certStatus(diskAfter[kind].leaf.serialNumber)).Status,
        'Valid',
        `${kind}: Pebble knows the new certificate`,
      );
    }
    assert.equal(after.status, 'active');
    await stopServerExpectClean(server);
    assert.doesNotMatch(server.stderr(), /BEGIN (EC )?PRIVATE KEY/);
  });

  test('dns-01 with --dns-update: the RSA order opened at issuance gets its own TXT records published and withdrawn (Pebble checks each, no authorization reused)', async () => {
    const init = await makeInitialisedDir();
    roots.push(init.root);
    const z = 'acmedns.test';
    const knot = await startKnot(path.join(init.root, 'knot'), [z]);
    const pebble = await startPebble(path.join(init.root, 'pebble'), {
      alwaysValid: false,
      dnsServer: knot.address,
      env: { PEBBLE_AUTHZREUSE: '0' },
    });
    const server = await startServer(init.dir, [
      ...acmeArgs(pebble),
      '--dns-update',
      knot.address,
      '--dns-tsig',
      knot.tsig,
    ]);
    const cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: z, account: { id: init.creds.account_id } });
    const p = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: [z, `www.${z}`],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 90,
    });
    await waitActive(cf, zone.id, p.id, server);
    const d = await deployed(init.dir, zone.id, p.id);
    assert.match(d.rsa.leaf.subjectAltName, /DNS:www\.acmedns\.test/);
    const log = server.stderr();
    assert.equal(orderUrls(log, p.id, 'rsa').length, 1, `the RSA order validated at its first try: ${log.slice(-2000)}`);
    await waitFor(async () => (await knot.txt(`_acme-challenge.${z}`)).length === 0 && (await knot.txt(`_acme-challenge.www.${z}`)).length === 0, {
      timeout: 15_000,
      interval: 200,
      what: 'every TXT record tlsward added withdrawn',
    });
    await stopServerExpectClean(server);
  });

  test('an http pack for a name whose authorization the CA already holds valid by dns-01 (the universal pack\'s, reused) reaches active', async () => {
    const init = await makeInitialisedDir();
    roots.push(init.root);
    // Every valid authorization is reused; a reused one lists only the challenge that
    // validated it (dns-01 here), so there is no http-01 challenge to publish, and none needed.
    const pebble = await startPebble(path.join(init.root, 'pebble'), { env: { PEBBLE_AUTHZREUSE: '100' } });
    const server = await startServer(init.dir, acmeArgs(pebble));
    const cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acmereuse.test', account: { id: init.creds.account_id } });
    const all = [];
    for await (const p of cf.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all' })) all.push(p);
    const universal = all.find((p) => p.type === 'universal');
    assert.ok(universal, 'the zone has its universal pack');
    assert.equal(universal.validation_method, 'txt');
    await waitActive(cf, zone.id, universal.id, server);
    const p = await cf.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: ['acmereuse.test'],
      type: 'advanced',
      validation_method: 'http',
      validity_days: 90,
    });
    const done = await waitActive(cf, zone.id, p.id, server);
    assert.deepEqual(done.validation_errors ?? [], []);
    await stopServerExpectClean(server);
  });

  test('DELETE /zones/{id} revokes the zone\'s ACME certificates upstream and is not held up by it', async () => {
    const init = await makeInitialisedDir();
    roots.push(init.root);
    const pebble = await startPebble(path.join(init.root, 'pebble'));
    const server = await startServer(init.dir, acmeArgs(pebble));
    const cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: 'acmezonedel.test', account: { id: init.creds.account_id } });
    const ids = [];
    for (const hosts of [['acmezonedel.test'], ['acmezonedel.test', 'www.acmezonedel.test']]) {
      const p = await cf.ssl.certificatePacks.create({
        zone_id: zone.id,
        certificate_authority: 'lets_encrypt',
        hosts,
        type: 'advanced',
        validation_method: 'http',
        validity_days: 90,
      });
      ids.push(p.id);
    }
    const leaves = [];
    for (const id of ids) {
      await waitActive(cf, zone.id, id, server);
      const d = await deployed(init.dir, zone.id, id);
      leaves.push(d.ecdsa.leaf, d.rsa.leaf);
    }
    for (const l of leaves) assert.equal((await pebble.certStatus(l.serialNumber)).Status, 'Valid');

    // The deletion answers at once (revocation is left to jobs) and the zone is gone.
    assert.deepEqual(await cf.zones.delete({ zone_id: zone.id }), { id: zone.id });
    await expectSdkError(cf.zones.get({ zone_id: zone.id }), 400, [7003, 7000], 'GET the deleted zone');
    for (const l of leaves) {
      await waitFor(async () => (await pebble.certStatus(l.serialNumber)).Status === 'Revoked', {
        timeout: 30_000,
        interval: 200,
        what: `serial ${l.serialNumber} revoked at Pebble; log:\n${server.stderr().slice(-2000)}`,
      });
    }
    await waitFor(
      async () => {
        try {
          await fs.access(path.join(init.dir, 'deploy', zone.id));
          return false;
        } catch {
          return true;
        }
      },
      { timeout: 30_000, interval: 100, what: 'the zone deployment removed' },
    );
    await stopServerExpectClean(server);
  });
});
