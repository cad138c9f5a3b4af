// Cloudflare fidelity of the certificate-pack, verification and client-certificate APIs
// (SPEC §3 order of checks, §4.2, §4.4, §4.5, §4.8, §2 --public-url), through the official
// SDK where it can express the call and raw requests otherwise:
// - the pack list shows only active packs unless status=all; a deleted pack is 404/1472
//   and in no list;
// - certificates[] is always there, each certificate with its own status (expired under a
//   clock moved past notAfter); one delegation record per name;
// - a bad body on an unknown object is 404/1472 on every handler that takes an id and a body;
// - verification PATCH checks any live pack; verification_info only while a record is
//   pending; universal settings PATCH {} changes nothing; cloudflare_branding null keeps it;
// - every account's client CA is named after the account; with --public-url client
//   certificates carry a CRL distribution point and caIssuers, pack leaves a caIssuers.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  assertErr,
  assertNames,
  assertOk,
  assertUserError,
  createAccount,
  createToken,
  createZoneRaw,
  expectSdkError,
  fakeClockEnv,
  getPack,
  HEX32,
  LIBFAKETIME,
  makeInitialisedDir,
  orderPath,
  packsPath,
  randomId,
  request,
  runCli,
  startServer,
  stopAllClean,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
  waitPackStatus,
} from './harness.mjs';

const verificationPath = (zoneId, id) => `/zones/${zoneId}/ssl/verification${id ? `/${id}` : ''}`;
const universalPath = (zoneId) => `/zones/${zoneId}/ssl/universal/settings`;
const clientCertsPath = (zoneId, id) => `/zones/${zoneId}/client_certificates${id ? `/${id}` : ''}`;
const aopPath = (zoneId) => `/zones/${zoneId}/origin_tls_client_auth`;

const orderBody = (z, extra = {}) => ({
  certificate_authority: 'google',
  hosts: [z, `*.${z}`],
  type: 'advanced',
  validation_method: 'txt',
  validity_days: 90,
  ...extra,
});

