// Authenticated Origin Pulls — origin TLS client authentication (seed 002, SPEC §4.9) through
// the official SDK and raw HTTP: zone-level and per-hostname certificate upload (RSA 2048 and
// EC P-256, self-signed and CA-signed), every returned field checked against the certificate
// itself, the private key never returned nor stored in clear, upload checks (garbage
// certificate/key, mismatched key, expired certificate, SAN outside the zone), the status life
// cycle (initializing → pending_deployment → active, DELETE → pending_deletion → deleted) with
// the deployed files, the 10-per-zone hostname quota, hostname associations, settings, and
// isolation between accounts and permissions; refused uploads: a certificate PEM carrying a
// private key, weak or unsupported certificate keys, an 11th zone-level certificate.
//
// Certificates and keys are generated with the openssl CLI (faketime for the expired one).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  HEX32,
  MSG,
  RFC3339_Z,
  assertErr,
  assertNames,
  assertOk,
  assertZoneNotFound,
  createAccount,
  createToken,
  createZoneRaw,
  expectSdkError,
  makeInitialisedDir,
  randomId,
  startServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
  freshTenant,
  stopAllClean,
} from './harness.mjs';

const STATUSES = [
  'initializing',
  'pending_deployment',
  'pending_deletion',
  'active',
  'deleted',
  'deployment_timed_out',
  'deletion_timed_out',
];
const ZONE_CERT_KEYS = ['certificate', 'expires_on', 'id', 'issuer', 'signature', 'status', 'uploaded_on'];
const HOST_CERT_KEYS = [...ZONE_CERT_KEYS, 'serial_number'];
const ASSOC_KEYS = [
  'cert_id',
  'cert_status',
  'cert_updated_at',
  'cert_uploaded_on',
  'certificate',
  'created_at',
  'enabled',
  'expires_on',
  'hostname',
  'issuer',
  'serial_number',
  'signature',
  'status',
  'updated_at',
];
/** Bounded poll of the worker's transitions: ≤ 15 s. */
const POLL = { timeout: 15_000, interval: 150 };

// ------------------------------------------------------------------------------------------
// openssl helpers

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number' && !err.signal) {
        reject(err);
        return;
      }
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${stderr}`));
      else resolve(String(stdout));
    });
  });
}

const keyArgs = (kind) => (kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);

/**
 * A self-signed certificate: { certPem, keyPem, x509, kind }. opts: kind 'rsa'|'ec', cn,
 * sans (DNS names), days, past ('40 days ago' → generated under faketime).
 */
async function selfSigned(work, { kind = 'ec', cn = `aop-${uniq()}`, org, sans = [], days = 30, past } = {}) {
  const base = path.join(work, `ss-${uniq()}`);
  const args = ['req', '-x509', ...keyArgs(kind), '-nodes', '-sha256', '-keyout', `${base}.key`, '-out', `${base}.crt`, '-days', String(days), '-subj', `${org ? `/O=${org}` : ''}/CN=${cn}`];
  if (sans.length) args.push('-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`);
  if (past) await run('faketime', [past, 'openssl', ...args]);
  else await run('openssl', args);
  const certPem = await fs.readFile(`${base}.crt`, 'utf8');
  const keyPem = await fs.readFile(`${base}.key`, 'utf8');
  return { certPem, keyPem, x509: new X509Certificate(certPem), kind };
}

