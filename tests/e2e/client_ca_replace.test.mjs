// An account's client CA replaced under its id while the server runs (a restored backup,
// another node rewriting the row): the server keeps the unsealed CA key in memory, and the
// next certificate must still be signed by the CA the store holds now, never by the cached
// old key. The replacement is written the way tlsward stores a CA: the certificate in PEM,
// the PKCS#8 key sealed with AES-256-GCM under DATA/master.key (version byte, 12-byte
// nonce, ciphertext, 16-byte tag; associated data "client-ca:<id>").
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createCipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { freshTenant, makeInitialisedDir, startServer, stopAllClean, uniq } from './harness.mjs';

/** Runs a program; resolves its stdout, rejects with its stderr on a non-zero exit. */
function run(file, args) {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args[0]}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A PEM CSR for a fresh P-256 key. */
async function makeCsr(work) {
  const base = path.join(work, `client-${uniq()}`);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${base}.key`, '-subj', `/CN=${path.basename(base)}.example.com`, '-out', `${base}.csr`]);
  return fs.readFile(`${base}.csr`, 'utf8');
}

/** A new self-signed CA (P-256) → { certPem, keyPem }. */
async function makeCa(work) {
  const base = path.join(work, `ca-${uniq()}`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${base}.key`, '-out', `${base}.pem`, '-days', '30', '-subj', '/O=tlsward/CN=replacement client CA',
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { certPem: await fs.readFile(`${base}.pem`, 'utf8'), keyPem: await fs.readFile(`${base}.key`) };
}

/** The key sealed as tlsward seals a client CA's key. */
function seal(masterKey, plain, caId) {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, nonce);
  cipher.setAAD(Buffer.from(`client-ca:${caId}`));
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), nonce, ct, cipher.getAuthTag()]);
}

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

test('a client CA replaced under its id while the server runs signs the next certificate', async () => {
  const tn = await freshTenant(server, dir, root, 'careplace');
  const create = async () =>
    tn.client.clientCertificates.create({ zone_id: tn.zone.id, csr: await makeCsr(tn.work), validity_days: 30 });

  // The first certificate creates the account's CA; the second is signed from the cache.
  const first = await create();
  const caId = first.certificate_authority.id;
  const old = new X509Certificate((await fetch(`${server.origin}/pki/accounts/${tn.account.id}/client-ca.pem`).then((r) => r.text())));
  const second = await create();
  for (const c of [first, second]) assert.ok(new X509Certificate(c.certificate).verify(old.publicKey), 'signed by the first CA');

  // Replace the CA's certificate and sealed key in the store, same id.
  const fresh = await makeCa(tn.work);
  const masterKey = await fs.readFile(path.join(dir, 'master.key'));
  assert.equal(masterKey.length, 32);
  const sealed = seal(masterKey, fresh.keyPem, caId).toString('hex');
  assert.ok(!fresh.certPem.includes("'"));
  await run('sqlite3', ['-cmd', '.timeout 10000', path.join(dir, 'tlsward.db'),
    `UPDATE client_cas SET cert_pem = '${fresh.certPem}', key_sealed = X'${sealed}' WHERE id = '${caId}'`]);
  const published = await fetch(`${server.origin}/pki/accounts/${tn.account.id}/client-ca.pem`).then((r) => r.text());
  assert.equal(published, fresh.certPem, 'the store now publishes the replacement');

  // The next certificates: issued by the replacement, not by the cached old key.
  const replacement = new X509Certificate(fresh.certPem);
  for (let i = 0; i < 2; i++) {
    const cert = await create();
    assert.equal(cert.certificate_authority.id, caId);
    const x = new X509Certificate(cert.certificate);
    assert.ok(x.verify(replacement.publicKey), 'signed by the replacement key');
    assert.ok(!x.verify(old.publicKey), 'not signed by the old key');
    assert.ok(x.checkIssued(replacement), 'issued by the replacement (issuer name and key id)');
  }
});
