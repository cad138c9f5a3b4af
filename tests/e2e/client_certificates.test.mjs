// API Shield mTLS client certificates (seed 003, SPEC §4.8) through the official SDK and raw
// HTTP: CSR signing by the account's managed client CA (RSA and EC), every field of the
// object checked against the issued certificate itself (node's X509Certificate and the
// openssl CLI), bad CSRs, pagination (page/per_page and limit/offset), the status filter, the
// asynchronous revoke/reactivate life cycle (with and without the worker), the published CA
// and CRL, isolation between accounts and permissions, and durability across kill -9.
//
// Keys and CSRs are generated with the openssl CLI into per-test temp dirs.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPublicKey } from 'node:crypto';
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
  killServer,
  makeInitialisedDir,
  randomId,
  request,
  sha256,
  sleep,
  startServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
  freshTenant,
  stopAllClean,
  mapLimit,
} from './harness.mjs';

const CA_NAME = 'tlsward Managed CA for account';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY_MS = 86_400_000;
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const CERT_KEYS = [
  'certificate',
  'certificate_authority',
  'common_name',
  'country',
  'csr',
  'expires_on',
  'fingerprint_sha256',
  'id',
  'issued_on',
  'location',
  'organization',
  'organizational_unit',
  'serial_number',
  'signature',
  'ski',
  'state',
  'status',
  'validity_days',
];
const STATUSES = ['active', 'pending_reactivation', 'pending_revocation', 'revoked'];
/** Bounded poll for the worker's asynchronous transitions: 50 × 100 ms. */
const POLL = { tries: 50, interval: 100, timeout: 5_000 };
const HEAVY = { timeout: 300_000 };

// ------------------------------------------------------------------------------------------
// openssl and certificate helpers

/** Runs openssl; resolves { code, stdout, stderr } (never rejects on a non-zero exit). */
function openssl(args, { encoding = 'utf8' } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      'openssl',
      args,
      { encoding, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number' && !err.signal) {
          reject(err);
          return;
        }
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr: String(stderr) });
      },
    );
  });
}

