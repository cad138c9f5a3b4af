// Client certificates (SPEC §4.8): the exact bytes of the answers and the certificate as a
// relying party sees it, for the signing path that builds a leaf from its CA's template and
// decodes canonical PEM straight from the text.
//
// - The answer of POST, GET and the list is, byte for byte, jansson's compact text of the
//   object with its members in Cloudflare's order (id, certificate, certificate_authority
//   {id, name}, common_name, ..., validity_days) inside the usual envelope.
// - CSRs in other PEM forms (CRLF line ends, 76-character lines, a blank line after BEGIN,
//   the NEW CERTIFICATE REQUEST label) are signed alike; one with surplus data is refused
//   with the same reason as ever.
// - With --public-url, `openssl verify -x509_strict -purpose sslclient` accepts the leaf under
//   the published CA, and its CRL distribution point and caIssuers URLs name that CA.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { assertErr, freshTenant, makeInitialisedDir, request, startServer, stopAllClean, uniq, v4 } from './harness.mjs';

const PUBLIC_URL = 'https://tlsward.example.test';
const CA_NAME = 'tlsward Managed CA for account';

function openssl(args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, { timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`openssl ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout));
    if (input !== undefined) child.stdin.end(input);
  });
}

/** A fresh EC P-256 (or RSA) CSR as openssl writes it (64-character lines, LF). */
async function makeCsr(work, subj, key = 'ec') {
  const base = path.join(work, `csr-${uniq()}`);
  const keyArgs = key === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-utf8', '-subj', subj]);
  return fs.readFile(`${base}.csr`, 'utf8');
}

/** The same request in another PEM layout: base64 lines of `width`, line end `eol`. */
function relayout(pem, { width = 64, eol = '\n', label = 'CERTIFICATE REQUEST', blankAfterBegin = false } = {}) {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const lines = b64.match(new RegExp(`.{1,${width}}`, 'g'));
  return [`-----BEGIN ${label}-----`, ...(blankAfterBegin ? [''] : []), ...lines, `-----END ${label}-----`, ''].join(eol);
}

/** jansson's compact text of the certificate object, members in Cloudflare's order. */
function expectedText(c) {
  const ordered = {
    id: c.id,
    certificate: c.certificate,
    certificate_authority: { id: c.certificate_authority.id, name: c.certificate_authority.name },
    common_name: c.common_name,
    country: c.country,
    csr: c.csr,
    expires_on: c.expires_on,
    fingerprint_sha256: c.fingerprint_sha256,
    issued_on: c.issued_on,
    location: c.location,
    organization: c.organization,
    organizational_unit: c.organizational_unit,
    serial_number: c.serial_number,
    signature: c.signature,
    ski: c.ski,
    state: c.state,
    status: c.status,
    validity_days: c.validity_days,
  };
  assert.deepEqual(Object.keys(c).sort(), Object.keys(ordered).sort(), 'the object has exactly these members');
  return JSON.stringify(ordered);
}

const envelope = (result) => `{"success":true,"errors":[],"messages":[],"result":${result}}`;

describe('client certificate answers and leaves (template signing path)', () => {
  let root;
  let dir;
  let server;
  let tn;
  const created = [];

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
    server = await startServer(dir, ['--no-worker', '--dcv-mode', 'auto', '--public-url', PUBLIC_URL]);
    tn = await freshTenant(server, dir, root, 'answer');
  });

  after(async () => {
    await stopAllClean([server]);
  });

  test('POST, GET and the list answer with the exact bytes of the object in Cloudflare\'s order', async () => {
    const csrs = [
      await makeCsr(tn.work, '/CN=answer.example.com/C=DE/ST=Bayern/L=München/O=Ünïcode GmbH/OU=Plattform'),
      await makeCsr(tn.work, '/CN=rsa-answer.example.com', 'rsa'),
      await makeCsr(tn.work, '/O=No Common Name Inc'),
    ];
    for (const [i, csr] of csrs.entries()) {
      const res = await v4(server, 'POST', `/zones/${tn.zone.id}/client_certificates`, {
        token: tn.token,
        json: { csr, validity_days: 30 + i },
      });
      assert.equal(res.status, 200, res.text);
      const c = res.body.result;
      assert.equal(res.text, envelope(expectedText(c)), `POST ${i}: exact bytes`);
      assert.equal(c.certificate_authority.name, CA_NAME);
      assert.equal(c.csr, csr, 'the CSR is echoed as sent');
      const get = await v4(server, 'GET', `/zones/${tn.zone.id}/client_certificates/${c.id}`, { token: tn.token });
      assert.equal(get.text, res.text, `GET ${i}: the same bytes as the POST`);
      created.push(c);
    }
    const list = await v4(server, 'GET', `/zones/${tn.zone.id}/client_certificates?per_page=50`, { token: tn.token });
    assert.equal(list.status, 200, list.text);
    const items = list.body.result;
    assert.equal(items.length, created.length);
    const text = list.text;
    for (const c of created) assert.ok(text.includes(expectedText(c)), `list holds the exact text of ${c.id}`);
    // The asynchronous transitions answer with the object too (no worker: they stay pending).
    const last = created[created.length - 1];
    const del = await v4(server, 'DELETE', `/zones/${tn.zone.id}/client_certificates/${last.id}`, { token: tn.token });
    assert.equal(del.status, 200, del.text);
    assert.equal(del.body.result.status, 'pending_revocation');
    assert.equal(del.text, envelope(expectedText(del.body.result)), 'DELETE: exact bytes');
    const re = await v4(server, 'PATCH', `/zones/${tn.zone.id}/client_certificates/${last.id}`, { token: tn.token, json: { reactivate: true } });
    assert.equal(re.status, 200, re.text);
    assert.equal(re.body.result.status, 'pending_reactivation');
    assert.equal(re.text, envelope(expectedText(re.body.result)), 'PATCH: exact bytes');
  });

  test('other PEM layouts of one request are all signed; surplus data is refused as before', async () => {
    const pem = await makeCsr(tn.work, '/CN=layouts.example.com');
    const layouts = {
      crlf: relayout(pem, { eol: '\r\n' }),
      wide: relayout(pem, { width: 76 }),
      blank: relayout(pem, { blankAfterBegin: true }),
      old: relayout(pem, { label: 'NEW CERTIFICATE REQUEST' }),
      unterminated: pem.trimEnd(),
    };
    for (const [name, csr] of Object.entries(layouts)) {
      const res = await v4(server, 'POST', `/zones/${tn.zone.id}/client_certificates`, { token: tn.token, json: { csr } });
      assert.equal(res.status, 200, `${name}: ${res.text}`);
      assert.equal(res.body.result.common_name, 'layouts.example.com', name);
    }
    const res = await v4(server, 'POST', `/zones/${tn.zone.id}/client_certificates`, { token: tn.token, json: { csr: `${pem}garbage\n` } });
    assertErr(res, 400, [1004], 'surplus data');
    assert.match(res.text, /csr: unexpected data after the certificate request/);
  });

  test('openssl verify accepts each leaf under the published CA; its URLs name that CA', async () => {
    const caRes = await request(server, 'GET', `/pki/accounts/${tn.account.id}/client-ca.pem`);
    assert.equal(caRes.status, 200, caRes.text);
    const caPath = path.join(tn.work, 'ca.pem');
    await fs.writeFile(caPath, caRes.text);
    for (const c of created) {
      const leafPath = path.join(tn.work, `leaf-${c.id}.pem`);
      await fs.writeFile(leafPath, c.certificate);
      const out = await openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', caPath, leafPath]);
      assert.match(out, /: OK\s*$/, `openssl verify ${c.id}`);
      const text = await openssl(['x509', '-in', leafPath, '-noout', '-text']);
      assert.ok(text.includes(`URI:${PUBLIC_URL}/pki/accounts/${tn.account.id}/client-ca.crl`), 'CRL distribution point');
      assert.ok(text.includes(`CA Issuers - URI:${PUBLIC_URL}/pki/accounts/${tn.account.id}/client-ca.pem`), 'caIssuers');
    }
  });
});
