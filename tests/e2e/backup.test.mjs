// tlsward backup (README "Backup and restore"): a snapshot taken while the official SDK
// keeps writing (zones, certificate pack orders, client certificates) is reported intact by
// the command's own PRAGMA integrity_check, and restored as the README says (the file as
// DATA/tlsward.db, the same master key) it serves every object acknowledged before the
// backup started exactly as the original does, while nothing acknowledged after the
// backup finished is in it. The command refuses to overwrite, and refuses a PostgreSQL store.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  assertUserError,
  assertZoneNotFound,
  getZoneRaw,
  makeInitialisedDir,
  runCli,
  startServer,
  stopAllClean,
  tokenClient,
  uniq,
  waitFor,
  waitPackStatus,
} from './harness.mjs';

const SERVE_ARGS = ['--dcv-mode', 'auto', '--worker-interval', '100ms'];

/** A P-256 key and CSR made by openssl in dir; the CSR's PEM. */
async function makeCsr(dir) {
  const base = path.join(dir, `csr-${uniq()}`);
  await new Promise((resolve, reject) =>
    execFile(
      'openssl',
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/CN=backup.example.com'],
      { timeout: 30_000 },
      (e) => (e ? reject(e) : resolve()),
    ),
  );
  return fs.readFile(`${base}.csr`, 'utf8');
}

/**
 * A zone with one advanced pack ordered in it and one client certificate: their ids, and
 * zoneAfter: what after() said once the zone's creation was acknowledged.
 */
async function writeSet(cf, accountId, csr, after = () => false) {
  const name = `backup-${uniq()}.example.com`;
  const zone = await cf.zones.create({ name, account: { id: accountId } });
  const zoneAfter = after();
  const pack = await cf.ssl.certificatePacks.create({
    zone_id: zone.id,
    certificate_authority: 'lets_encrypt',
    hosts: [name, `*.${name}`],
    type: 'advanced',
    validation_method: 'txt',
    validity_days: 90,
  });
  const cert = await cf.clientCertificates.create({ zone_id: zone.id, csr, validity_days: 30 });
  return { zone: zone.id, pack: pack.id, cert: cert.id, zoneAfter };
}

/** The three objects of a set as the server answers them (GET through the SDK). */
async function readSet(cf, set) {
  return {
    zone: await cf.zones.get({ zone_id: set.zone }),
    pack: await cf.ssl.certificatePacks.get(set.pack, { zone_id: set.zone }),
    cert: await cf.clientCertificates.get(set.cert, { zone_id: set.zone }),
  };
}

describe('tlsward backup', () => {
  const servers = [];
  after(() => stopAllClean(servers));

  test('a snapshot under write load restores to a store that answers the same', async () => {
    const init = await makeInitialisedDir();
    const server = await startServer(init.dir, SERVE_ARGS);
    servers.push(server);
    const cf = tokenClient(server, init.creds.token);
    const csr = await makeCsr(init.root);

    // Objects settled before the backup: packs issued (active), so neither side changes them.
    const before = [];
    for (let i = 0; i < 3; i++) before.push(await writeSet(cf, init.creds.account_id, csr));
    for (const s of before) await waitPackStatus(server, init.creds.token, s.zone, s.pack, 'active');

    // Write load through the SDK for the whole time the backup runs, and after it.
    let stop = false;
    let backupDone = false;
    const written = [];
    const lane = async () => {
      for (let i = 0; i < 200 && !stop; i++) written.push(await writeSet(cf, init.creds.account_id, csr, () => backupDone));
    };
    // Zones whose creation was acknowledged after the backup command had exited.
    const afterBackup = () => written.filter((s) => s.zoneAfter);
    const load = Promise.all([lane(), lane()]);
    await waitFor(() => written.length >= 2, { timeout: 30_000, interval: 20, what: 'the write load to run' });

    const out = path.join(init.root, 'snapshot.db');
    const r = await runCli(['backup', '--data', init.dir, '--out', out, '--json']);
    backupDone = true;
    assert.equal(r.code, 0, `backup exited ${r.code}; stderr: ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(report).sort(), ['integrity', 'out', 'pages', 'schema_version']);
    assert.equal(report.out, out);
    assert.equal(report.integrity, 'ok', 'the command checked its copy with PRAGMA integrity_check');
    assert.ok(Number.isInteger(report.pages) && report.pages > 0);
    assert.ok(Number.isInteger(report.schema_version) && report.schema_version > 0);
    assert.equal((await fs.stat(out)).mode & 0o777, 0o600);
    assert.deepEqual((await fs.readdir(init.root)).filter((f) => f.includes('.tmp-')), [], 'no temp file left');

    await waitFor(() => afterBackup().length >= 2, { timeout: 30_000, interval: 20, what: 'writes acknowledged after the backup' });
    stop = true;
    await load;
    const original = await Promise.all(before.map((s) => readSet(cf, s)));
    // Stopped now (cleanly): its worker would otherwise go on issuing the load's packs.
    await stopAllClean([server]);

    // Restore as the README says, into a fresh data dir with the same master key.
    const restored = path.join(init.root, 'restored');
    await fs.mkdir(restored, { mode: 0o700 });
    await fs.copyFile(out, path.join(restored, 'tlsward.db'));
    await fs.copyFile(path.join(init.dir, 'master.key'), path.join(restored, 'master.key'));
    await fs.chmod(path.join(restored, 'master.key'), 0o600);
    // No worker on the restored copy: nothing moves while the two answers are compared.
    const second = await startServer(restored, [...SERVE_ARGS, '--no-worker']);
    servers.push(second);
    const cf2 = tokenClient(second, init.creds.token); // the token is in the snapshot

    const answered = await Promise.all(before.map((s) => readSet(cf2, s)));
    assert.deepEqual(answered, original, 'objects from before the backup answer the same');
    // A private key sealed under the master key is readable: the pack's certificates serve.
    for (const a of answered) assert.ok(a.pack.certificates.length > 0);
    // Nothing acknowledged after the backup finished is in the snapshot.
    for (const s of afterBackup()) assertZoneNotFound(await getZoneRaw(second, init.creds.token, s.zone), s.zone);
    await stopAllClean([second]);
  });

  test('refuses an existing file, a missing --out and a PostgreSQL store', async () => {
    const init = await makeInitialisedDir();
    const out = path.join(init.root, 'exists.db');
    await fs.writeFile(out, 'keep me');
    let r = await runCli(['backup', '--data', init.dir, '--out', out]);
    assertUserError(r, 'backup over an existing file');
    assert.match(r.stderr, /exists/);
    assert.equal(await fs.readFile(out, 'utf8'), 'keep me');

    r = await runCli(['backup', '--data', init.dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--out/);

    r = await runCli(['backup', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: tlsward backup --data DIR --out FILE/);
    assert.match(r.stdout, /master\.key/);

    const fresh = path.join(init.root, 'pg.db');
    r = await runCli(['backup', '--data', init.dir, '--out', fresh], {
      env: { TLSWARD_DATABASE: 'postgres://tlsward:s3cret-pass@127.0.0.1:1/tlsward' },
    });
    assertUserError(r, 'backup of a PostgreSQL store');
    assert.match(r.stderr, /pg_dump/);
    assert.doesNotMatch(r.stderr, /s3cret-pass/, 'the database URL is never printed');
    await assert.rejects(fs.access(fresh), 'nothing written');

    r = await runCli(['backup', '--data', path.join(init.root, 'nothing-here'), '--out', fresh]);
    assertUserError(r, 'backup of an uninitialised dir');
    await assert.rejects(fs.access(fresh), 'nothing written');
  });
});
