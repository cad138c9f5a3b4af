// tlsward migrate (README "Moving to PostgreSQL"): a store populated through the official
// SDK on a SQLite `tlsward serve` (zones, issued certificate packs, client certificates with
// a revocation in the CRL, Authenticated Origin Pulls settings, certificates and hostname
// associations) is copied into an empty PostgreSQL database; a server started on that
// database with the same master key (and no SQLite file) answers every object exactly as
// the SQLite server did, to the same API token. The source file is unchanged; a second
// migrate into the database, a bad URL, an uninitialised dir and an older store are refused
// with nothing changed; the URL's password is never printed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  assertUserError,
  makeInitialisedDir,
  runCli,
  startPostgres,
  startServer,
  stopAllClean,
  tokenClient,
  uniq,
  waitFor,
  waitPackStatus,
} from './harness.mjs';

const SERVE_ARGS = ['--dcv-mode', 'auto', '--worker-interval', '100ms'];
const PASSWORD = 's3cret-pass-e2e';

function run(cmd, args) {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 30_000 }, (e, stdout, stderr) => (e ? reject(new Error(`${cmd}: ${e.message}\n${stderr}`)) : resolve(stdout))),
  );
}

/** A P-256 key and CSR (client certificates). */
async function makeCsr(dir, cn) {
  const base = path.join(dir, `csr-${uniq()}`);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`]);
  return fs.readFile(`${base}.csr`, 'utf8');
}

/** A self-signed EC certificate and its key (origin-pull uploads). */
async function selfSigned(dir, cn, sans = []) {
  const base = path.join(dir, `ss-${uniq()}`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256', '-keyout', `${base}.key`, '-out', `${base}.crt`, '-days', '30', '-subj', `/CN=${cn}`];
  if (sans.length) args.push('-addext', `subjectAltName=${sans.map((s) => `DNS:${s}`).join(',')}`);
  await run('openssl', args);
  return { certificate: await fs.readFile(`${base}.crt`, 'utf8'), private_key: await fs.readFile(`${base}.key`, 'utf8') };
}

const sha = (buf) => createHash('sha256').update(buf).digest('hex');

/** Raw bytes of a public path (the client CA and its CRL). */
async function fetchBytes(server, p) {
  const res = await fetch(`${server.origin}${p}`, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, sha: sha(Buffer.from(await res.arrayBuffer())) };
}

/** Everything the populated objects answer through the SDK (and the public PKI files). */
async function readAll(server, cf, accountId, zones, host) {
  const out = { zones: [], verify: await cf.user.tokens.verify() };
  const list = await cf.zones.list({ per_page: 50 });
  out.zoneList = list.result.map((z) => [z.id, z.name]);
  for (const z of zones) {
    const zone_id = z.id;
    const entry = { zone: await cf.zones.get({ zone_id }) };
    entry.packsDefault = (await cf.ssl.certificatePacks.list({ zone_id })).result;
    entry.packsAll = (await cf.ssl.certificatePacks.list({ zone_id, status: 'all' })).result;
    entry.packs = [];
    for (const p of entry.packsAll) entry.packs.push(await cf.ssl.certificatePacks.get(p.id, { zone_id }));
    entry.quota = await cf.ssl.certificatePacks.quota.get({ zone_id });
    entry.clientCerts = (await cf.clientCertificates.list({ zone_id, per_page: 50 })).result;
    entry.aopSettings = await cf.originTLSClientAuth.settings.get({ zone_id });
    entry.aopZone = (await cf.originTLSClientAuth.list({ zone_id })).result;
    entry.aopHostCerts = (await cf.originTLSClientAuth.hostnameCertificates.list({ zone_id })).result;
    if (z.host) entry.aopHostname = await cf.originTLSClientAuth.hostnames.get(z.host, { zone_id });
    out.zones.push(entry);
  }
  out.caPem = await fetchBytes(server, `/pki/accounts/${accountId}/client-ca.pem`);
  out.crl = await fetchBytes(server, `/pki/accounts/${accountId}/client-ca.crl`);
  return out;
}

describe('tlsward migrate', () => {
  const servers = [];
  let pg; // one cluster for the file: the tests use databases of their own
  before(async () => {
    pg = await startPostgres();
  });
  after(async () => {
    await stopAllClean(servers);
    await pg?.stop();
  });

  test('a SQLite store moved to PostgreSQL answers the same to the same token', async () => {
    const init = await makeInitialisedDir();
    const server = await startServer(init.dir, SERVE_ARGS);
    servers.push(server);
    const cf = tokenClient(server, init.creds.token);
    const account = { id: init.creds.account_id };

    // Two zones with an issued advanced pack each; client certificates (one revoked, so
    // the CRL lists it); origin pulls on the first zone: on, a zone certificate, a hostname
    // certificate and its association.
    const zones = [];
    for (let i = 0; i < 2; i++) {
      const name = `mig-${i}-${uniq()}.example.com`;
      const zone = await cf.zones.create({ name, account });
      const pack = await cf.ssl.certificatePacks.create({
        zone_id: zone.id,
        certificate_authority: 'lets_encrypt',
        hosts: [name, `*.${name}`],
        type: 'advanced',
        validation_method: 'txt',
        validity_days: 90,
      });
      zones.push({ id: zone.id, name, pack: pack.id });
    }
    for (const z of zones) await waitPackStatus(server, init.creds.token, z.id, z.pack, 'active');
    const csr = await makeCsr(init.root, 'client.mig.example');
    const certs = [];
    for (let i = 0; i < 3; i++) certs.push(await cf.clientCertificates.create({ zone_id: zones[0].id, csr, validity_days: 30 }));
    await cf.clientCertificates.delete(certs[1].id, { zone_id: zones[0].id });
    await waitFor(async () => (await cf.clientCertificates.get(certs[1].id, { zone_id: zones[0].id })).status === 'revoked', {
      timeout: 30_000,
      what: 'the client certificate to be revoked',
    });
    const z0 = zones[0];
    z0.host = `www.${z0.name}`;
    await cf.originTLSClientAuth.settings.update({ zone_id: z0.id, enabled: true });
    const zoneCert = await cf.originTLSClientAuth.create({ zone_id: z0.id, ...(await selfSigned(init.root, 'origin-pull')) });
    const hostCert = await cf.originTLSClientAuth.hostnameCertificates.create({ zone_id: z0.id, ...(await selfSigned(init.root, z0.host, [z0.host])) });
    for (const [get, id] of [
      [(i) => cf.originTLSClientAuth.get(i, { zone_id: z0.id }), zoneCert.id],
      [(i) => cf.originTLSClientAuth.hostnameCertificates.get(i, { zone_id: z0.id }), hostCert.id],
    ]) {
      await waitFor(async () => (await get(id)).status === 'active', { timeout: 30_000, what: 'the origin-pull certificate to be active' });
    }
    await cf.originTLSClientAuth.hostnames.update({ zone_id: z0.id, config: [{ hostname: z0.host, cert_id: hostCert.id, enabled: true }] });
    // Wait for the CRL to list the revocation, so nothing moves after the answers are read.
    await waitFor(async () => (await fetchBytes(server, `/pki/accounts/${account.id}/client-ca.crl`)).status === 200, { what: 'the CRL' });

    const before = await readAll(server, cf, account.id, zones);
    assert.equal(before.zones[0].packs[0].certificates.length, 2, 'the pack has its certificates');
    assert.equal(before.zones[0].clientCerts.length, 3);
    assert.equal(before.zones[0].aopSettings.enabled, true);
    await stopAllClean([server]);

    const db = path.join(init.dir, 'tlsward.db');
    const dbSha = sha(await fs.readFile(db));
    const filesBefore = (await fs.readdir(init.dir)).sort();
    // trust authentication ignores the password: it is there to prove it is never printed.
    const url = pg.url.replace('postgresql://postgres@', `postgresql://postgres:${PASSWORD}@`);
    const r = await runCli(['migrate', '--data', init.dir, '--to', url, '--json']);
    assert.equal(r.code, 0, `migrate exited ${r.code}; stderr: ${r.stderr}`);
    assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD), 'the password is never printed');
    const report = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(report).sort(), ['tables', 'to']);
    assert.equal(report.to, `127.0.0.1:${pg.port}/postgres`);
    assert.equal(report.tables.zones, 2);
    // Each zone's universal pack and its ordered advanced pack, two certificates each.
    const packs = before.zones.flatMap((z) => z.packs);
    assert.equal(packs.length, 4);
    assert.equal(report.tables.packs, packs.length);
    assert.equal(report.tables.pack_certificates, packs.reduce((n, p) => n + p.certificates.length, 0));
    assert.equal(report.tables.client_certs, 3);
    assert.equal(report.tables.client_ca_revocations, 1);
    assert.equal(report.tables.aop_certs, 2);
    assert.equal(report.tables.aop_hostnames, 1);
    assert.ok(report.tables.tokens >= 1 && report.tables.users >= 1 && report.tables.local_ca === 1);
    for (const [table, rows] of Object.entries(report.tables)) {
      assert.match(r.stderr, new RegExp(`migrate: ${table}: ${rows} rows`), `progress line of ${table}`);
    }
    assert.equal(sha(await fs.readFile(db)), dbSha, 'the SQLite store is unchanged');
    assert.deepEqual((await fs.readdir(init.dir)).sort(), filesBefore, 'no file added to or removed from the data dir');

    // Once more into the same database: refused, nothing changed.
    const again = await runCli(['migrate', '--data', init.dir, '--to', url]);
    assertUserError(again, 'a second migrate');
    assert.match(again.stderr, /already holds a tlsward store/);
    assert.ok(!again.stderr.includes(PASSWORD));

    // A node on PostgreSQL: the same master key, no SQLite file in its data dir.
    const node = path.join(init.root, 'node');
    await fs.mkdir(node, { mode: 0o700 });
    await fs.copyFile(path.join(init.dir, 'master.key'), path.join(node, 'master.key'));
    await fs.chmod(path.join(node, 'master.key'), 0o600);
    const second = await startServer(node, [...SERVE_ARGS, '--no-worker', '--database', url]);
    servers.push(second);
    const cf2 = tokenClient(second, init.creds.token);
    const answered = await readAll(second, cf2, account.id, zones);
    assert.deepEqual(answered, before, 'every object answers the same from PostgreSQL');
    await assert.rejects(fs.access(path.join(node, 'tlsward.db')), 'the node used PostgreSQL, not a new SQLite file');
    await stopAllClean([second]);
  });

  test('refusals: usage, an uninitialised dir, an older store, an unreachable server', async () => {
    let r = await runCli(['migrate', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: tlsward migrate --data DIR --to postgres:\/\//);
    assert.match(r.stdout, /stop the servers/i);
    assert.match(r.stdout, /master key/);

    const init = await makeInitialisedDir();
    r = await runCli(['migrate', '--data', init.dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--to/);
    r = await runCli(['migrate', '--data', init.dir, '--to', `mysql://root:${PASSWORD}@127.0.0.1/x`]);
    assert.equal(r.code, 2, r.stderr);
    assert.ok(!r.stderr.includes(PASSWORD));

    // libpq's own parse errors quote the whole URL: refused without them.
    r = await runCli(['migrate', '--data', init.dir, '--to', `postgresql://u:${PASSWORD}@[::1/db`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot parse the URL/);
    assert.ok(!r.stderr.includes(PASSWORD));

    r = await runCli(['migrate', '--data', path.join(init.root, 'nothing-here'), '--to', 'postgresql://127.0.0.1:1/x']);
    assertUserError(r, 'an uninitialised dir');
    assert.match(r.stderr, /not initialised/);

    // Nothing listens on port 1: a clear failure, without the password.
    r = await runCli(['migrate', '--data', init.dir, '--to', `postgresql://tlsward:${PASSWORD}@127.0.0.1:1/tlsward`]);
    assertUserError(r, 'an unreachable server');
    assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD), 'the password is never printed');
    assert.match(r.stderr, /127\.0\.0\.1:1\/tlsward/);

    // A store at an older schema version is refused before the destination is touched.
    const db = path.join(init.dir, 'tlsward.db');
    const version = Number((await run('sqlite3', [db, 'PRAGMA user_version'])).trim());
    await run('sqlite3', [db, `PRAGMA user_version = ${version - 1}`]);
    await run('/usr/bin/psql', [pg.url, '-qc', 'CREATE DATABASE older']);
    const olderUrl = pg.url.replace(/\/postgres$/, '/older');
    r = await runCli(['migrate', '--data', init.dir, '--to', olderUrl]);
    assertUserError(r, 'an older store');
    assert.match(r.stderr, new RegExp(`schema version ${version - 1}, this tlsward expects ${version}`));
    assert.match(r.stderr, /start this tlsward on/);
    const tables = await run('/usr/bin/psql', [olderUrl, '-Atc', "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"]);
    assert.equal(tables.trim(), '0', 'nothing created in the database');
  });
});
