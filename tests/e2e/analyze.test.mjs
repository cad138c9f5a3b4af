// SSL analyze (SPEC §4.6) through the official SDK and raw HTTP: the deployed chain of a
// zone's universal pack analysed before and after the built-in root is put in DATA/trust/
// (the trust store is built per request, so no restart is needed), the fields checked
// against node's X509Certificate, each bundle method's chain, bad inputs (400/1004 naming the
// field) and another account's zone (7003/7000).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  RFC3339_Z,
  assertErr,
  assertNames,
  assertOk,
  createAccount,
  createToken,
  createZoneRaw,
  expectSdkError,
  makeInitialisedDir,
  cleanup,
  request,
  startServer,
  stopServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
} from './harness.mjs';

const POLL = { timeout: 30_000, interval: 100 };
const pemBlocks = (text) => text.match(/-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----\n?/g) ?? [];
const norm = (pem) => pem.trim();

describe('POST /zones/{zone_id}/ssl/analyze', () => {
  let ctx;
  let server;
  let client;
  let zone;
  let rootPem;
  let deployed; // leaf then intermediate, as deployed (ecdsa.crt)

  before(async () => {
    ctx = await makeInitialisedDir();
    server = await startServer(ctx.dir);
    client = tokenClient(server, ctx.creds.token);
    const res = await request(server, 'GET', `/pki/accounts/${ctx.creds.account_id}/ca.pem`);
    assert.equal(res.status, 200, `ca.pem: ${res.text}`);
    rootPem = res.text;
    zone = await createZoneRaw(server, ctx.creds.token, `analyze-${uniq()}.example.com`, ctx.creds.account_id);
    const pack = await waitFor(async () => {
      const page = await client.ssl.certificatePacks.list({ zone_id: zone.id });
      return page.result.find((p) => p.type === 'universal' && p.status === 'active');
    }, { ...POLL, what: 'an active universal pack' });
    deployed = await fs.readFile(path.join(ctx.dir, 'deploy', zone.id, pack.id, 'ecdsa.crt'), 'utf8');
    assert.equal(pemBlocks(deployed).length, 2, 'the deployed chain is leaf + intermediate');
  });

  after(async () => {
    if (server && !server.exitInfo) await stopServer(server);
    if (ctx) await cleanup(ctx.root);
  });

  const analyze = (certificate, bundle_method) =>
    client.ssl.analyze.create({ zone_id: zone.id, certificate, ...(bundle_method ? { bundle_method } : {}) }, { maxRetries: 0 });

  test('without DATA/trust the chain is untrusted, with the reason', async () => {
    const r = await analyze(deployed);
    assert.equal(r.trusted, false);
    assert.deepEqual(r.errors, ['unable to get local issuer certificate']);
    assert.equal(r.bundle_method, 'ubiquitous');
    // What OpenSSL could build: the leaf and the given intermediate.
    assert.deepEqual(r.chain.map(norm), pemBlocks(deployed).map(norm));
  });

  test('with the root in DATA/trust/root.pem: trusted, fields match the certificate', async () => {
    await fs.mkdir(path.join(ctx.dir, 'trust'), { recursive: true });
    await fs.writeFile(path.join(ctx.dir, 'trust', 'root.pem'), rootPem);
    const r = await analyze(deployed, 'ubiquitous');
    assert.equal(r.trusted, true, JSON.stringify(r.errors));
    assert.deepEqual(r.errors, []);
    const [leafPem, interPem] = pemBlocks(deployed);
    const leaf = new X509Certificate(leafPem);
    const inter = new X509Certificate(interPem);
    assert.deepEqual(r.hosts, [zone.name, `*.${zone.name}`]);
    assert.deepEqual(
      r.hosts,
      leaf.subjectAltName.split(', ').map((s) => s.replace(/^DNS:/, '')),
    );
    assert.equal(r.issuer, /CN=([^\n]+)/.exec(leaf.issuer)[1]);
    assert.equal(r.issuer, /CN=([^\n]+)/.exec(inter.subject)[1]);
    assert.equal(r.subject, /CN=([^\n]+)/.exec(leaf.subject)[1]);
    assert.equal(r.serial_number, leaf.serialNumber.toLowerCase().replace(/^(00)+/, ''));
    assert.equal(r.signature, 'ECDSAWithSHA256');
    assert.equal(r.key_type, 'ecdsa');
    assert.equal(r.key_size, 256);
    assert.match(r.issued_on, RFC3339_Z);
    assert.match(r.expires_on, RFC3339_Z);
    assert.equal(Date.parse(r.issued_on), Date.parse(leaf.validFrom));
    assert.equal(Date.parse(r.expires_on), Date.parse(leaf.validTo));
    // ubiquitous: leaf, intermediate, root.
    assert.deepEqual(r.chain.map(norm), [leafPem, interPem, rootPem].map(norm));
    assert.ok(new X509Certificate(r.chain[2]).checkIssued(new X509Certificate(r.chain[2])));
  });

  test('optimal leaves the root out; force returns the input as given', async () => {
    const [leafPem, interPem] = pemBlocks(deployed);
    const opt = await analyze(deployed + rootPem, 'optimal');
    assert.equal(opt.trusted, true);
    assert.equal(opt.bundle_method, 'optimal');
    assert.deepEqual(opt.chain.map(norm), [leafPem, interPem].map(norm));

    const reordered = leafPem + rootPem + interPem;
    const forced = await analyze(reordered, 'force');
    assert.equal(forced.bundle_method, 'force');
    assert.equal(forced.trusted, true);
    assert.deepEqual(forced.chain.map(norm), [leafPem, rootPem, interPem].map(norm));

    const leafOnly = await analyze(leafPem, 'force');
    assert.equal(leafOnly.trusted, false);
    // OpenSSL reports both the missing issuer and, as a consequence, the unverifiable leaf.
    assert.deepEqual(leafOnly.errors, ['unable to get local issuer certificate', 'unable to verify the first certificate']);
    assert.deepEqual(leafOnly.chain.map(norm), [norm(leafPem)]);
  });

  test('the RSA certificate of the pack', async () => {
    const packs = await client.ssl.certificatePacks.list({ zone_id: zone.id });
    const pack = packs.result.find((p) => p.type === 'universal');
    const rsa = await fs.readFile(path.join(ctx.dir, 'deploy', zone.id, pack.id, 'rsa.crt'), 'utf8');
    const r = await analyze(rsa);
    assert.equal(r.trusted, true, JSON.stringify(r.errors));
    assert.equal(r.key_type, 'rsa');
    assert.equal(r.key_size, 2048);
    assert.equal(r.signature, 'ECDSAWithSHA256'); // signed by the ECDSA intermediate
  });

  test('bad inputs: 400/1004 naming the field', async () => {
    const [leafPem] = pemBlocks(deployed);
    const cases = [
      [{}, 'certificate'],
      [{ certificate: 42 }, 'certificate'],
      [{ certificate: 'not a certificate' }, 'certificate'],
      [{ certificate: '-----BEGIN CERTIFICATE-----\nAAAA!!\n-----END CERTIFICATE-----\n' }, 'certificate'],
      [{ certificate: leafPem + '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n' }, 'certificate'],
      [{ certificate: leafPem.repeat(11) }, 'certificate'],
      [{ certificate: leafPem + ' '.repeat(65 * 1024) }, 'certificate'],
      [{ certificate: leafPem, bundle_method: 'best' }, 'bundle_method'],
      [{ certificate: leafPem, bundle_method: 1 }, 'bundle_method'],
    ];
    for (const [json, field] of cases) {
      const res = await v4(server, 'POST', `/zones/${zone.id}/ssl/analyze`, { token: ctx.creds.token, json });
      const errors = assertErr(res, 400, [1004], `analyze ${JSON.stringify(json).slice(0, 80)}`);
      assertNames(errors, field);
    }
    const key = await v4(server, 'POST', `/zones/${zone.id}/ssl/analyze`, {
      token: ctx.creds.token,
      json: { certificate: '-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n' },
    });
    assert.match(assertErr(key, 400, [1004])[0].message, /private key/);
    const many = await v4(server, 'POST', `/zones/${zone.id}/ssl/analyze`, {
      token: ctx.creds.token,
      json: { certificate: leafPem.repeat(11) },
    });
    assert.match(assertErr(many, 400, [1004])[0].message, /more than 10/);
    await expectSdkError(analyze('garbage'), 400, [1004], 'SDK garbage');
  });

  test("another account's token gets 7003/7000; ssl:read suffices", async () => {
    const other = await createAccount(ctx.dir, `other-${uniq()}`);
    const otherToken = await createToken(ctx.dir, other.id, ['ssl:write', 'zone:write']);
    await expectSdkError(
      tokenClient(server, otherToken.token).ssl.analyze.create({ zone_id: zone.id, certificate: deployed }),
      400,
      [7003, 7000],
      'foreign zone',
    );
    const reader = await createToken(ctx.dir, ctx.creds.account_id, ['ssl:read']);
    const r = await tokenClient(server, reader.token).ssl.analyze.create({ zone_id: zone.id, certificate: deployed });
    assert.equal(r.trusted, true);
    const zoneOnly = await createToken(ctx.dir, ctx.creds.account_id, ['zone:read']);
    await expectSdkError(
      tokenClient(server, zoneOnly.token).ssl.analyze.create({ zone_id: zone.id, certificate: deployed }),
      403,
      [9109],
      'zone:read only',
    );
  });

  test('the server stops cleanly (no sanitizer report after the analyses)', async () => {
    await stopServerExpectClean(server);
  });
});