/** A CA (self-signed, kind) and a leaf of leafKind signed by it (issuer ≠ subject). */
async function caSigned(work, { caKind = 'ec', leafKind = 'rsa', cn = `aop-leaf-${uniq()}`, sans = [] } = {}) {
  const ca = await selfSigned(work, { kind: caKind, cn: `AOP Test CA ${uniq()}`, days: 60 });
  const base = path.join(work, `leaf-${uniq()}`);
  await fs.writeFile(`${base}-ca.crt`, ca.certPem);
  await fs.writeFile(`${base}-ca.key`, ca.keyPem, { mode: 0o600 });
  const req = ['req', '-new', ...keyArgs(leafKind), '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`];
  if (sans.length) req.push('-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`);
  await run('openssl', req);
  await run('openssl', [
    'x509', '-req', '-in', `${base}.csr`, '-CA', `${base}-ca.crt`, '-CAkey', `${base}-ca.key`, '-CAcreateserial',
    '-days', '20', '-sha256', '-copy_extensions', 'copy', '-out', `${base}.crt`,
  ]);
  const certPem = await fs.readFile(`${base}.crt`, 'utf8');
  const keyPem = await fs.readFile(`${base}.key`, 'utf8');
  return { certPem, keyPem, x509: new X509Certificate(certPem), kind: leafKind, ca };
}

/** The CN of a node X509 DN string ("O=x\nCN=y"). */
const cnOf = (dn) => {
  const line = dn.split('\n').find((l) => l.startsWith('CN='));
  return line ? line.slice(3) : undefined;
};

const spki = (key) => (key?.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' }).toString('hex');

/** A 60-character slice of the base64 body of a PEM key (to search stored files for). */
const keyNeedle = (keyPem) => keyPem.split('\n').filter((l) => l && !l.startsWith('-----'))[1];

// ------------------------------------------------------------------------------------------
// Field checks

/** Checks every field of a certificate object against the uploaded certificate. */
function assertCertObject(obj, cert, { hostname = false, what = 'certificate object', window } = {}) {
  for (const k of hostname ? HOST_CERT_KEYS : ZONE_CERT_KEYS) assert.ok(k in obj, `${what}: field ${k} missing: ${JSON.stringify(obj)}`);
  assert.ok(!('private_key' in obj) || obj.private_key === null || obj.private_key === undefined, `${what}: private_key must not be returned`);
  assert.match(obj.id, HEX32, `${what}: id`);
  assert.ok(!JSON.stringify(obj).includes('PRIVATE KEY'), `${what}: contains a private key`);
  assert.equal(typeof obj.certificate, 'string', `${what}: certificate`);
  assert.ok(new X509Certificate(obj.certificate).raw.equals(cert.x509.raw), `${what}: certificate is the uploaded one`);
  assert.match(obj.expires_on, RFC3339_Z, `${what}: expires_on format`);
  assert.equal(new Date(obj.expires_on).getTime(), new Date(cert.x509.validTo).getTime(), `${what}: expires_on = notAfter (${cert.x509.validTo})`);
  assert.equal(obj.issuer, cnOf(cert.x509.issuer), `${what}: issuer = issuer CN`);
  if (cert.ca) assert.notEqual(obj.issuer, cnOf(cert.x509.subject), `${what}: issuer is not the subject`);
  const sigKind = cert.ca ? cert.ca.kind : cert.kind;
  if (sigKind === 'rsa') assert.equal(obj.signature, 'SHA256WithRSA', `${what}: signature`);
  else assert.ok(['ECDSAWithSHA256', 'SHA256WithECDSA'].includes(obj.signature), `${what}: signature ${obj.signature}`);
  if (hostname) assert.equal(obj.serial_number, cert.x509.serialNumber.toLowerCase(), `${what}: serial_number`);
  assert.ok(STATUSES.includes(obj.status), `${what}: status ${obj.status}`);
  assert.match(obj.uploaded_on, RFC3339_Z, `${what}: uploaded_on format`);
  if (window) {
    const t = new Date(obj.uploaded_on).getTime();
    assert.ok(t >= window[0] - 1000 && t <= window[1] + 1000, `${what}: uploaded_on ${obj.uploaded_on} within the request`);
  }
}

/** Asserts no raw response text carries a private key. */
function assertNoKey(res, what) {
  assert.ok(!res.text.includes('PRIVATE KEY'), `${what}: response contains "PRIVATE KEY": ${res.text.slice(0, 300)}`);
}

// ------------------------------------------------------------------------------------------
// Paths and tenants

const zp = (z) => `/zones/${z}/origin_tls_client_auth`;
const hcp = (z) => `/zones/${z}/origin_tls_client_auth/hostnames/certificates`;



async function exists(p) {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/** Every regular file under d (recursive). */
async function walk(d) {
  const out = [];
  for (const e of await fs.readdir(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// ------------------------------------------------------------------------------------------

describe('origin TLS client auth (worker on)', () => {
  let root;
  let dir;
  let server;

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
    server = await startServer(dir);
  });

  after(async () => {
    await stopAllClean([server]);
  });

  /** Polls GET until the status is `want` (≤ 15 s); returns the object. */
  async function pollStatus(tn, p, id, want) {
    return waitFor(
      async () => {
        const res = await v4(server, 'GET', `${p(tn.zone.id)}/${id}`, { token: tn.token });
        const r = assertOk(res, `GET ${id}`);
        assertNoKey(res, `GET ${id}`);
        return r.status === want ? r : null;
      },
      { ...POLL, what: `certificate ${id} to reach ${want}` },
    );
  }

  async function deployPaths(tn, kind, id) {
    const d = path.join(dir, 'deploy', tn.zone.id, 'origin-pull', kind);
    return { crt: path.join(d, `${id}.crt`), key: path.join(d, `${id}.key`) };
  }

  async function assertDeployed(tn, kind, id, cert) {
    const { crt, key } = await deployPaths(tn, kind, id);
    const crtPem = await waitFor(async () => ((await exists(crt)) && (await exists(key)) ? fs.readFile(crt, 'utf8') : null), {
      ...POLL,
      what: `deployed ${kind}/${id}.crt and .key`,
    });
    assert.ok(new X509Certificate(crtPem).raw.equals(cert.x509.raw), `${kind}/${id}.crt is the uploaded certificate`);
    const st = await fs.stat(key);
    assert.equal(st.mode & 0o777, 0o600, `${kind}/${id}.key mode ${(st.mode & 0o777).toString(8)}`);
    const keyPem = await fs.readFile(key, 'utf8');
    assert.equal(spki(createPrivateKey(keyPem)), spki(new X509Certificate(crtPem).publicKey), `${kind}/${id}.key matches the .crt`);
    assert.equal(spki(createPrivateKey(keyPem)), spki(createPrivateKey(cert.keyPem)), `${kind}/${id}.key is the uploaded key`);
  }

  async function assertUndeployed(tn, kind, id) {
    const { crt, key } = await deployPaths(tn, kind, id);
    await waitFor(async () => !(await exists(crt)) && !(await exists(key)), { ...POLL, what: `${kind}/${id}.{crt,key} removed` });
  }

  describe('zone-level certificates', () => {
    let tn;
    before(async () => {
      tn = await freshTenant(server, dir, root, 'zone');
    });

    for (const [label, make] of [
      ['RSA 2048 self-signed', (w) => selfSigned(w, { kind: 'rsa' })],
      ['EC P-256 self-signed', (w) => selfSigned(w, { kind: 'ec' })],
      ['RSA leaf signed by an EC CA', (w) => caSigned(w, { caKind: 'ec', leafKind: 'rsa' })],
    ]) {
      test(`${label}: upload, fields, life cycle, deployment, delete`, async () => {
        const cert = await make(tn.work);
        const t0 = Date.now();
        const created = await tn.client.originTLSClientAuth.create({ zone_id: tn.zone.id, certificate: cert.certPem, private_key: cert.keyPem });
        const t1 = Date.now();
        assertCertObject(created, cert, { what: 'create', window: [t0, t1] });
        assert.ok(['initializing', 'pending_deployment', 'active'].includes(created.status), `create status ${created.status}`);

        const got = await tn.client.originTLSClientAuth.get(created.id, { zone_id: tn.zone.id });
        assertCertObject(got, cert, { what: 'SDK get' });
        assert.equal(got.uploaded_on, created.uploaded_on);

        const active = await pollStatus(tn, zp, created.id, 'active');
        assertCertObject(active, cert, { what: 'active' });
        assert.deepEqual({ ...active, status: created.status }, created, 'only the status changed');
        await assertDeployed(tn, 'zone', created.id, cert);

        const listRes = await v4(server, 'GET', zp(tn.zone.id), { token: tn.token });
        const list = assertOk(listRes, 'list');
        assertNoKey(listRes, 'list');
        assert.ok(Array.isArray(list), 'list result is an array');
        const mine = list.find((c) => c.id === created.id);
        assert.ok(mine, 'listed');
        assert.deepEqual(mine, active, 'list item = GET');
        const page = await tn.client.originTLSClientAuth.list({ zone_id: tn.zone.id });
        assert.deepEqual(page.result.map((c) => c.id).sort(), list.map((c) => c.id).sort(), 'SDK list = raw list');

        const delRes = await v4(server, 'DELETE', `${zp(tn.zone.id)}/${created.id}`, { token: tn.token });
        const del = assertOk(delRes, 'DELETE');
        assertNoKey(delRes, 'DELETE');
        assert.equal(del.status, 'pending_deletion', 'DELETE returns the object in pending_deletion');
        assertCertObject(del, cert, { what: 'DELETE result' });
        assert.equal(del.id, created.id);

        await pollStatus(tn, zp, created.id, 'deleted');
        await assertUndeployed(tn, 'zone', created.id);
        const remaining = assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'list after delete');
        assert.ok(!remaining.some((c) => c.id === created.id), 'deleted certificates are left out of the list');

        const again = assertErr(await v4(server, 'DELETE', `${zp(tn.zone.id)}/${created.id}`, { token: tn.token }), 400, [1406], 'DELETE again');
        assert.ok(again[0].message.length > 0);
        await expectSdkError(tn.client.originTLSClientAuth.delete(created.id, { zone_id: tn.zone.id }), 400, [1406], 'SDK DELETE again');
      });
    }

    test('issuer is the issuer CN even when the issuer DN also has an O', async () => {
      const cert = await selfSigned(tn.work, { kind: 'ec', org: 'tlsward e2e org' });
      const created = await tn.client.originTLSClientAuth.create({ zone_id: tn.zone.id, certificate: cert.certPem, private_key: cert.keyPem });
      assertCertObject(created, cert, { what: 'create (O + CN)' });
    });

    test('unknown certificate id → 404 1472 on GET and DELETE', async () => {
      const id = randomId();
      assertErr(await v4(server, 'GET', `${zp(tn.zone.id)}/${id}`, { token: tn.token }), 404, [1472], 'GET unknown');
      assertErr(await v4(server, 'DELETE', `${zp(tn.zone.id)}/${id}`, { token: tn.token }), 404, [1472], 'DELETE unknown');
      await expectSdkError(tn.client.originTLSClientAuth.get(id, { zone_id: tn.zone.id }), 404, [1472], 'SDK get unknown');
    });

    test('the private key is never returned and not stored in clear', async () => {
      const cert = await selfSigned(tn.work, { kind: 'rsa' });
      const res = await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: cert.certPem, private_key: cert.keyPem } });
      const created = assertOk(res, 'POST');
      assertNoKey(res, 'POST');
      await pollStatus(tn, zp, created.id, 'active');
      for (const p of [zp(tn.zone.id), `${zp(tn.zone.id)}/${created.id}`]) assertNoKey(await v4(server, 'GET', p, { token: tn.token }), `GET ${p}`);
      const needle = keyNeedle(cert.keyPem);
      const deployDir = path.join(dir, 'deploy');
      const hits = [];
      for (const f of await walk(dir)) {
        if (f.startsWith(deployDir + path.sep)) continue;
        const buf = await fs.readFile(f);
        if (buf.includes(needle) || buf.includes(cert.keyPem.trim().split('\n')[0] + '\n' + needle)) hits.push(f);
      }
      assert.deepEqual(hits, [], 'the private key appears in clear outside deploy/');
    });

    describe('upload checks → 400 1004, nothing stored', () => {
      let good;
      let other;
      before(async () => {
        good = await selfSigned(tn.work, { kind: 'rsa' });
        other = await selfSigned(tn.work, { kind: 'rsa' });
      });

      const cases = () => [
        ['garbage certificate', { certificate: 'not a certificate', private_key: good.keyPem }, 'certificate'],
        ['garbage PEM body', { certificate: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', private_key: good.keyPem }, 'certificate'],
        ['garbage key', { certificate: good.certPem, private_key: 'not a key' }, 'private_key'],
        ['key of another certificate', { certificate: good.certPem, private_key: other.keyPem }, 'private_key'],
      ];

      const LABELS = ['garbage certificate', 'garbage PEM body', 'garbage key', 'key of another certificate'];
      for (const [idx, name] of LABELS.entries()) {
        test(`${name} → 1004`, async () => {
          const [label, json, field] = cases()[idx];
          const listBefore = assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'list before');
          const res = await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json });
          const errors = assertErr(res, 400, [1004], label);
          assertNoKey(res, label);
          assertNames(errors, field, label);
          const listAfter = assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'list after');
          assert.deepEqual(listAfter.map((c) => c.id).sort(), listBefore.map((c) => c.id).sort(), `${label}: nothing stored`);
        });
      }

      test('EC certificate with an RSA key → 1004', async () => {
        const ec = await selfSigned(tn.work, { kind: 'ec' });
        const errors = assertErr(await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: ec.certPem, private_key: good.keyPem } }), 400, [1004], 'EC cert + RSA key');
        assertNames(errors, 'private_key', 'EC cert + RSA key');
      });

      test('expired certificate → 1004 naming certificate', async () => {
        const expired = await selfSigned(tn.work, { kind: 'ec', days: 10, past: '40 days ago' });
        assert.ok(new Date(expired.x509.validTo).getTime() < Date.now(), 'the fixture is expired');
        const before = assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'list before');
        const errors = assertErr(await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: expired.certPem, private_key: expired.keyPem } }), 400, [1004], 'expired');
        assertNames(errors, 'certificate', 'expired');
        assert.match(errors.map((e) => e.message).join(' '), /expir/i, 'says expired');
        const after = assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'list after');
        assert.equal(after.length, before.length, 'nothing stored');
      });

      test('missing fields → 1004 naming the field', async () => {
        assertNames(assertErr(await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { private_key: good.keyPem } }), 400, [1004], 'no certificate'), 'certificate');
        assertNames(assertErr(await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: good.certPem } }), 400, [1004], 'no key'), 'private_key');
      });
    });
  });

  describe('what a certificate may be: no private key inside, bounded keys, at most 10 per zone', () => {
    let tn;
    before(async () => {
      tn = await freshTenant(server, dir, root, 'bounds');
    });

    /** A self-signed certificate with any openssl -newkey spec (rsa:1024, ec with P-521 ...). */
    async function withKey(newkey, sans = []) {
      const base = path.join(tn.work, `k-${uniq()}`);
      const args = ['req', '-x509', '-newkey', ...newkey, '-nodes', '-sha256', '-keyout', `${base}.key`, '-out', `${base}.crt`, '-days', '30', '-subj', `/CN=bounds-${uniq()}`];
      if (sans.length) args.push('-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`);
      await run('openssl', args);
      const certPem = await fs.readFile(`${base}.crt`, 'utf8');
      return { certPem, keyPem: await fs.readFile(`${base}.key`, 'utf8'), x509: new X509Certificate(certPem) };
    }

    /** Every file under DATA/deploy (none when the directory does not exist). */
    async function deployedFiles() {
      const d = path.join(dir, 'deploy');
      return (await exists(d)) ? walk(d) : [];
    }

    /** POSTs json to p and asserts 400/1004 whose message matches re; then nothing stored or deployed. */
    async function assertRefused(p, json, re, what) {
      const before = assertOk(await v4(server, 'GET', p(tn.zone.id), { token: tn.token }), `${what}: list before`);
      const res = await v4(server, 'POST', p(tn.zone.id), { token: tn.token, json });
      const errors = assertErr(res, 400, [1004], what);
      assertNoKey(res, what);
      assert.match(errors.map((e) => e.message).join(' | '), re, `${what}: the reason`);
      const after = assertOk(await v4(server, 'GET', p(tn.zone.id), { token: tn.token }), `${what}: list after`);
      assert.deepEqual(after.map((c) => c.id), before.map((c) => c.id), `${what}: nothing stored`);
      const needle = keyNeedle(json.private_key);
      for (const f of await deployedFiles()) {
        assert.ok(!(await fs.readFile(f, 'utf8')).includes(needle), `${what}: its key was written to ${f}`);
      }
    }

    test('a certificate PEM that carries a private key → 400 1004, list empty, nothing under DATA/deploy', async () => {
      const host = `pk.${tn.zone.name}`;
      const cert = await selfSigned(tn.work, { kind: 'rsa', sans: [host] });
      const ec = await selfSigned(tn.work, { kind: 'ec', sans: [host] });
      const rsaTraditional = cert.keyPem.replace(/PRIVATE KEY-----/g, 'RSA PRIVATE KEY-----');
      const encryptedLabel = cert.keyPem.replace(/PRIVATE KEY-----/g, 'ENCRYPTED PRIVATE KEY-----');
      const combined = [
        ['certificate then key', cert.certPem + cert.keyPem, cert.keyPem],
        ['key then certificate', cert.keyPem + cert.certPem, cert.keyPem],
        ['certificate then "RSA PRIVATE KEY"', cert.certPem + rsaTraditional, cert.keyPem],
        ['certificate then "ENCRYPTED PRIVATE KEY"', cert.certPem + encryptedLabel, cert.keyPem],
        ['EC certificate then its key, CRLF line ends', (ec.certPem + ec.keyPem).replace(/\n/g, '\r\n'), ec.keyPem],
      ];
      for (const [label, pem, keyPem] of combined) {
        for (const [kind, p] of [['zone-level', zp], ['hostname', hcp]]) {
          await assertRefused(p, { certificate: pem, private_key: keyPem }, /certificate must not contain a private key/, `${kind}: ${label}`);
        }
      }
      assert.deepEqual(assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'zone list'), [], 'the zone-level list stays empty');
      assert.deepEqual(assertOk(await v4(server, 'GET', hcp(tn.zone.id), { token: tn.token }), 'hostname list'), [], 'the hostname list stays empty');
      for (const f of await deployedFiles()) {
        const parts = f.split(path.sep);
        const ours = parts.includes(tn.zone.id) || parts.includes(tn.zone.name);
        assert.ok(!(ours && parts.includes('origin-pull')), `nothing deployed for the zone's origin pulls: ${f}`);
      }
      // The same certificate without the key is accepted (control).
      const ok = await tn.client.originTLSClientAuth.create({ zone_id: tn.zone.id, certificate: cert.certPem, private_key: cert.keyPem });
      assertOk(await v4(server, 'DELETE', `${zp(tn.zone.id)}/${ok.id}`, { token: tn.token }), 'clean-up DELETE');
    });

    test('RSA-1024 and EC P-521 certificates → 400 1004 naming certificate', async () => {
      const host = `weak.${tn.zone.name}`;
      for (const [label, newkey, re] of [
        ['RSA 1024', ['rsa:1024'], /certificate: RSA keys must be at least 2048 bits/],
        ['EC P-521', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], /certificate: EC keys must use P-256 or P-384/],
      ]) {
        const weak = await withKey(newkey, [host]);
        for (const [kind, p] of [['zone-level', zp], ['hostname', hcp]]) {
          await assertRefused(p, { certificate: weak.certPem, private_key: weak.keyPem }, re, `${kind}: ${label}`);
        }
      }
      // EC P-384 is fine.
      const p384 = await withKey(['ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
      const ok = assertOk(await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: p384.certPem, private_key: p384.keyPem } }), 'P-384');
      assertOk(await v4(server, 'DELETE', `${zp(tn.zone.id)}/${ok.id}`, { token: tn.token }), 'clean-up DELETE');
    });

    test('at most 10 live zone-level certificates per zone: the 11th → 400 1004 with the reason', async () => {
      const quota = await freshTenant(server, dir, root, 'zquota');
      const certs = await Promise.all(Array.from({ length: 11 }, () => selfSigned(quota.work, { kind: 'ec' })));
      const ids = [];
      for (const c of certs.slice(0, 10)) {
        ids.push(assertOk(await v4(server, 'POST', zp(quota.zone.id), { token: quota.token, json: { certificate: c.certPem, private_key: c.keyPem } }), `upload ${ids.length + 1}`).id);
      }
      const eleventh = { certificate: certs[10].certPem, private_key: certs[10].keyPem };
      const errors = assertErr(await v4(server, 'POST', zp(quota.zone.id), { token: quota.token, json: eleventh }), 400, [1004], '11th upload');
      assertNames(errors, 'certificate', '11th upload');
      assert.match(errors[0].message, /at most 10 zone-level certificates/, '11th upload: the reason');
      const list = assertOk(await v4(server, 'GET', zp(quota.zone.id), { token: quota.token }), 'list');
      assert.deepEqual(list.map((c) => c.id).sort(), [...ids].sort(), 'the 11th was not stored');
      await expectSdkError(quota.client.originTLSClientAuth.create({ zone_id: quota.zone.id, ...eleventh }), 400, [1004], 'SDK 11th upload');
      // A deleted certificate frees its place at once.
      assertOk(await v4(server, 'DELETE', `${zp(quota.zone.id)}/${ids[0]}`, { token: quota.token }), 'DELETE one');
      assertOk(await v4(server, 'POST', zp(quota.zone.id), { token: quota.token, json: eleventh }), '11th after a DELETE');
    });
  });

  describe('settings', () => {
    let tn;
    before(async () => {
      tn = await freshTenant(server, dir, root, 'settings');
    });

    test('default enabled:false; PUT round-trips through SDK and raw', async () => {
      const s0 = await tn.client.originTLSClientAuth.settings.get({ zone_id: tn.zone.id });
      assert.equal(s0.enabled, false, `default: ${JSON.stringify(s0)}`);
      const s1 = await tn.client.originTLSClientAuth.settings.update({ zone_id: tn.zone.id, enabled: true });
      assert.equal(s1.enabled, true);
      assert.equal(assertOk(await v4(server, 'GET', `${zp(tn.zone.id)}/settings`, { token: tn.token }), 'GET').enabled, true);
      const s2 = assertOk(await v4(server, 'PUT', `${zp(tn.zone.id)}/settings`, { token: tn.token, json: { enabled: false } }), 'PUT false');
      assert.equal(s2.enabled, false);
      assert.equal((await tn.client.originTLSClientAuth.settings.get({ zone_id: tn.zone.id })).enabled, false);
    });
  });

  describe('per-hostname certificates and associations', () => {
    let tn;
    before(async () => {
      tn = await freshTenant(server, dir, root, 'host');
    });

    test('upload (RSA and EC, CA-signed): fields, life cycle, deployment, delete', async () => {
      for (const cert of [
        await selfSigned(tn.work, { kind: 'rsa', sans: [`origin.${tn.zone.name}`] }),
        await caSigned(tn.work, { caKind: 'rsa', leafKind: 'ec', sans: [`a.${tn.zone.name}`, tn.zone.name] }),
      ]) {
        const t0 = Date.now();
        const res = await v4(server, 'POST', hcp(tn.zone.id), { token: tn.token, json: { certificate: cert.certPem, private_key: cert.keyPem } });
        const created = assertOk(res, 'POST hostname cert');
        assertNoKey(res, 'POST hostname cert');
        assertCertObject(created, cert, { hostname: true, what: 'create', window: [t0, Date.now()] });
        assert.ok(['initializing', 'pending_deployment', 'active'].includes(created.status));

        const sdkGot = await tn.client.originTLSClientAuth.hostnameCertificates.get(created.id, { zone_id: tn.zone.id });
        assertCertObject(sdkGot, cert, { hostname: true, what: 'SDK get' });

        const active = await pollStatus(tn, hcp, created.id, 'active');
        assert.deepEqual({ ...active, status: created.status }, created, 'only the status changed');
        await assertDeployed(tn, 'hostnames', created.id, cert);

        const page = await tn.client.originTLSClientAuth.hostnameCertificates.list({ zone_id: tn.zone.id });
        assert.deepEqual(page.result.find((c) => c.id === created.id), active, 'listed as GET');

        const del = await tn.client.originTLSClientAuth.hostnameCertificates.delete(created.id, { zone_id: tn.zone.id });
        assert.equal(del.status, 'pending_deletion');
        assert.equal(del.id, created.id);
        await pollStatus(tn, hcp, created.id, 'deleted');
        await assertUndeployed(tn, 'hostnames', created.id);
        const listed = assertOk(await v4(server, 'GET', hcp(tn.zone.id), { token: tn.token }), 'list');
        assert.ok(!listed.some((c) => c.id === created.id), 'deleted left out of the list');
        assertErr(await v4(server, 'DELETE', `${hcp(tn.zone.id)}/${created.id}`, { token: tn.token }), 400, [1406], 'DELETE again');
      }
      assertErr(await v4(server, 'GET', `${hcp(tn.zone.id)}/${randomId()}`, { token: tn.token }), 404, [1472], 'GET unknown');
      assertErr(await v4(server, 'DELETE', `${hcp(tn.zone.id)}/${randomId()}`, { token: tn.token }), 404, [1472], 'DELETE unknown');
    });

    test('upload checks → 400 1004, nothing stored (SAN outside the zone, garbage, mismatched, expired)', async () => {
      const good = await selfSigned(tn.work, { kind: 'ec', sans: [`ok.${tn.zone.name}`] });
      const outside = `origin.elsewhere-${uniq()}.example.net`;
      const foreign = await selfSigned(tn.work, { kind: 'ec', sans: [`ok.${tn.zone.name}`, outside] });
      const other = await selfSigned(tn.work, { kind: 'ec', sans: [`ok.${tn.zone.name}`] });
      const expired = await selfSigned(tn.work, { kind: 'rsa', sans: [`ok.${tn.zone.name}`], days: 10, past: '40 days ago' });
      const before = assertOk(await v4(server, 'GET', hcp(tn.zone.id), { token: tn.token }), 'list before');
      for (const [label, json, field, re] of [
        ['SAN outside the zone', { certificate: foreign.certPem, private_key: foreign.keyPem }, null, null],
        ['garbage certificate', { certificate: 'garbage', private_key: good.keyPem }, 'certificate', null],
        ['garbage key', { certificate: good.certPem, private_key: 'garbage' }, 'private_key', null],
        ['key of another certificate', { certificate: good.certPem, private_key: other.keyPem }, 'private_key', null],
        ['expired', { certificate: expired.certPem, private_key: expired.keyPem }, 'certificate', /expir/i],
      ]) {
        const res = await v4(server, 'POST', hcp(tn.zone.id), { token: tn.token, json });
        const errors = assertErr(res, 400, [1004], label);
        assertNoKey(res, label);
        const text = errors.map((e) => e.message).join(' | ');
        if (field) assertNames(errors, field, label);
        if (re) assert.match(text, re, label);
        if (label === 'SAN outside the zone') assert.ok(text.includes(outside), `${label}: message should name ${outside}: ${text}`);
      }
      const after = assertOk(await v4(server, 'GET', hcp(tn.zone.id), { token: tn.token }), 'list after');
      assert.deepEqual(after, before, 'nothing stored');
    });

    test('associations: PUT enable, GET, fields, errors, enabled:null removes', async () => {
      const host = `app.${tn.zone.name}`;
      const cert = await selfSigned(tn.work, { kind: 'rsa', sans: [host] });
      const created = await tn.client.originTLSClientAuth.hostnameCertificates.create({ zone_id: tn.zone.id, certificate: cert.certPem, private_key: cert.keyPem });
      const active = await pollStatus(tn, hcp, created.id, 'active');

      const t0 = Date.now();
      const putRes = await v4(server, 'PUT', `${zp(tn.zone.id)}/hostnames`, { token: tn.token, json: { config: [{ hostname: host, cert_id: created.id, enabled: true }] } });
      const assocs = assertOk(putRes, 'PUT hostnames');
      assertNoKey(putRes, 'PUT hostnames');
      assert.ok(Array.isArray(assocs) && assocs.length === 1, `PUT returns one association: ${putRes.text}`);
      const checkAssoc = (a, what) => {
        for (const k of ASSOC_KEYS) assert.ok(k in a, `${what}: ${k} missing: ${JSON.stringify(a)}`);
        assert.equal(a.hostname, host, `${what}: hostname`);
        assert.equal(a.cert_id, created.id, `${what}: cert_id`);
        assert.equal(a.enabled, true, `${what}: enabled`);
        assert.ok(STATUSES.includes(a.status), `${what}: status ${a.status}`);
        assert.equal(a.cert_status, 'active', `${what}: cert_status`);
        for (const k of ['certificate', 'expires_on', 'issuer', 'serial_number', 'signature']) assert.equal(a[k], active[k], `${what}: ${k} = the certificate's`);
        assert.equal(a.serial_number, cert.x509.serialNumber.toLowerCase(), `${what}: serial_number`);
        assert.equal(a.cert_uploaded_on, active.uploaded_on, `${what}: cert_uploaded_on`);
        for (const k of ['created_at', 'updated_at', 'cert_updated_at']) assert.match(a[k], RFC3339_Z, `${what}: ${k}`);
        const c = new Date(a.created_at).getTime();
        assert.ok(c >= t0 - 1000 && c <= Date.now() + 1000, `${what}: created_at ${a.created_at}`);
        assert.ok(!('private_key' in a) || a.private_key == null, `${what}: private_key`);
      };
      checkAssoc(assocs[0], 'PUT');

      const getRes = await v4(server, 'GET', `${zp(tn.zone.id)}/hostnames/${host}`, { token: tn.token });
      const got = assertOk(getRes, 'GET association');
      assertNoKey(getRes, 'GET association');
      checkAssoc(got, 'GET');
      const sdkGot = await tn.client.originTLSClientAuth.hostnames.get(host, { zone_id: tn.zone.id });
      checkAssoc(sdkGot, 'SDK get');

      // enabled:false keeps the association, disabled.
      const off = await tn.client.originTLSClientAuth.hostnames.update({ zone_id: tn.zone.id, config: [{ hostname: host, cert_id: created.id, enabled: false }] });
      assert.equal(off.result.length, 1);
      assert.equal(off.result[0].enabled, false, 'enabled:false');
      assert.equal(assertOk(await v4(server, 'GET', `${zp(tn.zone.id)}/hostnames/${host}`, { token: tn.token }), 'GET').enabled, false);

      // Errors: hostname outside the zone → 400 1004, unknown cert_id → 404 1472 (the object before the body); nothing changes.
      assertErr(await v4(server, 'PUT', `${zp(tn.zone.id)}/hostnames`, { token: tn.token, json: { config: [{ hostname: `x.other-${uniq()}.example.org`, cert_id: created.id, enabled: true }] } }), 400, [1004], 'hostname outside the zone');
      assertErr(await v4(server, 'PUT', `${zp(tn.zone.id)}/hostnames`, { token: tn.token, json: { config: [{ hostname: host, cert_id: randomId(), enabled: true }] } }), 404, [1472], 'unknown cert_id');
      assert.equal(assertOk(await v4(server, 'GET', `${zp(tn.zone.id)}/hostnames/${host}`, { token: tn.token }), 'GET').enabled, false, 'unchanged');

      // enabled:null removes it at once.
      assertOk(await v4(server, 'PUT', `${zp(tn.zone.id)}/hostnames`, { token: tn.token, json: { config: [{ hostname: host, cert_id: created.id, enabled: null }] } }), 'PUT null');
      assertErr(await v4(server, 'GET', `${zp(tn.zone.id)}/hostnames/${host}`, { token: tn.token }), 404, [1472], 'GET removed association');
      await expectSdkError(tn.client.originTLSClientAuth.hostnames.get(host, { zone_id: tn.zone.id }), 404, [1472], 'SDK get removed');
      assertErr(await v4(server, 'GET', `${zp(tn.zone.id)}/hostnames/never.${tn.zone.name}`, { token: tn.token }), 404, [1472], 'GET never associated');
    });
  });

  describe('quota: at most 10 hostname certificates per zone', () => {
    test('the 11th → 400, nothing stored', async () => {
      const tn = await freshTenant(server, dir, root, 'quota');
      const certs = [];
      for (let i = 0; i < 11; i++) certs.push(await selfSigned(tn.work, { kind: 'ec', sans: [`h${i}.${tn.zone.name}`] }));
      for (let i = 0; i < 10; i++) {
        assertOk(await v4(server, 'POST', hcp(tn.zone.id), { token: tn.token, json: { certificate: certs[i].certPem, private_key: certs[i].keyPem } }), `upload ${i + 1}`);
      }
      const res = await v4(server, 'POST', hcp(tn.zone.id), { token: tn.token, json: { certificate: certs[10].certPem, private_key: certs[10].keyPem } });
      assert.equal(res.status, 400, `11th: ${res.text}`);
      assert.equal(res.body?.success, false);
      assert.equal(res.body?.result, null);
      assert.ok(res.body.errors.length >= 1);
      const list = assertOk(await v4(server, 'GET', hcp(tn.zone.id), { token: tn.token }), 'list');
      assert.equal(list.length, 10, 'still 10');
    });
  });

  describe('isolation and permissions', () => {
    let tn;
    let zc;
    let hc;
    let host;
    before(async () => {
      tn = await freshTenant(server, dir, root, 'iso');
      host = `iso.${tn.zone.name}`;
      const z = await selfSigned(tn.work, { kind: 'ec' });
      const h = await selfSigned(tn.work, { kind: 'ec', sans: [host] });
      zc = assertOk(await v4(server, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: z.certPem, private_key: z.keyPem } }), 'zone cert');
      hc = assertOk(await v4(server, 'POST', hcp(tn.zone.id), { token: tn.token, json: { certificate: h.certPem, private_key: h.keyPem } }), 'host cert');
      tn.newCert = await selfSigned(tn.work, { kind: 'ec', sans: [`n.${tn.zone.name}`] });
      await pollStatus(tn, hcp, hc.id, 'active');
      assertOk(await v4(server, 'PUT', `${zp(tn.zone.id)}/hostnames`, { token: tn.token, json: { config: [{ hostname: host, cert_id: hc.id, enabled: true }] } }), 'associate');
    });

    const routes = () => {
      const body = { certificate: tn.newCert.certPem, private_key: tn.newCert.keyPem };
      return [
        ['POST zone cert', 'POST', (z) => zp(z), body],
        ['GET zone list', 'GET', (z) => zp(z)],
        ['GET zone cert', 'GET', (z) => `${zp(z)}/${zc.id}`],
        ['DELETE zone cert', 'DELETE', (z) => `${zp(z)}/${zc.id}`],
        ['GET settings', 'GET', (z) => `${zp(z)}/settings`],
        ['PUT settings', 'PUT', (z) => `${zp(z)}/settings`, { enabled: true }],
        ['POST hostname cert', 'POST', (z) => hcp(z), body],
        ['GET hostname list', 'GET', (z) => hcp(z)],
        ['GET hostname cert', 'GET', (z) => `${hcp(z)}/${hc.id}`],
        ['DELETE hostname cert', 'DELETE', (z) => `${hcp(z)}/${hc.id}`],
        ['PUT hostnames', 'PUT', (z) => `${zp(z)}/hostnames`, { config: [{ hostname: host, cert_id: hc.id, enabled: null }] }],
        ['GET association', 'GET', (z) => `${zp(z)}/hostnames/${host}`],
      ];
    };

    async function assertUnchanged() {
      const z = assertOk(await v4(server, 'GET', zp(tn.zone.id), { token: tn.token }), 'zone list');
      assert.deepEqual(z.map((c) => c.id), [zc.id], 'zone certs unchanged');
      assert.ok(['initializing', 'pending_deployment', 'active'].includes(z[0].status), 'not deleted');
      const h = assertOk(await v4(server, 'GET', hcp(tn.zone.id), { token: tn.token }), 'host list');
      assert.deepEqual(h.map((c) => c.id), [hc.id], 'hostname certs unchanged');
      assert.equal(h[0].status, 'active');
      assert.equal(assertOk(await v4(server, 'GET', `${zp(tn.zone.id)}/settings`, { token: tn.token }), 'settings').enabled, false);
      assert.equal(assertOk(await v4(server, 'GET', `${zp(tn.zone.id)}/hostnames/${host}`, { token: tn.token }), 'assoc').enabled, true);
    }

    test("another account's token → 400 [7003, 7000], identical to an unknown zone", async () => {
      const other = await createAccount(dir, `aop-other-${uniq()}`);
      const { token } = await createToken(dir, other.id, ['zone:write', 'ssl:write']);
      for (const [label, method, p, json] of routes()) {
        const unknown = randomId();
        const res = await v4(server, method, p(tn.zone.id), { token, json });
        const ref = await v4(server, method, p(unknown), { token, json });
        assertZoneNotFound(res, tn.zone.id, `${label} on another account's zone`);
        assertZoneNotFound(ref, unknown, `${label} on an unknown zone`);
        assert.equal(res.text.split(tn.zone.id).join('<Z>'), ref.text.split(unknown).join('<Z>'), `${label}: identical bodies apart from the id`);
      }
      await expectSdkError(tokenClient(server, token).originTLSClientAuth.get(zc.id, { zone_id: tn.zone.id }), 400, [7003, 7000], 'SDK get');
      await assertUnchanged();
    });

    test('an ssl:read token reads but cannot mutate (403 9109)', async () => {
      const { token } = await createToken(dir, tn.account.id, ['ssl:read']);
      for (const [label, method, p, json] of routes()) {
        const res = await v4(server, method, p(tn.zone.id), { token, json });
        if (method === 'GET') {
          assertOk(res, label);
          assertNoKey(res, label);
        } else {
          const errors = assertErr(res, 403, [9109], label);
          assert.ok(errors[0].message.startsWith(MSG.unauthorized), `${label}: ${errors[0].message}`);
        }
      }
      await expectSdkError(tokenClient(server, token).originTLSClientAuth.settings.update({ zone_id: tn.zone.id, enabled: true }), 403, [9109], 'SDK settings update');
      await assertUnchanged();
    });

    test('no credentials → 400 9106 on every route', async () => {
      for (const [label, method, p, json] of routes()) {
        const errors = assertErr(await v4(server, method, p(tn.zone.id), { json }), 400, [9106], label);
        assert.equal(errors[0].message, MSG.noCredentials, label);
      }
      await assertUnchanged();
    });
  });
});

