// CAA as RFC 8659 + RFC 8657 (SPEC §4.3 "Validation"), through the SDK against a server in
// `--dcv-mode check` whose resolver is dnsmasq answering for the whole `.test` TLD. Each
// pack's TXT records are published, so the CAA check alone decides: a record at the parent
// of a zone apex forbids (the climb does not stop at the apex), `issuewild` forbids only the
// wildcard host, an unknown critical tag forbids, `validationmethods=http-01` forbids a txt
// pack, and `issue "tlsward.local"` (the built-in CA's identity) allows any pack; with
// `--caa-identity` another name stands for the built-in CA.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
  assertOk,
  createZoneRaw,
  makeInitialisedDir,
  orderPath,
  pollPack,
  startDnsmasq,
  startServer,
  stopAllClean,
  tokenClient,
  v4,
} from './harness.mjs';

/** The forbidding message core/caa writes for a CA (the local CA's identity listed too). */
const IDS = { lets_encrypt: 'letsencrypt.org', google: 'pki.goog', ssl_com: 'ssl.com' };
const forbids = (name, ca, records) => `CAA record at ${name} forbids ${ca} (${IDS[ca]}, tlsward.local): ${records}`;

/**
 * Orders a txt pack for hosts in a new zone `zoneName`, publishes its TXT values, asks for
 * a re-check and waits until the TXT records pass: the pack is then either active or
 * pending_validation with only CAA errors. Returns that pack.
 */
async function validate(ctx, zoneName, hosts, ca = 'lets_encrypt') {
  const { server, dns, records } = ctx;
  const { token, account_id: accountId } = ctx.creds;
  const zone = await createZoneRaw(server, token, zoneName, accountId);
  const body = { certificate_authority: ca, hosts, type: 'advanced', validation_method: 'txt', validity_days: 90 };
  const ordered = assertOk(await v4(server, 'POST', orderPath(zone.id), { token, json: body }), `order ${hosts}`);
  const { pack: pending } = await pollPack(server, token, zone.id, ordered.id, (p) => p.status === 'pending_validation' && p.validation_records, `${zoneName}: records`);
  for (const r of pending.validation_records) (records.txt[r.txt_name] ??= []).push(r.txt_value);
  await dns.set(records);
  await tokenClient(server, token).ssl.verification.get({ zone_id: zone.id, retry: true });
  const { pack } = await pollPack(
    server,
    token,
    zone.id,
    ordered.id,
    // A "DNS error" is transient (the check is retried; dnsmasq may have been restarting):
    // wait for the CAA verdict instead.
    (p) =>
      p.status === 'active' ||
      (p.status === 'pending_validation' &&
        p.validation_records?.every((r) => r.status === 'active') &&
        p.validation_errors?.length &&
        !p.validation_errors.some((e) => e.message.startsWith('DNS error'))),
    `${zoneName}: TXT passed`,
  );
  return pack;
}