async function opensslOk(args) {
  const r = await openssl(args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}


/** A subject object { CN, C, ST, L, O, OU } (any subset) as openssl's -subj string. */
const subjString = (subject) =>
  ['CN', 'C', 'ST', 'L', 'O', 'OU']
    .filter((k) => subject[k] !== undefined)
    .map((k) => `/${k}=${subject[k]}`)
    .join('');

/** The six fields of the object that come from the CSR subject ("" when absent). */
const subjectFields = (subject) => ({
  common_name: subject.CN ?? '',
  country: subject.C ?? '',
  state: subject.ST ?? '',
  location: subject.L ?? '',
  organization: subject.O ?? '',
  organizational_unit: subject.OU ?? '',
});

/**
 * Generates a key and a CSR with `openssl req -new -newkey`. key: 'rsa:2048', 'rsa:1024',
 * 'ec:P-256', 'ec:P-384', 'ec:P-521'. Returns { csr (PEM), pubDer (SPKI DER of the CSR's
 * key, from `openssl req -pubkey`), csrPath, keyPath, subject }.
 */
async function makeCsr(work, { key = 'ec:P-256', subject = { CN: `client-${uniq()}.example.com` } } = {}) {
  const base = path.join(work, `csr-${uniq()}`);
  const keyArgs = key.startsWith('rsa:')
    ? ['-newkey', key]
    : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${key.slice(3)}`];
  await opensslOk([
    'req', '-new', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-utf8',
    '-subj', subjString(subject),
  ]);
  const csr = await fs.readFile(`${base}.csr`, 'utf8');
  const pubPem = await opensslOk(['req', '-in', `${base}.csr`, '-pubkey', '-noout']);
  const pubDer = createPublicKey(pubPem).export({ type: 'spki', format: 'der' });
  return { csr, pubDer, csrPath: `${base}.csr`, keyPath: `${base}.key`, subject };
}

/** PEM armour of DER bytes (64-character lines). */
function toPem(label, der) {
  const b64 = der.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The DER inside a single-block PEM. */
const pemToDer = (pem) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');

/** "AB:CD:…" → "abcd…". */
const hexOf = (colonHex) => colonHex.replace(/[:\s]/g, '').toLowerCase();

/** A serial as a canonical lowercase hex string without leading zeros (for comparisons). */
const serialKey = (hex) => BigInt(`0x${hex}`).toString(16);

/**
 * `openssl x509 -noout -ext …` of a PEM file, parsed into
 * { name: { critical, lines: [..] } } keyed by the extension's printed name.
 */
async function certExtensions(pemPath, names) {
  const out = await opensslOk(['x509', '-in', pemPath, '-noout', '-ext', names.join(',')]);
  const exts = {};
  let cur = null;
  for (const line of out.split('\n')) {
    if (!line.trim()) continue;
    const m = /^(\S.*?):\s*(critical)?\s*$/.exec(line);
    if (m && !line.startsWith(' ')) {
      cur = { critical: m[2] === 'critical', lines: [] };
      exts[m[1]] = cur;
    } else if (cur) {
      cur.lines.push(line.trim());
    }
  }
  return exts;
}

/** The key-identifier hex of an SKI/AKI extension printout ("keyid:" prefix tolerated). */
function keyIdOf(ext, what) {
  assert.ok(ext, `${what} extension missing`);
  const line = ext.lines.find((l) => /^(keyid:)?([0-9A-F]{2}:)+[0-9A-F]{2}$/.test(l));
  assert.ok(line, `${what}: no key identifier in ${JSON.stringify(ext.lines)}`);
  return hexOf(line.replace(/^keyid:/, ''));
}

/** The subject lines of an X509Certificate as { CN, C, … }. */
function nameMap(dn) {
  const out = {};
  for (const line of dn.split('\n')) {
    if (!line) continue;
    const i = line.indexOf('=');
    assert.ok(!(line.slice(0, i) in out), `repeated attribute in ${dn}`);
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** Fetches and checks the published CA of an account; writes it to work/ca-<account>.pem. */
async function fetchCa(server, accountId, work) {
  const res = await request(server, 'GET', `/pki/accounts/${accountId}/client-ca.pem`);
  assert.equal(res.status, 200, `client-ca.pem: ${res.text}`);
  assert.match(res.text, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/, 'client-ca.pem is one PEM certificate');
  const x509 = new X509Certificate(res.text);
  const caPath = path.join(work, `ca-${accountId}.pem`);
  await fs.writeFile(caPath, res.text);
  const exts = await certExtensions(caPath, ['basicConstraints', 'keyUsage', 'subjectKeyIdentifier']);
  return { pem: res.text, x509, path: caPath, exts, ski: keyIdOf(exts['X509v3 Subject Key Identifier'], 'CA SKI') };
}

/**
 * Fetches an account's CRL. Returns { status } for a non-200, else
 * { status, der, text, number (BigInt), serials (Set of serialKey), verified, contentType }.
 */
async function fetchCrl(server, accountId, work, caPath) {
  const res = await fetch(`${server.origin}/pki/accounts/${accountId}/client-ca.crl`, { signal: AbortSignal.timeout(30_000) });
  const der = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status, body: der.toString('utf8') };
  const crlPath = path.join(work, `crl-${uniq()}.der`);
  await fs.writeFile(crlPath, der);
  const text = await opensslOk(['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']);
  const m = /X509v3 CRL Number:\s*(?:critical)?\s*\n\s*(\S+)/.exec(text);
  assert.ok(m, `CRL has no CRL Number:\n${text}`);
  const number = BigInt(m[1]);
  const serials = new Set([...text.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].map((x) => serialKey(x[1])));
  let verified = null;
  if (caPath) {
    const v = await openssl(['crl', '-inform', 'DER', '-in', crlPath, '-CAfile', caPath, '-noout']);
    verified = v.code === 0 && /verify OK/.test(v.stdout + v.stderr);
  }
  return { status: 200, der, text, number, serials, verified, contentType: res.headers.get('content-type') };
}

/**
 * Checks every field of a certificate object against the certificate it carries, the CSR it
 * was made from and the published CA. ctx: { csr: makeCsr() result, validityDays, ca:
 * fetchCa() result, caKind 'rsa'|'ec', before, after (ms, around the creation), work }.
 */
async function assertCertificate(cert, ctx, what = 'certificate') {
  assert.deepEqual(Object.keys(cert).sort(), CERT_KEYS, `${what}: exactly the fields of seed 003`);
  assert.match(cert.id, HEX32, `${what}: id`);
  assert.equal(cert.status, 'active', `${what}: status`);
  assert.equal(cert.csr, ctx.csr.csr, `${what}: csr is the CSR as sent`);
  assert.deepEqual(cert.certificate_authority, { id: cert.certificate_authority.id, name: CA_NAME }, `${what}: certificate_authority`);
  assert.match(cert.certificate_authority.id, UUID, `${what}: certificate_authority.id is a UUID`);
  assert.equal(cert.validity_days, ctx.validityDays, `${what}: validity_days`);
  for (const [k, v] of Object.entries(subjectFields(ctx.csr.subject))) assert.equal(cert[k], v, `${what}: ${k}`);

  assert.match(cert.certificate, /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/, `${what}: certificate is one PEM block`);
  const x509 = new X509Certificate(cert.certificate);

  // Identity of the certificate.
  assert.match(cert.fingerprint_sha256, /^[0-9a-f]{64}$/, `${what}: fingerprint_sha256 format`);
  assert.equal(cert.fingerprint_sha256, x509.fingerprint256.replace(/:/g, '').toLowerCase(), `${what}: fingerprint_sha256`);
  assert.equal(cert.fingerprint_sha256, sha256(x509.raw), `${what}: fingerprint_sha256 is SHA-256 of the DER`);
  assert.match(cert.serial_number, /^[0-9a-f]+$/, `${what}: serial_number is lowercase hex`);
  assert.equal(cert.serial_number, x509.serialNumber.toLowerCase(), `${what}: serial_number`);
  assert.ok(cert.serial_number.length <= 40, `${what}: serial_number longer than 20 bytes`);
  assert.ok(BigInt(`0x${cert.serial_number}`) > 2n ** 64n, `${what}: serial_number is not 20 random bytes: ${cert.serial_number}`);

  // Subject and key come from the CSR; issuer is the CA.
  const expectedSubject = {};
  for (const k of ['CN', 'C', 'ST', 'L', 'O', 'OU']) if (ctx.csr.subject[k] !== undefined) expectedSubject[k] = ctx.csr.subject[k];
  assert.deepEqual(nameMap(x509.subject), expectedSubject, `${what}: certificate subject`);
  assert.equal(x509.issuer, ctx.ca.x509.subject, `${what}: issuer is the CA's subject`);
  assert.deepEqual(
    x509.publicKey.export({ type: 'spki', format: 'der' }),
    ctx.csr.pubDer,
    `${what}: the certificate's public key is the CSR's`,
  );
  assert.equal(x509.ca, false, `${what}: not a CA`);
  assert.deepEqual(x509.keyUsage, [EKU_CLIENT_AUTH], `${what}: extended key usage is clientAuth only`);
  assert.ok(x509.checkIssued(ctx.ca.x509), `${what}: checkIssued(ca)`);
  assert.ok(x509.verify(ctx.ca.x509.publicKey), `${what}: signature verifies with the CA key`);

  // Times: issued_on is "now" to the second; expires_on = issued_on + validity_days.
  assert.match(cert.issued_on, RFC3339_Z, `${what}: issued_on`);
  assert.match(cert.expires_on, RFC3339_Z, `${what}: expires_on`);
  const issued = Date.parse(cert.issued_on);
  const expires = Date.parse(cert.expires_on);
  assert.equal(issued % 1000, 0, `${what}: issued_on is to the second`);
  assert.ok(
    issued >= Math.floor(ctx.before / 1000) * 1000 && issued <= ctx.after,
    `${what}: issued_on ${cert.issued_on} is not within [${new Date(ctx.before).toISOString()}, ${new Date(ctx.after).toISOString()}]`,
  );
  assert.equal(expires - issued, ctx.validityDays * DAY_MS, `${what}: expires_on - issued_on = validity_days`);
  assert.equal(Date.parse(x509.validFrom), issued, `${what}: notBefore = issued_on`);
  assert.equal(Date.parse(x509.validTo), expires, `${what}: notAfter = expires_on`);

  // Signature algorithm as named by the object and as printed by openssl.
  const leafPath = path.join(ctx.work, `leaf-${cert.id}.pem`);
  await fs.writeFile(leafPath, cert.certificate);
  const text = await opensslOk(['x509', '-in', leafPath, '-noout', '-text']);
  const sigAlg = /Signature Algorithm: (\S+)/.exec(text)?.[1];
  if (ctx.caKind === 'rsa') {
    assert.equal(cert.signature, 'SHA256WithRSA', `${what}: signature`);
    assert.equal(sigAlg, 'sha256WithRSAEncryption', `${what}: openssl signature algorithm`);
  } else {
    assert.ok(['ECDSAWithSHA256', 'SHA256WithECDSA'].includes(cert.signature), `${what}: signature ${cert.signature}`);
    assert.equal(sigAlg, 'ecdsa-with-SHA256', `${what}: openssl signature algorithm`);
  }

  // Extensions, as openssl reads them.
  const exts = await certExtensions(leafPath, ['extendedKeyUsage', 'basicConstraints', 'subjectKeyIdentifier', 'authorityKeyIdentifier']);
  assert.deepEqual(exts['X509v3 Extended Key Usage']?.lines, ['TLS Web Client Authentication'], `${what}: EKU is clientAuth only`);
  assert.deepEqual(exts['X509v3 Basic Constraints']?.lines, ['CA:FALSE'], `${what}: CA:FALSE`);
  assert.match(cert.ski, /^[0-9a-f]+$/, `${what}: ski is lowercase hex`);
  assert.equal(keyIdOf(exts['X509v3 Subject Key Identifier'], 'SKI'), cert.ski, `${what}: ski`);
  assert.equal(keyIdOf(exts['X509v3 Authority Key Identifier'], 'AKI'), ctx.ca.ski, `${what}: AKI is the CA's SKI`);

  // A TLS terminator trusting the published CA accepts it as a client certificate, and only so.
  const ok = await openssl(['verify', '-CAfile', ctx.ca.path, '-purpose', 'sslclient', leafPath]);
  assert.equal(ok.code, 0, `${what}: openssl verify -purpose sslclient: ${ok.stdout}${ok.stderr}`);
  assert.equal(ok.stdout.trim(), `${leafPath}: OK`);
  const server = await openssl(['verify', '-CAfile', ctx.ca.path, '-purpose', 'sslserver', leafPath]);
  assert.notEqual(server.code, 0, `${what}: a clientAuth-only certificate must not verify for sslserver`);
  return x509;
}

// ------------------------------------------------------------------------------------------
// API helpers

const ccPath = (zoneId, id) => `/zones/${zoneId}/client_certificates${id ? `/${id}` : ''}`;

/** Timed raw creation: { res, before, after }. */
async function createTimed(server, token, zoneId, body) {
  const before = Date.now();
  const res = await v4(server, 'POST', ccPath(zoneId), { token, json: body });
  return { res, before, after: Date.now() };
}

async function createOk(server, token, zoneId, body, what = 'create') {
  return assertOk(await v4(server, 'POST', ccPath(zoneId), { token, json: body }), what);
}

async function getCert(server, token, zoneId, id) {
  return assertOk(await v4(server, 'GET', ccPath(zoneId, id), { token }), `GET ${id}`);
}

/** One raw list call: { items, info }. */
async function listRaw(server, token, zoneId, query = '') {
  const res = await v4(server, 'GET', `${ccPath(zoneId)}${query ? `?${query}` : ''}`, { token });
  const items = assertOk(res, `GET list ?${query}`);
  assert.ok(Array.isArray(items), 'list result must be an array');
  return { items, info: res.body.result_info };
}

/** Every certificate of a zone under a status filter (walks limit/offset pages of 50, bounded). */
async function listAll(server, token, zoneId, status = 'all') {
  const out = [];
  for (let i = 0; i < 100; i++) {
    const { items, info } = await listRaw(server, token, zoneId, `status=${status}&limit=50&offset=${out.length}`);
    out.push(...items);
    if (items.length === 0 || out.length >= info.total_count) return out;
  }
  throw new Error('listAll: more than 100 pages');
}

/** { status: count } over the five list filters, from total_count. */
async function filterCounts(server, token, zoneId) {
  const counts = {};
  for (const status of ['all', ...STATUSES]) {
    const { items, info } = await listRaw(server, token, zoneId, `status=${status}&per_page=50`);
    assert.equal(info.count, items.length, `status=${status}: count`);
    assert.equal(info.total_count, items.length, `status=${status}: fewer than 50, so all on one page`);
    if (status !== 'all') for (const c of items) assert.equal(c.status, status, `status=${status} returned a ${c.status} certificate`);
    counts[status] = info.total_count;
  }
  return counts;
}

/** Polls GET until the certificate reaches `status` (bounded); returns it. */
async function waitStatus(server, token, zoneId, id, status) {
  return waitFor(
    async () => {
      const c = await getCert(server, token, zoneId, id);
      return c.status === status ? c : null;
    },
    { ...POLL, what: `client certificate ${id} to reach ${status}` },
  );
}

/** Polls the CRL until pred(crl) holds (bounded); returns it. */
async function waitCrl(server, accountId, work, caPath, pred, what) {
  return waitFor(
    async () => {
      const crl = await fetchCrl(server, accountId, work, caPath);
      return crl.status === 200 && pred(crl) ? crl : null;
    },
    { ...POLL, what },
  );
}

/** The object as it should read once its status changed (every other field unchanged). */
const withStatus = (cert, status) => ({ ...cert, status });

/** Asserts a 1406 naming the certificate and its current status. */
function assertBadStatus(res, cert, status, what) {
  const errors = assertErr(res, 400, [1406], what);
  assertNames(errors, cert.id, what);
  assertNames(errors, status, what);
}

/**
 * A fresh account on `server` with a zone:write + ssl:write token, its SDK client, a zone,
 * and a work dir for keys and certificates.
 */


// ------------------------------------------------------------------------------------------

describe('client certificates (RSA client CA, worker on)', () => {
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

  describe('creation: every field against the issued certificate', () => {
    let tn;
    let ca;

    before(async () => {
      tn = await freshTenant(server, dir, root, 'fields');
    });

    test('before the first certificate the account has no CA: client-ca.pem and client-ca.crl → 404', async () => {
      for (const file of ['client-ca.pem', 'client-ca.crl']) {
        const res = await request(server, 'GET', `/pki/accounts/${tn.account.id}/${file}`);
        assert.equal(res.status, 404, `${file} before the CA exists: ${res.text}`);
      }
      const unknown = await request(server, 'GET', `/pki/accounts/${randomId()}/client-ca.pem`);
      assert.equal(unknown.status, 404, 'unknown account');
    });

    test('RSA-2048 CSR, full subject, default validity (SDK)', async () => {
      const csr = await makeCsr(tn.work, {
        key: 'rsa:2048',
        subject: { CN: 'rsa-client.example.com', C: 'US', ST: 'California', L: 'San Francisco', O: 'Example Inc', OU: 'Platform Security' },
      });
      const before = Date.now();
      const cert = await tn.client.clientCertificates.create({ zone_id: tn.zone.id, csr: csr.csr });
      const afterTs = Date.now();
      ca = await fetchCa(server, tn.account.id, tn.work);
      await assertCertificate(cert, { csr, validityDays: 3650, ca, caKind: 'rsa', before, after: afterTs, work: tn.work }, 'RSA CSR');

      assert.deepEqual(await tn.client.clientCertificates.get(cert.id, { zone_id: tn.zone.id }), cert, 'SDK GET returns the same object');
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, cert.id), cert, 'raw GET returns the same object');
    });

    test('the published CA: self-signed RSA-2048, CA:TRUE, signs certificates and CRLs; empty CRL right after the first certificate', async () => {
      assert.ok(ca, 'depends on the previous test');
      assert.equal(ca.x509.ca, true, 'CA flag');
      assert.ok(ca.x509.checkIssued(ca.x509) && ca.x509.verify(ca.x509.publicKey), 'single level: the CA is self-signed');
      assert.equal(ca.x509.publicKey.asymmetricKeyType, 'rsa');
      assert.equal(ca.x509.publicKey.asymmetricKeyDetails.modulusLength, 2048);
      const bc = ca.exts['X509v3 Basic Constraints'];
      assert.equal(bc?.critical, true, 'basicConstraints is critical');
      assert.equal(bc.lines.length, 1);
      assert.match(bc.lines[0], /^CA:TRUE(, pathlen:0)?$/, 'a CA that signs leaves directly');
      const ku = ca.exts['X509v3 Key Usage']?.lines.join(',') ?? '';
      assert.ok(/Certificate Sign/.test(ku) && /CRL Sign/.test(ku), `CA key usage: ${ku}`);
      const again = await request(server, 'GET', `/pki/accounts/${tn.account.id}/client-ca.pem`);
      assert.equal(again.text, ca.pem, 'the CA is stable');

      const crl = await fetchCrl(server, tn.account.id, tn.work, ca.path);
      assert.equal(crl.status, 200);
      assert.match(String(crl.contentType), /^application\/pkix-crl\b/);
      assert.equal(crl.serials.size, 0, `the CRL is empty:\n${crl.text}`);
      assert.match(crl.text, /No Revoked Certificates/);
      assert.equal(crl.verified, true, 'CRL signature verifies against the CA');
      assert.ok(crl.text.includes(`Issuer: ${(await opensslOk(['x509', '-in', ca.path, '-noout', '-subject'])).replace(/^subject=/, '').trim()}`), 'CRL issuer is the CA');
      const nextUpdate = /Next Update: (.+)/.exec(crl.text)?.[1];
      assert.ok(nextUpdate && Date.parse(nextUpdate) > Date.now(), `CRL nextUpdate in the future: ${nextUpdate}`);
    });

    test('EC P-256 CSR, full UTF-8 subject, validity_days 397 (raw HTTP)', async () => {
      const csr = await makeCsr(tn.work, {
        key: 'ec:P-256',
        subject: { CN: 'ec-client.example.ch', C: 'CH', ST: 'Zürich', L: 'Winterthur', O: 'Exämple AG', OU: 'Mobile Apps' },
      });
      const { res, before, after: afterTs } = await createTimed(server, tn.token, tn.zone.id, { csr: csr.csr, validity_days: 397 });
      const cert = assertOk(res, 'POST EC CSR');
      assert.deepEqual(res.body.messages, []);
      assert.ok(!('result_info' in res.body), 'a single object has no result_info');
      await assertCertificate(cert, { csr, validityDays: 397, ca, caKind: 'rsa', before, after: afterTs, work: tn.work }, 'EC CSR');
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, cert.id), cert, 'GET returns the same object');
    });

    test('EC P-384 CSR, validity_days 1 (minimum); RSA-2048 with validity_days 3650 (maximum)', async () => {
      for (const [key, days] of [['ec:P-384', 1], ['rsa:2048', 3650]]) {
        const csr = await makeCsr(tn.work, { key, subject: { CN: `bounds-${days}.example.com`, O: 'Bounds' } });
        const { res, before, after: afterTs } = await createTimed(server, tn.token, tn.zone.id, { csr: csr.csr, validity_days: days });
        const cert = assertOk(res, `${key} validity ${days}`);
        await assertCertificate(cert, { csr, validityDays: days, ca, caKind: 'rsa', before, after: afterTs, work: tn.work }, `${key} validity ${days}`);
      }
    });

    test('partial subjects: absent attributes are ""', async () => {
      for (const subject of [{ CN: 'cn-only.example.com' }, { O: 'Org Without CN', C: 'DE' }]) {
        const csr = await makeCsr(tn.work, { key: 'ec:P-256', subject });
        const { res, before, after: afterTs } = await createTimed(server, tn.token, tn.zone.id, { csr: csr.csr });
        const cert = assertOk(res, `subject ${subjString(subject)}`);
        await assertCertificate(cert, { csr, validityDays: 3650, ca, caKind: 'rsa', before, after: afterTs, work: tn.work }, subjString(subject));
        assert.deepEqual(
          Object.fromEntries(Object.keys(subjectFields({})).map((k) => [k, cert[k]])),
          subjectFields(subject),
        );
      }
    });

    test('every certificate of the account is signed by the same CA; serials and ids are unique', async () => {
      const all = await listAll(server, tn.token, tn.zone.id);
      assert.equal(all.length, 6, 'the 6 certificates created above');
      assert.equal(new Set(all.map((c) => c.certificate_authority.id)).size, 1, 'one CA per account');
      assert.equal(new Set(all.map((c) => c.id)).size, all.length, 'unique ids');
      assert.equal(new Set(all.map((c) => c.serial_number)).size, all.length, 'unique serials');
      assert.equal(new Set(all.map((c) => c.fingerprint_sha256)).size, all.length, 'unique fingerprints');
      for (const c of all) assert.ok(new X509Certificate(c.certificate).checkIssued(ca.x509));
    });

    test('another account gets its own CA', async () => {
      const other = await freshTenant(server, dir, root, 'fields-other');
      const csr = await makeCsr(other.work);
      const cert = await createOk(server, other.token, other.zone.id, { csr: csr.csr });
      const otherCa = await fetchCa(server, other.account.id, other.work);
      assert.notEqual(otherCa.pem, ca.pem, 'a different CA certificate');
      const mine = await listAll(server, tn.token, tn.zone.id);
      assert.notEqual(cert.certificate_authority.id, mine[0].certificate_authority.id, 'a different CA id');
      assert.ok(new X509Certificate(cert.certificate).checkIssued(otherCa.x509));
      assert.ok(!new X509Certificate(cert.certificate).verify(ca.x509.publicKey), 'not signed by the first account\'s CA');
    });
  });

  describe('bad CSRs and validity_days → 400 1004, nothing stored', () => {
    let tn;
    let good;
    const bad = {};

    before(async () => {
      tn = await freshTenant(server, dir, root, 'badcsr');
      good = await makeCsr(tn.work, { key: 'rsa:2048', subject: { CN: 'good.example.com' } });
      // A tampered signature: flip one byte near the end of the DER (inside the signature).
      const der = pemToDer(good.csr);
      der[der.length - 10] ^= 0x01;
      bad.tampered = toPem('CERTIFICATE REQUEST', der);
      bad.rsa1024 = (await makeCsr(tn.work, { key: 'rsa:1024', subject: { CN: 'rsa1024.example.com' } })).csr;
      bad.p521 = (await makeCsr(tn.work, { key: 'ec:P-521', subject: { CN: 'p521.example.com' } })).csr;
      const certPath = path.join(tn.work, 'selfsigned.pem');
      await opensslOk([
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', path.join(tn.work, 'selfsigned.key'), '-out', certPath, '-subj', '/CN=self.example.com', '-days', '30',
      ]);
      bad.certificate = await fs.readFile(certPath, 'utf8');
      bad.privateKey = await fs.readFile(good.keyPath, 'utf8');
      const lines = good.csr.trim().split('\n');
      bad.truncated = `${lines.slice(0, Math.floor(lines.length / 2)).join('\n')}\n${lines[lines.length - 1]}\n`;
    });

    test('the controls: the good CSR parses and the tampered one does not (openssl)', async () => {
      // openssl 3.0 `req -verify` exits 0 either way; its verdict is the printed line.
      const okV = await openssl(['req', '-in', good.csrPath, '-noout', '-verify']);
      assert.match(okV.stdout + okV.stderr, /self-signature verify OK/, 'the good CSR verifies');
      const tamperedPath = path.join(tn.work, 'tampered.csr');
      await fs.writeFile(tamperedPath, bad.tampered);
      const badV = await openssl(['req', '-in', tamperedPath, '-noout', '-verify']);
      assert.match(badV.stdout + badV.stderr, /self-signature verify failure/, 'openssl must reject the tampered CSR');
    });

    const csrCases = [
      ['garbage text', () => 'this is not a certificate signing request'],
      ['empty string', () => ''],
      ['tampered signature', () => bad.tampered],
      ['truncated PEM', () => bad.truncated],
      ['RSA-1024 key', () => bad.rsa1024],
      ['EC P-521 key', () => bad.p521],
      ['a certificate PEM instead of a CSR', () => bad.certificate],
      ['a private key PEM instead of a CSR', () => bad.privateKey],
      // SPEC §9 bounds PEM input to 64 KiB: a valid CSR behind 70 KiB of leading text.
      ['over 64 KiB (a valid CSR after 70 KiB of text)', () => `${'padding text line\n'.repeat(4000)}${good.csr}`],
    ];
    for (const [label, csrOf] of csrCases) {
      test(`csr: ${label}`, async () => {
        const res = await v4(server, 'POST', ccPath(tn.zone.id), { token: tn.token, json: { csr: csrOf() } });
        const errors = assertErr(res, 400, [1004], label);
        assertNames(errors, 'csr', label);
        if (label.startsWith('a private key')) assert.ok(!res.text.includes('PRIVATE KEY'), 'a private key must not be echoed');
        await expectSdkError(tn.client.clientCertificates.create({ zone_id: tn.zone.id, csr: csrOf() }), 400, [1004], `SDK ${label}`);
      });
    }

    const bodyCases = [
      ['missing csr', () => ({}), 'csr'],
      ['missing csr, validity_days only', () => ({ validity_days: 30 }), 'csr'],
      ['csr of the wrong type (number)', () => ({ csr: 42 }), 'csr'],
      ['csr null', () => ({ csr: null }), 'csr'],
      ['validity_days 0', () => ({ csr: good.csr, validity_days: 0 }), 'validity_days'],
      ['validity_days 4000', () => ({ csr: good.csr, validity_days: 4000 }), 'validity_days'],
      ['validity_days 3651', () => ({ csr: good.csr, validity_days: 3651 }), 'validity_days'],
      ['validity_days -1', () => ({ csr: good.csr, validity_days: -1 }), 'validity_days'],
      ['validity_days 1.5', () => ({ csr: good.csr, validity_days: 1.5 }), 'validity_days'],
      ['validity_days "30" (string)', () => ({ csr: good.csr, validity_days: '30' }), 'validity_days'],
    ];
    for (const [label, bodyOf, field] of bodyCases) {
      test(label, async () => {
        const res = await v4(server, 'POST', ccPath(tn.zone.id), { token: tn.token, json: bodyOf() });
        assertNames(assertErr(res, 400, [1004], label), field, label);
      });
    }

    test('nothing was stored and no CA was created; then the good CSR is accepted', async () => {
      const { items, info } = await listRaw(server, tn.token, tn.zone.id);
      assert.deepEqual(items, []);
      assert.equal(info.total_count, 0);
      for (const file of ['client-ca.pem', 'client-ca.crl']) {
        const res = await request(server, 'GET', `/pki/accounts/${tn.account.id}/${file}`);
        assert.equal(res.status, 404, `${file} after only rejected requests: ${res.text}`);
      }
      await expectSdkError(
        tn.client.clientCertificates.create({ zone_id: tn.zone.id, csr: good.csr, validity_days: 0 }),
        400,
        [1004],
        'SDK validity_days 0',
      );
      const cert = await tn.client.clientCertificates.create({ zone_id: tn.zone.id, csr: good.csr, validity_days: 30 });
      assert.equal(cert.validity_days, 30);
      const after1 = await listRaw(server, tn.token, tn.zone.id);
      assert.deepEqual(after1.items.map((c) => c.id), [cert.id]);
      assert.equal(after1.info.total_count, 1);
      const crl = await fetchCrl(server, tn.account.id, tn.work);
      assert.equal(crl.status, 200, 'the CRL exists once the CA does');
      assert.equal(crl.serials.size, 0);
    });
  });

  describe('pagination over 25 certificates', () => {
    let tn;
    let created; // [{ cert, sentAt, ackAt }]
    let order; // ids in list order (per_page 50)

    before(async () => {
      tn = await freshTenant(server, dir, root, 'paging');
      const csrs = await mapLimit(Array.from({ length: 25 }, (_, i) => i), 8, (i) =>
        makeCsr(tn.work, { key: 'ec:P-256', subject: { CN: `page-${String(i).padStart(2, '0')}.example.com` } }),
      );
      let inFlight = 0;
      let maxInFlight = 0;
      created = await mapLimit(csrs, 8, async (csr) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const sentAt = performance.now();
        const res = await v4(server, 'POST', ccPath(tn.zone.id), { token: tn.token, json: { csr: csr.csr } });
        const ackAt = performance.now();
        inFlight--;
        return { cert: assertOk(res, 'create for paging'), sentAt, ackAt };
      });
      assert.ok(maxInFlight <= 8);
    });

    test('per_page 10 → pages of 10/10/5, result_info exact, no duplicates, creation order', async () => {
      const ids = [];
      const byId = new Map(created.map((c) => [c.cert.id, c.cert]));
      const counts = [10, 10, 5];
      for (let page = 1; page <= 3; page++) {
        const { items, info } = await listRaw(server, tn.token, tn.zone.id, `per_page=10&page=${page}`);
        assert.deepEqual(info, { page, per_page: 10, count: counts[page - 1], total_count: 25, total_pages: 3 }, `page ${page}`);
        for (const c of items) assert.deepEqual(c, byId.get(c.id), 'a listed certificate equals the created one');
        ids.push(...items.map((c) => c.id));
      }
      assert.equal(new Set(ids).size, 25, 'no duplicates');
      assert.deepEqual(new Set(ids), new Set(byId.keys()), 'exactly the created certificates');

      // Creation order: a certificate acknowledged before another was requested comes first,
      // and issued_on never goes backwards along the list.
      const pos = new Map(ids.map((id, i) => [id, i]));
      let constraints = 0;
      for (const a of created) {
        for (const b of created) {
          if (a.ackAt < b.sentAt) {
            constraints++;
            assert.ok(pos.get(a.cert.id) < pos.get(b.cert.id), `${a.cert.common_name} was created before ${b.cert.common_name} but is listed after it`);
          }
        }
      }
      assert.ok(constraints > 0, 'the creations overlapped completely: no order to check');
      for (let i = 1; i < ids.length; i++) {
        assert.ok(Date.parse(byId.get(ids[i - 1]).issued_on) <= Date.parse(byId.get(ids[i]).issued_on), 'issued_on goes backwards in the list');
      }
      order = ids;

      const all = await listRaw(server, tn.token, tn.zone.id, 'per_page=50');
      assert.deepEqual(all.items.map((c) => c.id), order, 'per_page 50: the same order');
      assert.deepEqual(all.info, { page: 1, per_page: 50, count: 25, total_count: 25, total_pages: 1 });
    });

    test('default page size 20; page past the end → empty', async () => {
      assert.ok(order, 'depends on the previous test');
      const first = await listRaw(server, tn.token, tn.zone.id);
      assert.deepEqual(first.items.map((c) => c.id), order.slice(0, 20));
      assert.deepEqual(first.info, { page: 1, per_page: 20, count: 20, total_count: 25, total_pages: 2 });
      const past = await listRaw(server, tn.token, tn.zone.id, 'per_page=10&page=4');
      assert.deepEqual(past.items, []);
      assert.deepEqual(past.info, { page: 4, per_page: 10, count: 0, total_count: 25, total_pages: 3 });
    });

    test('limit/offset', async () => {
      assert.ok(order, 'depends on the first pagination test');
      const last = await listRaw(server, tn.token, tn.zone.id, 'limit=10&offset=20');
      assert.deepEqual(last.items.map((c) => c.id), order.slice(20), 'limit 10 offset 20 → the last 5');
      assert.deepEqual(last.info, { page: 3, per_page: 10, count: 5, total_count: 25, total_pages: 3 });

      const unaligned = await listRaw(server, tn.token, tn.zone.id, 'limit=7&offset=3');
      assert.deepEqual(unaligned.items.map((c) => c.id), order.slice(3, 10), 'limit 7 offset 3');
      assert.equal(unaligned.info.count, 7);
      assert.equal(unaligned.info.total_count, 25);

      const onlyLimit = await listRaw(server, tn.token, tn.zone.id, 'limit=4');
      assert.deepEqual(onlyLimit.items.map((c) => c.id), order.slice(0, 4), 'limit alone: offset 0');
      const onlyOffset = await listRaw(server, tn.token, tn.zone.id, 'offset=22');
      assert.deepEqual(onlyOffset.items.map((c) => c.id), order.slice(22), 'offset alone');
      const beyond = await listRaw(server, tn.token, tn.zone.id, 'limit=10&offset=25');
      assert.deepEqual(beyond.items, []);
      assert.equal(beyond.info.total_count, 25);

      const sdk = await tn.client.clientCertificates.list({ zone_id: tn.zone.id, limit: 10, offset: 20 });
      assert.deepEqual(sdk.result.map((c) => c.id), order.slice(20), 'SDK limit/offset');
    });

    test('SDK auto-pagination (for await) yields all 25 once, in order', async () => {
      assert.ok(order, 'depends on the first pagination test');
      const ids = [];
      for await (const c of tn.client.clientCertificates.list({ zone_id: tn.zone.id, per_page: 10 })) {
        ids.push(c.id);
        if (ids.length > 100) assert.fail('auto-pagination does not terminate');
      }
      assert.deepEqual(ids, order);
      const page2 = await tn.client.clientCertificates.list({ zone_id: tn.zone.id, per_page: 10, page: 2, status: 'all' });
      assert.deepEqual(page2.result.map((c) => c.id), order.slice(10, 20), 'SDK page 2');
    });

    test('status filter on an all-active zone', async () => {
      assert.deepEqual(await filterCounts(server, tn.token, tn.zone.id), {
        all: 25,
        active: 25,
        pending_reactivation: 0,
        pending_revocation: 0,
        revoked: 0,
      });
      const active = await tn.client.clientCertificates.list({ zone_id: tn.zone.id, status: 'active', per_page: 50 });
      assert.deepEqual(active.result.map((c) => c.id), order);
    });

    for (const query of ['per_page=0', 'per_page=51', 'page=0', 'limit=0', 'limit=51', 'offset=-1', 'status=bogus', 'status=ACTIVE']) {
      test(`invalid query ${query} → 400 1004 naming the parameter`, async () => {
        const res = await v4(server, 'GET', `${ccPath(tn.zone.id)}?${query}`, { token: tn.token });
        assertNames(assertErr(res, 400, [1004], query), query.split('=')[0], query);
      });
    }
  });

  describe('life cycle with the worker: revoke → revoked → CRL', () => {
    let tn;
    let ca;
    let certs; // A, B, C, D
    let crl0;

    before(async () => {
      tn = await freshTenant(server, dir, root, 'life');
      certs = [];
      for (const name of ['a', 'b', 'c', 'd']) {
        const csr = await makeCsr(tn.work, { key: 'ec:P-256', subject: { CN: `life-${name}.example.com` } });
        certs.push(await createOk(server, tn.token, tn.zone.id, { csr: csr.csr }));
      }
      ca = await fetchCa(server, tn.account.id, tn.work);
      crl0 = await fetchCrl(server, tn.account.id, tn.work, ca.path);
    });

    test('DELETE → pending_revocation (SDK and raw) → revoked; the serials appear in a newer, verifying CRL', async () => {
      const [a, b, c, d] = certs;
      assert.equal(crl0.status, 200);
      assert.equal(crl0.serials.size, 0);

      const delA = await tn.client.clientCertificates.delete(a.id, { zone_id: tn.zone.id });
      assert.deepEqual(delA, withStatus(a, 'pending_revocation'), 'DELETE returns the certificate in pending_revocation');
      const delB = assertOk(await v4(server, 'DELETE', ccPath(tn.zone.id, b.id), { token: tn.token }), 'DELETE b');
      assert.deepEqual(delB, withStatus(b, 'pending_revocation'));

      assert.deepEqual(await waitStatus(server, tn.token, tn.zone.id, a.id, 'revoked'), withStatus(a, 'revoked'));
      assert.deepEqual(await waitStatus(server, tn.token, tn.zone.id, b.id, 'revoked'), withStatus(b, 'revoked'));
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, c.id), c, 'the others are untouched');
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, d.id), d, 'the others are untouched');

      const want = new Set([serialKey(a.serial_number), serialKey(b.serial_number)]);
      const crl = await waitCrl(
        server,
        tn.account.id,
        tn.work,
        ca.path,
        (x) => [...want].every((s) => x.serials.has(s)),
        'the revoked serials in the CRL',
      );
      assert.deepEqual(crl.serials, want, `exactly the revoked serials:\n${crl.text}`);
      assert.ok(crl.number > crl0.number, `the CRL number increases (${crl0.number} → ${crl.number})`);
      assert.equal(crl.verified, true, 'the CRL verifies against the CA ("verify OK")');
      // openssl prints serials in upper-case hex.
      for (const s of [a.serial_number, b.serial_number]) {
        assert.ok(crl.text.toUpperCase().includes(s.toUpperCase()), `serial ${s} in openssl's CRL text`);
      }

      // A TLS terminator with the CRL refuses the revoked certificate and accepts the others.
      const crlPem = path.join(tn.work, 'crl.pem');
      await fs.writeFile(crlPem, toPem('X509 CRL', crl.der));
      for (const [cert, ok] of [[a, false], [c, true]]) {
        const leaf = path.join(tn.work, `chk-${cert.id}.pem`);
        await fs.writeFile(leaf, cert.certificate);
        const v = await openssl(['verify', '-crl_check', '-CAfile', ca.path, '-CRLfile', crlPem, '-purpose', 'sslclient', leaf]);
        if (ok) assert.equal(v.code, 0, `${cert.common_name} with the CRL: ${v.stdout}${v.stderr}`);
        else {
          assert.notEqual(v.code, 0, `${cert.common_name} is revoked but verifies with the CRL`);
          assert.match(v.stdout + v.stderr, /certificate revoked/);
        }
      }

      assert.deepEqual(await filterCounts(server, tn.token, tn.zone.id), {
        all: 4,
        active: 2,
        pending_reactivation: 0,
        pending_revocation: 0,
        revoked: 2,
      });
      const revoked = await tn.client.clientCertificates.list({ zone_id: tn.zone.id, status: 'revoked' });
      assert.deepEqual(revoked.result.map((x) => x.id), [a.id, b.id]);
      const active = await listRaw(server, tn.token, tn.zone.id, 'status=active');
      assert.deepEqual(active.items.map((x) => x.id), [c.id, d.id]);
    });

    test('revoked and active certificates refuse the wrong transition: 400 1406, nothing changes', async () => {
      const [a, , c] = certs;
      assertBadStatus(await v4(server, 'PATCH', ccPath(tn.zone.id, a.id), { token: tn.token, json: {} }), a, 'revoked', 'PATCH revoked');
      assertBadStatus(await v4(server, 'PATCH', ccPath(tn.zone.id, a.id), { token: tn.token, json: { reactivate: true } }), a, 'revoked', 'PATCH revoked {reactivate:true}');
      await expectSdkError(tn.client.clientCertificates.edit(a.id, { zone_id: tn.zone.id, reactivate: true }), 400, [1406], 'SDK PATCH revoked');
      assertBadStatus(await v4(server, 'DELETE', ccPath(tn.zone.id, a.id), { token: tn.token }), a, 'revoked', 'DELETE revoked');
      await expectSdkError(tn.client.clientCertificates.delete(a.id, { zone_id: tn.zone.id }), 400, [1406], 'SDK DELETE revoked');
      assertBadStatus(await v4(server, 'PATCH', ccPath(tn.zone.id, c.id), { token: tn.token, json: {} }), c, 'active', 'PATCH active');
      await expectSdkError(tn.client.clientCertificates.edit(c.id, { zone_id: tn.zone.id, reactivate: true }), 400, [1406], 'SDK PATCH active');

      await sleep(300); // nothing was enqueued: give a stray job the chance to show
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, a.id), withStatus(a, 'revoked'));
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, c.id), c);
    });

    test('unknown or malformed certificate id in a visible zone → 404 1472 naming the id', async () => {
      for (const id of [randomId(), 'not-an-id']) {
        for (const method of ['GET', 'DELETE', 'PATCH']) {
          const res = await v4(server, method, ccPath(tn.zone.id, id), { token: tn.token, ...(method === 'PATCH' ? { json: {} } : {}) });
          assertNames(assertErr(res, 404, [1472], `${method} ${id}`), id, `${method} ${id}`);
        }
      }
      await expectSdkError(tn.client.clientCertificates.get(randomId(), { zone_id: tn.zone.id }), 404, [1472], 'SDK GET unknown');
      const { info } = await listRaw(server, tn.token, tn.zone.id);
      assert.equal(info.total_count, 4, 'nothing created');
    });
  });

  describe('isolation and permissions', () => {
    let tn;
    let cert;

    before(async () => {
      tn = await freshTenant(server, dir, root, 'iso');
      const csr = await makeCsr(tn.work);
      cert = await createOk(server, tn.token, tn.zone.id, { csr: csr.csr });
    });

    /** [label, method, path(zoneId), body?] for every client-certificate route. */
    const routes = () => {
      const csrBody = { csr: cert.csr };
      return [
        ['list', 'GET', (z) => ccPath(z)],
        ['create', 'POST', (z) => ccPath(z), csrBody],
        ['get', 'GET', (z) => ccPath(z, cert.id)],
        ['revoke', 'DELETE', (z) => ccPath(z, cert.id)],
        ['reactivate', 'PATCH', (z) => ccPath(z, cert.id), {}],
      ];
    };

    async function assertUnchanged() {
      assert.deepEqual(await getCert(server, tn.token, tn.zone.id, cert.id), cert, 'the certificate is unchanged');
      const { items } = await listRaw(server, tn.token, tn.zone.id);
      assert.deepEqual(items.map((c) => c.id), [cert.id], 'nothing created');
    }

    test("another account's ssl:write token → 400 [7003, 7000], identical to an unknown zone id", async () => {
      const other = await createAccount(dir, `iso-other-${uniq()}`);
      const { token } = await createToken(dir, other.id, ['ssl:write']);
      for (const [label, method, p, json] of routes()) {
        const unknownZone = randomId();
        const res = await v4(server, method, p(tn.zone.id), { token, json });
        const ref = await v4(server, method, p(unknownZone), { token, json });
        assertZoneNotFound(res, tn.zone.id, `${label} on another account's zone`);
        assertZoneNotFound(ref, unknownZone, `${label} on an unknown zone`);
        assert.equal(res.status, ref.status);
        assert.equal(res.text.split(tn.zone.id).join('<ZONE>'), ref.text.split(unknownZone).join('<ZONE>'), `${label}: identical bodies apart from the id`);
      }
      const sdk = tokenClient(server, token);
      await expectSdkError(sdk.clientCertificates.get(cert.id, { zone_id: tn.zone.id }), 400, [7003, 7000], 'SDK get');
      await expectSdkError(sdk.clientCertificates.create({ zone_id: tn.zone.id, csr: cert.csr }), 400, [7003, 7000], 'SDK create');
      await assertUnchanged();
      const otherCa = await request(server, 'GET', `/pki/accounts/${other.id}/client-ca.pem`);
      assert.equal(otherCa.status, 404, 'the other account got no CA from the refused create');
    });

    test('a token scoped to another zone of the same account → 400 [7003, 7000]', async () => {
      const otherZone = await createZoneRaw(server, tn.token, `iso-z2-${uniq()}.example.com`, tn.account.id);
      const { token } = await createToken(dir, tn.account.id, ['ssl:write'], { zones: [otherZone.id] });
      for (const [label, method, p, json] of routes()) {
        assertZoneNotFound(await v4(server, method, p(tn.zone.id), { token, json }), tn.zone.id, label);
      }
      assertOk(await v4(server, 'GET', ccPath(otherZone.id), { token }), 'its own zone is fine');
      await assertUnchanged();
    });

    test('a zone:read-only token → 403 9109 on every route', async () => {
      const { token } = await createToken(dir, tn.account.id, ['zone:read']);
      for (const [label, method, p, json] of routes()) {
        const errors = assertErr(await v4(server, method, p(tn.zone.id), { token, json }), 403, [9109], label);
        assert.ok(errors[0].message.startsWith(MSG.unauthorized), `${label}: ${errors[0].message}`);
      }
      await expectSdkError(tokenClient(server, token).clientCertificates.list({ zone_id: tn.zone.id }), 403, [9109], 'SDK list');
      await assertUnchanged();
    });

    test('an ssl:read token reads but cannot create, revoke or reactivate (403 9109)', async () => {
      const { token } = await createToken(dir, tn.account.id, ['ssl:read']);
      for (const [label, method, p, json] of routes()) {
        const res = await v4(server, method, p(tn.zone.id), { token, json });
        if (method === 'GET') assertOk(res, label);
        else assertErr(res, 403, [9109], label);
      }
      await assertUnchanged();
    });

    test('no credentials → 400 9106 on every route', async () => {
      for (const [label, method, p, json] of routes()) {
        const errors = assertErr(await v4(server, method, p(tn.zone.id), { json }), 400, [9106], label);
        assert.equal(errors[0].message, MSG.noCredentials);
      }
      await assertUnchanged();
    });
  });
});