describe('origin TLS client auth without the worker, then with it', () => {
  let root;
  let dir;
  const servers = [];

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
  });

  after(async () => {
    await stopAllClean(servers);
  });

  test('--no-worker: stays initializing and undeployed; a restart with the worker activates and deploys', async () => {
    const s1 = await startServer(dir, ['--no-worker']);
    servers.push(s1);
    const tn = await freshTenant(s1, dir, root, 'nw');
    const cert = await selfSigned(tn.work, { kind: 'rsa', sans: [`w.${tn.zone.name}`] });
    const zoneCert = assertOk(await v4(s1, 'POST', zp(tn.zone.id), { token: tn.token, json: { certificate: cert.certPem, private_key: cert.keyPem } }), 'zone POST');
    const hostCert = assertOk(await v4(s1, 'POST', hcp(tn.zone.id), { token: tn.token, json: { certificate: cert.certPem, private_key: cert.keyPem } }), 'host POST');
    assert.equal(zoneCert.status, 'initializing');
    assert.equal(hostCert.status, 'initializing');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(assertOk(await v4(s1, 'GET', `${zp(tn.zone.id)}/${zoneCert.id}`, { token: tn.token }), 'GET').status, 'initializing');
    assert.equal(assertOk(await v4(s1, 'GET', `${hcp(tn.zone.id)}/${hostCert.id}`, { token: tn.token }), 'GET').status, 'initializing');
    const pz = path.join(dir, 'deploy', tn.zone.id, 'origin-pull');
    assert.equal(await exists(path.join(pz, 'zone', `${zoneCert.id}.crt`)), false, 'not deployed without the worker');
    assert.equal(await exists(path.join(pz, 'hostnames', `${hostCert.id}.crt`)), false, 'not deployed without the worker');
    await stopServerExpectClean(s1);

    const s2 = await startServer(dir);
    servers.push(s2);
    for (const [p, id, kind] of [[zp, zoneCert.id, 'zone'], [hcp, hostCert.id, 'hostnames']]) {
      const got = await waitFor(
        async () => {
          const r = assertOk(await v4(s2, 'GET', `${p(tn.zone.id)}/${id}`, { token: tn.token }), 'GET');
          return r.status === 'active' ? r : null;
        },
        { ...POLL, what: `${kind} ${id} active after restart` },
      );
      assert.equal(got.id, id);
      const crt = await fs.readFile(path.join(pz, kind, `${id}.crt`), 'utf8');
      assert.ok(new X509Certificate(crt).raw.equals(cert.x509.raw));
      const keyPath = path.join(pz, kind, `${id}.key`);
      assert.equal((await fs.stat(keyPath)).mode & 0o777, 0o600);
      assert.equal(spki(createPrivateKey(await fs.readFile(keyPath, 'utf8'))), spki(cert.x509.publicKey));
    }
    await stopServerExpectClean(s2);
  });
});