describe('CAA in check mode (dnsmasq answering for .test)', () => {
  let dir;
  let creds;
  let dns;
  let server;
  /** What dnsmasq serves: every pack's TXT values, and the CAA records below. */
  const records = {
    domains: ['test'],
    txt: {},
    caa: [
      ['caa-parent.test', 0, 'issue', 'otherca.example'],
      ['wild.test', 0, 'issue', 'letsencrypt.org'],
      ['wild.test', 0, 'issuewild', ';'],
      ['crit.test', 0, 'issue', 'letsencrypt.org'],
      ['crit.test', 128, 'tbs', 'unknown'],
      ['vm.test', 0, 'issue', 'letsencrypt.org; validationmethods=http-01'],
      ['own.test', 0, 'issue', 'tlsward.local'],
    ],
  };

  const ctx = () => ({ server, creds, dns, records });

  before(async () => {
    let root;
    ({ root, dir, creds } = await makeInitialisedDir());
    dns = await startDnsmasq(path.join(root, 'dns'), records);
    server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address]);
  });

  after(async () => {
    try {
      await stopAllClean([server]);
    } finally {
      await dns?.stop();
    }
  });

  test('a zone shop.caa-parent.test whose parent caa-parent.test has 0 issue "otherca.example": validation fails naming that record', async () => {
    const pack = await validate(ctx(), 'shop.caa-parent.test', ['shop.caa-parent.test', 'www.shop.caa-parent.test']);
    assert.equal(pack.status, 'pending_validation');
    const denied = forbids('caa-parent.test', 'lets_encrypt', '0 issue "otherca.example"');
    assert.deepEqual(pack.validation_errors, [{ message: denied }], 'one message: both hosts climb to the same record');
    assert.deepEqual(pack.certificates ?? [], [], 'nothing issued');
  });

  test('issuewild ";" forbids only the wildcard host; the same zone without it goes active', async () => {
    const wild = await validate(ctx(), 'wild.test', ['wild.test', '*.wild.test']);
    assert.equal(wild.status, 'pending_validation');
    assert.deepEqual(wild.validation_errors, [{ message: forbids('wild.test', 'lets_encrypt', '0 issuewild ";"') }]);
    const plain = await validate(ctx(), 'www.wild.test', ['www.wild.test', 'api.www.wild.test']);
    assert.equal(plain.status, 'active', `issue "letsencrypt.org" allows the plain hosts: ${JSON.stringify(plain.validation_errors)}`);
  });

  test('an unknown tag with the critical flag forbids issuance, even beside an issue record naming the CA', async () => {
    const pack = await validate(ctx(), 'crit.test', ['crit.test']);
    assert.equal(pack.status, 'pending_validation');
    assert.deepEqual(pack.validation_errors, [{ message: 'CAA record at crit.test has an unknown critical property: 128 tbs "unknown"' }]);
  });

  test('validationmethods=http-01 forbids a txt (dns-01) pack', async () => {
    const pack = await validate(ctx(), 'vm.test', ['vm.test', 'www.vm.test']);
    assert.equal(pack.status, 'pending_validation');
    assert.deepEqual(pack.validation_errors, [
      { message: 'CAA record at vm.test forbids lets_encrypt with validation method dns-01: 0 issue "letsencrypt.org; validationmethods=http-01"' },
    ]);
  });

  test('issue "tlsward.local" (the built-in CA identity) allows a pack of any CA', async () => {
    const pack = await validate(ctx(), 'own.test', ['own.test', '*.own.test'], 'google');
    assert.equal(pack.status, 'active', JSON.stringify(pack.validation_errors));
    assert.equal(pack.certificates.length, 2);
  });
});

describe('--caa-identity names the built-in CA', () => {
  let server;
  let creds;
  let dns;
  const records = {
    domains: ['test'],
    txt: {},
    caa: [
      ['corp.test', 0, 'issue', 'pki.corp.example'],
      ['plain.test', 0, 'issue', 'tlsward.local'],
    ],
  };
  const ctx = () => ({ server, creds, dns, records });

  before(async () => {
    let root;
    let dir;
    ({ root, dir, creds } = await makeInitialisedDir());
    dns = await startDnsmasq(path.join(root, 'dns'), records);
    server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--caa-identity', 'pki.corp.example']);
  });

  after(async () => {
    try {
      await stopAllClean([server]);
    } finally {
      await dns?.stop();
    }
  });

  test('issue "pki.corp.example" allows; "tlsward.local" no longer means us', async () => {
    const corp = await validate(ctx(), 'corp.test', ['corp.test', 'www.corp.test'], 'ssl_com');
    assert.equal(corp.status, 'active', JSON.stringify(corp.validation_errors));
    const plain = await validate(ctx(), 'plain.test', ['plain.test'], 'ssl_com');
    assert.equal(plain.status, 'pending_validation');
    assert.deepEqual(plain.validation_errors, [{ message: 'CAA record at plain.test forbids ssl_com (ssl.com, pki.corp.example): 0 issue "tlsward.local"' }]);
  });
});