describe('client certificates: EC P-256 client CA (--client-ca-key ec)', () => {
  let root;
  let dir;
  let server;

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
    server = await startServer(dir, ['--client-ca-key', 'ec']);
  });

  after(async () => {
    await stopAllClean([server]);
  });

  test('RSA and EC CSRs signed by an EC P-256 CA; revocation gives a CRL signed by it', HEAVY, async () => {
    const tn = await freshTenant(server, dir, root, 'ecca');
    const out = [];
    let ca;
    for (const [key, subject] of [
      ['rsa:2048', { CN: 'rsa-under-ec.example.com', C: 'FR', ST: 'Île-de-France', L: 'Paris', O: 'Exemple SA', OU: 'Ops' }],
      ['ec:P-256', { CN: 'ec-under-ec.example.com', C: 'JP', ST: 'Tokyo', L: 'Chiyoda', O: 'Example KK', OU: 'Dev' }],
    ]) {
      const csr = await makeCsr(tn.work, { key, subject });
      const { res, before, after: afterTs } = await createTimed(server, tn.token, tn.zone.id, { csr: csr.csr, validity_days: 90 });
      const cert = assertOk(res, key);
      ca ??= await fetchCa(server, tn.account.id, tn.work);
      await assertCertificate(cert, { csr, validityDays: 90, ca, caKind: 'ec', before, after: afterTs, work: tn.work }, `${key} under an EC CA`);
      out.push(cert);
    }
    assert.equal(ca.x509.publicKey.asymmetricKeyType, 'ec');
    assert.equal(ca.x509.publicKey.asymmetricKeyDetails.namedCurve, 'prime256v1');
    assert.equal(ca.x509.ca, true);
    assert.ok(ca.x509.checkIssued(ca.x509) && ca.x509.verify(ca.x509.publicKey), 'self-signed');

    const crl0 = await fetchCrl(server, tn.account.id, tn.work, ca.path);
    assert.equal(crl0.verified, true, 'the empty CRL verifies');
    const del = await tn.client.clientCertificates.delete(out[0].id, { zone_id: tn.zone.id });
    assert.equal(del.status, 'pending_revocation');
    await waitStatus(server, tn.token, tn.zone.id, out[0].id, 'revoked');
    const crl = await waitCrl(server, tn.account.id, tn.work, ca.path, (x) => x.serials.has(serialKey(out[0].serial_number)), 'the revoked serial in the CRL');
    assert.deepEqual(crl.serials, new Set([serialKey(out[0].serial_number)]));
    assert.ok(crl.number > crl0.number);
    assert.equal(crl.verified, true, 'the CRL verifies against the EC CA');
    assert.match(crl.text, /Signature Algorithm: ecdsa-with-SHA256/);
  });
});