function openssl(args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { timeout: 60_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? err.code : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

async function opensslText(pem) {
  const r = await openssl(['x509', '-noout', '-text', '-nameopt', 'RFC2253'], pem);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** A fresh EC P-256 CSR (PEM). */
async function makeCsr(work) {
  const base = path.join(work, `csr-${uniq()}`);
  const r = await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=client-${uniq()}.example.com`]);
  assert.equal(r.code, 0, r.stderr);
  return fs.readFile(`${base}.csr`, 'utf8');
}

/** Every pack of a zone through the SDK's auto-pagination (status: undefined or 'all'). */
async function sdkList(cf, zoneId, status) {
  const out = [];
  for await (const p of cf.ssl.certificatePacks.list({ zone_id: zoneId, per_page: 5, ...(status ? { status } : {}) })) out.push(p);
  return out;
}

async function rawList(server, token, zoneId, query = '') {
  const res = await v4(server, 'GET', `${packsPath(zoneId)}${query ? `?${query}` : ''}`, { token });
  return { items: assertOk(res, `list ?${query}`), info: res.body.result_info };
}

/** The deployed ECDSA chain of a pack (DATA/deploy/<zone id>/<pack id>/ecdsa.crt). */
async function deployedChain(dir, zone, packId) {
  return fs.readFile(path.join(dir, 'deploy', zone.id, packId, 'ecdsa.crt'), 'utf8');
}

const pemBlocks = (text) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];

// ------------------------------------------------------------------------------------------

describe('pack lists, deleted packs and certificates[] (auto DCV, restarts without and with the worker)', () => {
  let ctx;
  const servers = [];
  after(() => stopAllClean(servers));

  test('the default list shows only active packs, status=all every pack not deleted; a deleted pack is 404/1472 and in no list; certificates [] before issuance; one delegation record for apex + wildcard', async () => {
    ctx = await makeInitialisedDir();
    const { token, account_id: accountId } = ctx.creds;

    // 1. A worker: the universal pack and pack A become active.
    let server = await startServer(ctx.dir, ['--dcv-mode', 'auto']);
    servers.push(server);
    let cf = tokenClient(server, token);
    const zone = await createZoneRaw(server, token, `fid-${uniq()}.example.com`, accountId);
    const z = zone.name;
    const a = await cf.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(z) });
    assert.deepEqual(a.certificates, [], 'certificates is present, empty, before issuance');
    assert.equal(a.primary_certificate, undefined);
    const activeA = await waitPackStatus(server, token, zone.id, a.id, 'active');
    assert.equal(activeA.certificates.length, 2);
    for (const c of activeA.certificates) assert.equal(c.status, 'active', 'the deployed certificates are active');
    assert.deepEqual(activeA.dcv_delegation_records.map((d) => d.cname), [`_acme-challenge.${z}`], 'one delegation record for the apex and its wildcard');
    assert.equal(activeA.validation_records, undefined, 'no records once validated');
    const universal = (await rawList(server, token, zone.id, 'status=all')).items.find((p) => p.type === 'universal');
    await waitPackStatus(server, token, zone.id, universal.id, 'active');
    await stopServerExpectClean(server);

    // 2. No worker: pack B stays initializing; DELETE A leaves it pending_deletion.
    server = await startServer(ctx.dir, ['--dcv-mode', 'auto', '--no-worker']);
    servers.push(server);
    cf = tokenClient(server, token);
    const b = await cf.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(z, { hosts: [z, `www.${z}`] }) });
    assert.equal(b.status, 'initializing');
    assert.deepEqual(b.certificates, []);
    assert.deepEqual((await cf.ssl.certificatePacks.get(b.id, { zone_id: zone.id })).certificates, [], 'GET: certificates [] too');

    const def = await rawList(server, token, zone.id);
    assert.deepEqual(def.items.map((p) => p.id), [universal.id, a.id], 'default: active packs only');
    assert.deepEqual(def.info, { page: 1, per_page: 20, count: 2, total_count: 2, total_pages: 1 }, 'totals follow the filter');
    assert.deepEqual((await sdkList(cf, zone.id)).map((p) => p.id), [universal.id, a.id], 'SDK list: active only');
    const all = await rawList(server, token, zone.id, 'status=all');
    assert.deepEqual(all.items.map((p) => p.id), [universal.id, a.id, b.id], 'status=all shows the initializing pack');
    assert.equal(all.info.total_count, 3);
    assert.deepEqual((await sdkList(cf, zone.id, 'all')).map((p) => p.id), [universal.id, a.id, b.id]);
    const page2 = await rawList(server, token, zone.id, 'per_page=1&page=2');
    assert.deepEqual(page2.items.map((p) => p.id), [a.id]);
    assert.deepEqual(page2.info, { page: 2, per_page: 1, count: 1, total_count: 2, total_pages: 2 });
    for (const q of ['status=active', 'status=deleted', 'status=ALL', 'status=']) {
      assertNames(assertErr(await v4(server, 'GET', `${packsPath(zone.id)}?${q}`, { token }), 400, [1004], q), 'status', q);
    }

    assert.deepEqual(await cf.ssl.certificatePacks.delete(a.id, { zone_id: zone.id }), { id: a.id });
    const pending = await getPack(server, token, zone.id, a.id);
    assert.equal(pending.status, 'pending_deletion');
    assert.deepEqual((await rawList(server, token, zone.id)).items.map((p) => p.id), [universal.id], 'a pack being deleted is not active');
    assert.deepEqual((await rawList(server, token, zone.id, 'status=all')).items.map((p) => p.id), [universal.id, a.id, b.id]);
    await stopServerExpectClean(server);

    // 3. The worker again: A reaches deleted and leaves the API; B becomes active.
    server = await startServer(ctx.dir, ['--dcv-mode', 'auto']);
    servers.push(server);
    cf = tokenClient(server, token);
    await waitFor(async () => (await v4(server, 'GET', packsPath(zone.id, a.id), { token })).status === 404, { timeout: 15_000, what: 'pack A gone' });
    const err = await expectSdkError(cf.ssl.certificatePacks.get(a.id, { zone_id: zone.id }), 404, [1472], 'SDK GET of a deleted pack');
    assertNames(err.errors, a.id);
    for (const [method, json] of [['PATCH', { cloudflare_branding: true }], ['DELETE'], ['GET']]) {
      assertNames(assertErr(await v4(server, method, packsPath(zone.id, a.id), { token, json }), 404, [1472], `${method} deleted`), a.id);
    }
    assertErr(await v4(server, 'PATCH', verificationPath(zone.id, a.id), { token, json: {} }), 404, [1472], 'verification PATCH deleted');
    await waitPackStatus(server, token, zone.id, b.id, 'active');
    assert.deepEqual((await sdkList(cf, zone.id)).map((p) => p.id), [universal.id, b.id], 'default list: no deleted pack');
    const allAfter = await rawList(server, token, zone.id, 'status=all');
    assert.deepEqual(allAfter.items.map((p) => p.id), [universal.id, b.id], 'status=all: no deleted pack');
    assert.equal(allAfter.info.total_count, 2);
    assert.ok(!(await cf.ssl.verification.get({ zone_id: zone.id })).some((e) => e.cert_pack_uuid === a.id));
    await stopServerExpectClean(server);
  });

  test('each certificate has its own status: past notAfter it is expired (clock moved ahead by libfaketime, no worker), whatever the pack status says', async (t) => {
    try {
      await fs.access(LIBFAKETIME);
    } catch {
      t.skip('libfaketime is not installed');
      return;
    }
    assert.ok(ctx, 'depends on the previous test');
    const server = await startServer(ctx.dir, ['--dcv-mode', 'auto', '--no-worker'], {
      env: fakeClockEnv('+100d'),
    });
    servers.push(server);
    const { token } = ctx.creds;
    const zones = assertOk(await v4(server, 'GET', '/zones', { token }));
    const { items } = await rawList(server, token, zones[0].id, 'status=all');
    const advanced = items.find((p) => p.type === 'advanced');
    assert.equal(advanced.status, 'active', 'no worker ran: the pack still says active');
    assert.equal(advanced.validity_days, 90);
    assert.equal(advanced.certificates.length, 2);
    for (const c of advanced.certificates) assert.equal(c.status, 'expired', `certificate ${c.id} expired on ${c.expires_on}`);
    await stopServerExpectClean(server);
  });
});

// ------------------------------------------------------------------------------------------

describe('order of checks, verification and settings (auto DCV)', () => {
  let ctx;
  let server;
  let token;
  let cf;
  let zone;
  let active; // an active pack with cloudflare_branding true

  before(async () => {
    ctx = await makeInitialisedDir();
    ({ token } = ctx.creds);
    server = await startServer(ctx.dir, ['--dcv-mode', 'auto']);
    cf = tokenClient(server, token);
    zone = await createZoneRaw(server, token, `order-${uniq()}.example.com`, ctx.creds.account_id);
    const ordered = await cf.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(zone.name, { cloudflare_branding: true }) });
    active = await waitPackStatus(server, token, zone.id, ordered.id, 'active');
  });
  after(() => stopAllClean([server]));

  test('a bad body on an unknown object is 404/1472 naming it (pack PATCH, verification PATCH, client certificate PATCH, AOP hostnames PUT); the same body on a known one is 1004', async () => {
    const unknown = randomId();
    const cases = [
      ['pack PATCH, branding not a boolean', 'PATCH', packsPath(zone.id, unknown), { json: { cloudflare_branding: 'yes' } }],
      ['pack PATCH, not JSON', 'PATCH', packsPath(zone.id, unknown), { body: '{nope' }],
      ['verification PATCH, unknown method', 'PATCH', verificationPath(zone.id, unknown), { json: { validation_method: 'dns' } }],
      ['verification PATCH, not JSON', 'PATCH', verificationPath(zone.id, unknown), { body: '[' }],
      ['client certificate PATCH, reactivate not a boolean', 'PATCH', clientCertsPath(zone.id, unknown), { json: { reactivate: 'x' } }],
      ['client certificate PATCH, not JSON', 'PATCH', clientCertsPath(zone.id, unknown), { body: 'x' }],
      ['AOP hostnames PUT, bad hostname with an unknown certificate', 'PUT', `${aopPath(zone.id)}/hostnames`, { json: { config: [{ hostname: 'bad host!', cert_id: unknown, enabled: 'yes' }] } }],
    ];
    for (const [label, method, p, opts] of cases) {
      assertNames(assertErr(await v4(server, method, p, { token, ...opts }), 404, [1472], label), unknown, label);
    }
    // The controls: the same bodies on objects that exist are judged as bodies.
    assertNames(assertErr(await v4(server, 'PATCH', packsPath(zone.id, active.id), { token, json: { cloudflare_branding: 'yes' } }), 400, [1004], 'known pack'), 'cloudflare_branding');
    assertNames(assertErr(await v4(server, 'PATCH', verificationPath(zone.id, active.id), { token, json: { validation_method: 'dns' } }), 400, [1004], 'known pack'), 'validation_method');
    const csr = await makeCsr(ctx.root);
    const cert = await cf.clientCertificates.create({ zone_id: zone.id, csr, validity_days: 30 });
    assertNames(assertErr(await v4(server, 'PATCH', clientCertsPath(zone.id, cert.id), { token, json: { reactivate: 'x' } }), 400, [1004], 'known certificate'), 'reactivate');
    // Status comes after the body: a valid body on an active certificate is 1406.
    assertErr(await v4(server, 'PATCH', clientCertsPath(zone.id, cert.id), { token, json: {} }), 400, [1406], 'reactivate an active certificate');
    // The zone comes first of all.
    const otherZone = randomId();
    assertErr(await v4(server, 'PATCH', packsPath(otherZone, unknown), { token, json: { cloudflare_branding: 'yes' } }), 400, [7003, 7000], 'unknown zone');
  });

  test('verification PATCH asks an immediate check of any live pack: an active pack answers {status, validation_method}; another method is 1406 there; verification_info is omitted without a pending record; signature is the primary certificate\'s', async () => {
    assert.deepEqual(await cf.ssl.verification.edit(active.id, { zone_id: zone.id, validation_method: 'txt' }), { status: 'active', validation_method: 'txt' });
    assert.deepEqual(assertOk(await v4(server, 'PATCH', verificationPath(zone.id, active.id), { token, json: {} }), 'PATCH {}'), { status: 'active', validation_method: 'txt' });
    assert.deepEqual(assertOk(await v4(server, 'PATCH', verificationPath(zone.id, active.id), { token }), 'PATCH without a body'), { status: 'active', validation_method: 'txt' });
    const errors = assertErr(await v4(server, 'PATCH', verificationPath(zone.id, active.id), { token, json: { validation_method: 'http' } }), 400, [1004], 'http with a wildcard host');
    assertNames(errors, `*.${zone.name}`);
    const plain = await cf.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(zone.name, { hosts: [zone.name] }) });
    await waitPackStatus(server, token, zone.id, plain.id, 'active');
    const refused = assertErr(await v4(server, 'PATCH', verificationPath(zone.id, plain.id), { token, json: { validation_method: 'http' } }), 400, [1406], 'switch on an active pack');
    assertNames(refused, 'active');

    const entries = await cf.ssl.verification.get({ zone_id: zone.id });
    const mine = entries.find((e) => e.cert_pack_uuid === active.id);
    assert.ok(mine);
    assert.equal(mine.certificate_status, 'active');
    assert.ok(!('verification_info' in mine), `no verification_info without a pending record: ${JSON.stringify(mine)}`);
    assert.equal(mine.signature, active.certificates.find((c) => c.id === active.primary_certificate).signature);
    assert.equal(mine.signature, 'ECDSAWithSHA256');
    assert.equal((await getPack(server, token, zone.id, active.id)).status, 'active', 'the check changed nothing');
  });

  test('universal settings PATCH without enabled (or with null) is a 200 that changes nothing; cloudflare_branding null never clears the branding', async () => {
    const u = await cf.ssl.universal.settings.edit({ zone_id: zone.id });
    assert.deepEqual(u, { enabled: true });
    for (const json of [{}, { enabled: null }, undefined]) {
      assert.deepEqual(assertOk(await v4(server, 'PATCH', universalPath(zone.id), { token, json }), `PATCH ${JSON.stringify(json)}`), { enabled: true });
    }
    assertNames(assertErr(await v4(server, 'PATCH', universalPath(zone.id), { token, json: { enabled: 'no' } }), 400, [1004], 'enabled "no"'), 'enabled');
    const { items } = await rawList(server, token, zone.id, 'status=all');
    assert.equal(items.filter((p) => p.type === 'universal').length, 1, 'still one universal pack');

    // null is absent: on an active pack a PATCH without a change is the status error, and the
    // branding stays.
    const errors = assertErr(await v4(server, 'PATCH', packsPath(zone.id, active.id), { token, json: { cloudflare_branding: null } }), 400, [1406], 'branding null');
    assertNames(errors, 'active');
    const now = await getPack(server, token, zone.id, active.id);
    assert.equal(now.cloudflare_branding, true);
    assert.deepEqual(now.certificates.map((c) => c.id), active.certificates.map((c) => c.id), 'not re-issued');
  });
});

// ------------------------------------------------------------------------------------------

describe('client CAs named after their account; --public-url in the certificates tlsward signs', () => {
  let ctx;
  let server;
  after(() => stopAllClean([server]));

  test('--public-url must be an http(s) URL: anything else is a one-line usage error', async () => {
    ctx = await makeInitialisedDir();
    for (const bad of ['ftp://pki.test', 'pki.test', 'http://', 'http://pki.test/?x=1', 'http://pki test']) {
      assertUserError(await runCli(['serve', '--data', ctx.dir, '--listen', '127.0.0.1:0', '--public-url', bad]), `--public-url ${bad}`);
    }
  });

  test('two accounts\' client CAs have subjects naming their accounts; client certificates carry the CRL distribution point and caIssuers under --public-url; pack leaves carry caIssuers of the published intermediate', async () => {
    server = await startServer(ctx.dir, ['--dcv-mode', 'auto', '--public-url', 'http://pki.test/']);
    const tenants = [];
    for (const label of ['Acme Corp', 'Globex']) {
      const name = `${label} ${uniq()}`;
      const account = await createAccount(ctx.dir, name);
      const { token } = await createToken(ctx.dir, account.id, ['zone:write', 'ssl:write']);
      const zone = await createZoneRaw(server, token, `ca-${uniq()}.example.com`, account.id);
      const cf = tokenClient(server, token);
      const cert = await cf.clientCertificates.create({ zone_id: zone.id, csr: await makeCsr(ctx.root), validity_days: 30 });
      tenants.push({ name, account, token, zone, cf, cert });
    }
    const subjects = [];
    for (const t of tenants) {
      const res = await request(server, 'GET', `/pki/accounts/${t.account.id}/client-ca.pem`);
      assert.equal(res.status, 200);
      const ca = new X509Certificate(res.text);
      assert.match(ca.subject, new RegExp(`^O=${t.name}\nCN=tlsward Managed CA for account ${t.account.id}$`), `CA subject: ${ca.subject}`);
      assert.equal(ca.issuer, ca.subject);
      subjects.push(ca.subject);
      assert.equal(t.cert.certificate_authority.name, 'tlsward Managed CA for account');

      const leaf = new X509Certificate(t.cert.certificate);
      assert.equal(leaf.issuer, ca.subject, 'the leaf names its account\'s CA');
      const text = await opensslText(t.cert.certificate);
      assert.match(text, /X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/);
      assert.equal(/X509v3 CRL Distribution Points:\s*\n\s*Full Name:\s*\n\s*URI:(\S+)/.exec(text)[1], `http://pki.test/pki/accounts/${t.account.id}/client-ca.crl`);
      assert.equal(/CA Issuers - URI:(\S+)/.exec(text)?.[1], `http://pki.test/pki/accounts/${t.account.id}/client-ca.pem`);
      assert.ok(!/OCSP/.test(text), 'no OCSP responder is claimed');
    }
    assert.notEqual(subjects[0], subjects[1], 'two accounts never share a CA name');

    // A pack leaf of the built-in CA: caIssuers of the intermediate, which is published (DER,
    // no credentials) and is the certificate that signed it; no CRL distribution point.
    const t = tenants[0];
    const ordered = await t.cf.ssl.certificatePacks.create({ zone_id: t.zone.id, ...orderBody(t.zone.name) });
    await waitPackStatus(server, t.token, t.zone.id, ordered.id, 'active');
    const [leafPem, interPem] = pemBlocks(await deployedChain(ctx.dir, t.zone, ordered.id));
    const text = await opensslText(leafPem);
    assert.equal(/CA Issuers - URI:(\S+)/.exec(text)?.[1], 'http://pki.test/pki/intermediate.crt');
    assert.ok(!/CRL Distribution Points/.test(text), 'no CRL distribution point on pack leaves');
    const res = await fetch(`${server.origin}/pki/intermediate.crt`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^application\/pkix-cert/);
    const der = Buffer.from(await res.arrayBuffer());
    const published = new X509Certificate(der);
    assert.equal(published.fingerprint256, new X509Certificate(interPem).fingerprint256, 'the intermediate of the chain');
    assert.ok(new X509Certificate(leafPem).verify(published.publicKey), 'it signed the leaf');
    assert.match(ordered.id, HEX32);
    await stopServerExpectClean(server);
  });
});