describe('client certificates with --no-worker: pending states hold', () => {
  let root;
  let dir;
  const servers = [];

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
    servers.push(await startServer(dir, ['--no-worker']));
  });

  after(async () => {
    await stopAllClean(servers);
  });

  test('DELETE / PATCH give pending states that stay; wrong transitions → 1406; a restart with the worker finishes them', HEAVY, async () => {
    const server = servers[0];
    const tn = await freshTenant(server, dir, root, 'nowork');
    const certs = [];
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      const csr = await makeCsr(tn.work, { key: 'ec:P-256', subject: { CN: `nowork-${name}.example.com` } });
      certs.push(await createOk(server, tn.token, tn.zone.id, { csr: csr.csr }));
    }
    const [a, b, c, d, e] = certs;
    const ca = await fetchCa(server, tn.account.id, tn.work);
    const crl0 = await fetchCrl(server, tn.account.id, tn.work, ca.path);
    assert.equal(crl0.status, 200);
    assert.equal(crl0.serials.size, 0);

    // a, b: revoke. c: revoke then reactivate with {} (raw). d: revoke then reactivate (SDK, reactivate:true).
    for (const x of [a, b, c]) {
      assert.deepEqual(assertOk(await v4(server, 'DELETE', ccPath(tn.zone.id, x.id), { token: tn.token }), `DELETE ${x.common_name}`), withStatus(x, 'pending_revocation'));
    }
    assert.deepEqual(await tn.client.clientCertificates.delete(d.id, { zone_id: tn.zone.id }), withStatus(d, 'pending_revocation'));
    assert.deepEqual(assertOk(await v4(server, 'PATCH', ccPath(tn.zone.id, c.id), { token: tn.token, json: {} }), 'PATCH {}'), withStatus(c, 'pending_reactivation'));
    assert.deepEqual(await tn.client.clientCertificates.edit(d.id, { zone_id: tn.zone.id, reactivate: true }), withStatus(d, 'pending_reactivation'));

    await sleep(1500);
    const expectPending = { [a.id]: 'pending_revocation', [b.id]: 'pending_revocation', [c.id]: 'pending_reactivation', [d.id]: 'pending_reactivation', [e.id]: 'active' };
    for (const x of certs) assert.deepEqual(await getCert(server, tn.token, tn.zone.id, x.id), withStatus(x, expectPending[x.id]), `${x.common_name} after 1.5 s`);
    assert.deepEqual(await filterCounts(server, tn.token, tn.zone.id), {
      all: 5,
      active: 1,
      pending_reactivation: 2,
      pending_revocation: 2,
      revoked: 0,
    });
    const pr = await tn.client.clientCertificates.list({ zone_id: tn.zone.id, status: 'pending_reactivation' });
    assert.deepEqual(pr.result.map((x) => x.id), [c.id, d.id]);

    // Wrong transitions.
    assertBadStatus(await v4(server, 'PATCH', ccPath(tn.zone.id, c.id), { token: tn.token, json: {} }), c, 'pending_reactivation', 'PATCH again');
    await expectSdkError(tn.client.clientCertificates.edit(d.id, { zone_id: tn.zone.id, reactivate: true }), 400, [1406], 'SDK PATCH again');
    assertBadStatus(await v4(server, 'DELETE', ccPath(tn.zone.id, c.id), { token: tn.token }), c, 'pending_reactivation', 'DELETE pending_reactivation');
    assertBadStatus(await v4(server, 'DELETE', ccPath(tn.zone.id, a.id), { token: tn.token }), a, 'pending_revocation', 'DELETE pending_revocation');
    assertBadStatus(await v4(server, 'PATCH', ccPath(tn.zone.id, e.id), { token: tn.token, json: { reactivate: true } }), e, 'active', 'PATCH active');
    for (const x of certs) assert.equal((await getCert(server, tn.token, tn.zone.id, x.id)).status, expectPending[x.id], `${x.common_name} unchanged by refused transitions`);

    const crl1 = await fetchCrl(server, tn.account.id, tn.work, ca.path);
    assert.equal(crl1.serials.size, 0, 'nothing is revoked without the worker');
    assert.equal(crl1.number, crl0.number, 'no new CRL without the worker');

    // Graceful stop, restart with the worker: the queued transitions complete.
    await stopServerExpectClean(server);
    const again = await startServer(dir);
    servers.push(again);
    assert.deepEqual(await waitStatus(again, tn.token, tn.zone.id, a.id, 'revoked'), withStatus(a, 'revoked'));
    assert.deepEqual(await waitStatus(again, tn.token, tn.zone.id, b.id, 'revoked'), withStatus(b, 'revoked'));
    assert.deepEqual(await waitStatus(again, tn.token, tn.zone.id, c.id, 'active'), c);
    assert.deepEqual(await waitStatus(again, tn.token, tn.zone.id, d.id, 'active'), d);
    assert.deepEqual(await getCert(again, tn.token, tn.zone.id, e.id), e);
    assert.deepEqual(await filterCounts(again, tn.token, tn.zone.id), {
      all: 5,
      active: 3,
      pending_reactivation: 0,
      pending_revocation: 0,
      revoked: 2,
    });
    const want = new Set([serialKey(a.serial_number), serialKey(b.serial_number)]);
    const crl = await waitCrl(again, tn.account.id, tn.work, ca.path, (x) => [...want].every((s) => x.serials.has(s)), 'a and b in the CRL');
    assert.deepEqual(crl.serials, want, 'exactly the revoked serials (reactivated ones are not listed)');
    assert.ok(crl.number > crl0.number);
    assert.equal(crl.verified, true);
  });
});

describe('client certificates: durability across kill -9', () => {
  test('kill -9 during 200 concurrent creations: every acknowledged certificate survives unchanged', HEAVY, async (t) => {
    const { root, dir } = await makeInitialisedDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const server = await startServer(dir);
    servers.push(server);
    const tn = await freshTenant(server, dir, root, 'burst');

    const tag = uniq();
    const csrs = await mapLimit(Array.from({ length: 200 }, (_, i) => i), 8, (i) =>
      makeCsr(tn.work, { key: 'ec:P-256', subject: { CN: `burst-${String(i).padStart(3, '0')}-${tag}.example.com` } }),
    );
    // The CA exists before the burst (its creation is not what is under test here).
    const warm = await createOk(server, tn.token, tn.zone.id, { csr: csrs[0].csr }, 'warm-up');
    const caBefore = await fetchCa(server, tn.account.id, tn.work);

    const acked = [];
    const answeredNot200 = [];
    const unanswered = [];
    let next = 1;
    const abort = new AbortController();
    const lane = async () => {
      while (next < csrs.length) {
        const csr = csrs[next++];
        try {
          const res = await fetch(`${server.baseURL}${ccPath(tn.zone.id)}`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${tn.token}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ csr: csr.csr }),
            signal: AbortSignal.any([abort.signal, AbortSignal.timeout(30_000)]),
          });
          const text = await res.text();
          let body;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          if (res.status === 200 && body?.success === true && body.result?.csr === csr.csr) acked.push(body.result);
          else answeredNot200.push({ cn: csr.subject.CN, status: res.status, text });
        } catch {
          unanswered.push(csr.subject.CN); // cut by the kill, or refused afterwards
        }
      }
    };
    const lanes = Array.from({ length: 16 }, lane);
    await waitFor(() => acked.length >= 30 || next >= csrs.length || answeredNot200.length > 0, {
      timeout: 120_000,
      interval: 5,
      what: '30 acknowledged creations',
    });
    await killServer(server);
    assert.equal(server.exitInfo.signal, 'SIGKILL');
    let timer;
    const settled = await Promise.race([
      Promise.all(lanes).then(() => true),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), 35_000);
      }),
    ]);
    clearTimeout(timer); // a pending timer would keep the test process alive
    abort.abort();
    assert.ok(settled, 'the burst did not settle after the kill');
    assert.deepEqual(answeredNot200, [], 'every creation answered before the kill is a 200');
    assert.ok(acked.length >= 30, `only ${acked.length} acknowledged`);
    assert.equal(acked.length + unanswered.length, csrs.length - 1, 'every creation was attempted');
    t.diagnostic(`acknowledged ${acked.length}, unanswered ${unanswered.length}`);

    const again = await startServer(dir);
    servers.push(again);
    const caAfter = await fetchCa(again, tn.account.id, tn.work);
    assert.equal(caAfter.pem, caBefore.pem, 'the same CA after the restart');
    for (const c of [warm, ...acked]) {
      const got = await getCert(again, tn.token, tn.zone.id, c.id);
      assert.deepEqual(got, c, `acknowledged certificate ${c.common_name} after the restart`);
      assert.equal(got.serial_number, c.serial_number);
      assert.equal(got.fingerprint_sha256, c.fingerprint_sha256);
    }
    const listed = await listAll(again, tn.token, tn.zone.id);
    const listedIds = new Set(listed.map((c) => c.id));
    for (const c of [warm, ...acked]) assert.ok(listedIds.has(c.id), `${c.common_name} missing from the list`);
    assert.equal(listedIds.size, listed.length, 'no duplicate ids');
    assert.equal(new Set(listed.map((c) => c.serial_number)).size, listed.length, 'no duplicate serials');
    assert.ok(listed.length <= csrs.length, `${listed.length} certificates listed for ${csrs.length} requests`);
    const sent = new Set(csrs.map((c) => c.csr));
    for (const c of listed) {
      assert.ok(sent.has(c.csr), `unexpected certificate ${c.common_name}`);
      assert.equal(c.status, 'active');
      assert.ok(new X509Certificate(c.certificate).checkIssued(caAfter.x509), `${c.common_name} chains to the CA`);
    }

    // The restarted server signs and revokes normally.
    const extra = await createOk(again, tn.token, tn.zone.id, { csr: csrs[0].csr }, 'after the restart');
    assert.equal(extra.certificate_authority.id, warm.certificate_authority.id);
  });

  test('revocations queued on a --no-worker server survive kill -9 and complete after a restart with the worker', HEAVY, async (t) => {
    const { root, dir } = await makeInitialisedDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const server = await startServer(dir, ['--no-worker']);
    servers.push(server);
    const tn = await freshTenant(server, dir, root, 'jobs');

    const certs = [];
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      const csr = await makeCsr(tn.work, { key: name === 'e' ? 'rsa:2048' : 'ec:P-256', subject: { CN: `jobs-${name}.example.com` } });
      certs.push(await createOk(server, tn.token, tn.zone.id, { csr: csr.csr }));
    }
    const [a, b, c, d, e] = certs;
    const ca = await fetchCa(server, tn.account.id, tn.work);
    const crl0 = await fetchCrl(server, tn.account.id, tn.work, ca.path);
    for (const x of [a, b, c, d]) {
      assert.equal(assertOk(await v4(server, 'DELETE', ccPath(tn.zone.id, x.id), { token: tn.token }), `DELETE ${x.common_name}`).status, 'pending_revocation');
    }
    assert.equal(assertOk(await v4(server, 'PATCH', ccPath(tn.zone.id, d.id), { token: tn.token, json: { reactivate: true } }), 'PATCH d').status, 'pending_reactivation');

    await killServer(server);
    assert.equal(server.exitInfo.signal, 'SIGKILL');

    const again = await startServer(dir);
    servers.push(again);
    for (const x of [a, b, c]) assert.deepEqual(await waitStatus(again, tn.token, tn.zone.id, x.id, 'revoked'), withStatus(x, 'revoked'));
    assert.deepEqual(await waitStatus(again, tn.token, tn.zone.id, d.id, 'active'), d);
    assert.deepEqual(await getCert(again, tn.token, tn.zone.id, e.id), e);

    const want = new Set([a, b, c].map((x) => serialKey(x.serial_number)));
    const crl = await waitCrl(again, tn.account.id, tn.work, ca.path, (x) => [...want].every((s) => x.serials.has(s)), 'a, b, c in the CRL');
    assert.deepEqual(crl.serials, want, `exactly the revoked serials:\n${crl.text}`);
    assert.ok(crl.number > crl0.number);
    assert.equal(crl.verified, true);
    assert.deepEqual(await filterCounts(again, tn.token, tn.zone.id), {
      all: 5,
      active: 2,
      pending_reactivation: 0,
      pending_revocation: 0,
      revoked: 3,
    });
  });
});
