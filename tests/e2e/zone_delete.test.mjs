// Zone deletion and tenant isolation on disk, as an operator and an SDK user see them:
// deploy paths keyed by zone id (two accounts' zones of one name never share files), the
// deploy hook told the zone and account ids, DELETE /zones hiding the zone at once and
// revoking its client certificates into the account's CRL (a DELETE'd certificate
// included), the delete hook per pack, a kill -9 in the middle of a deletion resumed on
// restart, and the upgrade of a deploy tree still in the old name-keyed layout.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  assertOk,
  assertZoneNotFound,
  createAccount,
  createToken,
  expectSdkError,
  killServer,
  makeInitialisedDir,
  packsPath,
  request,
  runCli,
  startServer,
  stopAllClean,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
} from './harness.mjs';

const AUTO = ['--dcv-mode', 'auto'];
const HEAVY = { timeout: 300_000 };
const POLL = { timeout: 20_000, interval: 100 };
/** The restarted worker takes over a killed worker's job once its lease ran out. */
const RESUME = { timeout: 120_000, interval: 200 };

function run(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function opensslOk(args) {
  const r = await run('openssl', args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function exists(p) {
  try {
    await fs.lstat(p);
    return true;
  } catch (e) {
    if (e.code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * The deploy hook: records its TLSWARD_* environment in <hookDir>/<pack>.<event>.<pid>.env
 * (renamed into place, so a file that exists is complete); with sleepOnDelete it then
 * sleeps that many seconds on a delete, so a kill can land in the middle of a deletion.
 */
const hookCommand = (hookDir, sleepOnDelete = 0) =>
  `env | grep '^TLSWARD_' > "${hookDir}/.tmp.$$" && mv "${hookDir}/.tmp.$$" "${hookDir}/$TLSWARD_PACK_ID.$TLSWARD_EVENT.$$.env"` +
  (sleepOnDelete ? `; if [ "$TLSWARD_EVENT" = delete ]; then sleep ${sleepOnDelete}; fi` : '');

/** Every recorded run of the hook for (pack, event): [{TLSWARD_*: value}]. */
async function hookRuns(hookDir, packId, event) {
  const names = (await fs.readdir(hookDir)).filter((n) => n.startsWith(`${packId}.${event}.`) && n.endsWith('.env'));
  const runs = [];
  for (const n of names) {
    const env = {};
    for (const line of (await fs.readFile(path.join(hookDir, n), 'utf8')).split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    runs.push(env);
  }
  return runs;
}

/** A fresh data dir with a hook directory: { root, dir, creds, hookDir, work }. */
async function freshDir() {
  const d = await makeInitialisedDir();
  d.hookDir = path.join(d.root, 'hooks');
  d.work = path.join(d.root, 'work');
  await fs.mkdir(d.hookDir);
  await fs.mkdir(d.work);
  return d;
}

/** The zone's packs once every one is active (the universal pack, plus `count` in all). */
async function activePacks(server, token, zoneId, count) {
  return waitFor(
    async () => {
      const res = await v4(server, 'GET', `${packsPath(zoneId)}?per_page=50`, { token });
      const items = assertOk(res, 'list packs').filter((p) => p.status === 'active');
      return items.length === count ? items : null;
    },
    { ...POLL, what: `${count} active pack(s) in zone ${zoneId}` },
  );
}

async function orderAdvanced(server, token, zone) {
  return assertOk(
    await v4(server, 'POST', `${packsPath(zone.id)}/order`, {
      token,
      json: { certificate_authority: 'google', hosts: [zone.name, `www.${zone.name}`], type: 'advanced', validation_method: 'txt', validity_days: 90 },
    }),
    'order',
  );
}

/** Uploads a zone-level origin-pull certificate and waits for its files: { id, crt, key }. */
async function uploadOriginPull(server, token, dir, work, zone) {
  const base = path.join(work, `op-${uniq()}`);
  await opensslOk([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256', '-keyout', `${base}.key`,
    '-out', `${base}.crt`, '-days', '30', '-subj', `/CN=origin.${zone.name}`, '-addext', `subjectAltName=DNS:origin.${zone.name}`,
  ]);
  const certificate = await fs.readFile(`${base}.crt`, 'utf8');
  const privateKey = await fs.readFile(`${base}.key`, 'utf8');
  const c = assertOk(await v4(server, 'POST', `/zones/${zone.id}/origin_tls_client_auth`, { token, json: { certificate, private_key: privateKey } }), 'origin-pull upload');
  const crt = path.join(dir, 'deploy', zone.id, 'origin-pull', 'zone', `${c.id}.crt`);
  const key = path.join(dir, 'deploy', zone.id, 'origin-pull', 'zone', `${c.id}.key`);
  await waitFor(async () => (await exists(crt)) && (await exists(key)), { ...POLL, what: `origin-pull files of ${c.id}` });
  return { id: c.id, crt, key, certificate };
}

/** A client certificate of the zone signed from a fresh EC CSR: the API object. */
async function clientCert(client, work, zoneId) {
  const base = path.join(work, `client-${uniq()}`);
  await opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=client-${uniq()}`]);
  const csr = await fs.readFile(`${base}.csr`, 'utf8');
  return client.clientCertificates.create({ zone_id: zoneId, csr, validity_days: 30 });
}

/** Runs `openssl verify -crl_check` of a leaf against the account's published CA and CRL. */
async function verifyWithCrl(server, accountId, work, leafPem) {
  const ca = await request(server, 'GET', `/pki/accounts/${accountId}/client-ca.pem`);
  assert.equal(ca.status, 200, 'client-ca.pem');
  const crl = await fetch(`${server.origin}/pki/accounts/${accountId}/client-ca.crl`);
  assert.equal(crl.status, 200, 'client-ca.crl');
  const base = path.join(work, `verify-${uniq()}`);
  await fs.writeFile(`${base}-ca.pem`, ca.text);
  await fs.writeFile(`${base}-crl.der`, Buffer.from(await crl.arrayBuffer()));
  await opensslOk(['crl', '-inform', 'DER', '-in', `${base}-crl.der`, '-out', `${base}-crl.pem`]);
  await fs.writeFile(`${base}-leaf.pem`, leafPem);
  return run('openssl', ['verify', '-crl_check', '-CAfile', `${base}-ca.pem`, '-CRLfile', `${base}-crl.pem`, `${base}-leaf.pem`]);
}

/** The store's certificate-pack rows by status, as /metrics counts them. */
async function packRowsByStatus(server) {
  const res = await request(server, 'GET', '/metrics');
  assert.equal(res.status, 200);
  const counts = {};
  for (const m of res.text.matchAll(/^tlsward_certificate_packs\{status="([a-z_]+)"\} (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

describe('zone deletion and deploy paths keyed by zone id', () => {
  test('two accounts each with a zone named example.com: each one\'s files live under its own zone id, the hook is told both ids, and deleting one leaves the other\'s deploy and origin-pull files intact', HEAVY, async (t) => {
    const d = await freshDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const server = await startServer(d.dir, [...AUTO, '--deploy-hook', hookCommand(d.hookDir)]);
    servers.push(server);
    const other = await createAccount(d.dir, `other-${uniq()}`);
    const { token: otherToken } = await createToken(d.dir, other.id, ['zone:write', 'ssl:write']);
    const tenants = [
      { accountId: d.creds.account_id, token: d.creds.token },
      { accountId: other.id, token: otherToken },
    ];
    for (const tn of tenants) {
      tn.client = tokenClient(server, tn.token);
      tn.zone = await tn.client.zones.create({ account: { id: tn.accountId }, name: 'example.com', type: 'full' });
      assert.equal(tn.zone.name, 'example.com');
    }
    assert.notEqual(tenants[0].zone.id, tenants[1].zone.id);
    for (const tn of tenants) {
      [tn.pack] = await activePacks(server, tn.token, tn.zone.id, 1);
      tn.live = path.join(d.dir, 'deploy', tn.zone.id, tn.pack.id);
      tn.crt = await fs.readFile(path.join(tn.live, 'ecdsa.crt'), 'utf8');
      tn.origin = await uploadOriginPull(server, tn.token, d.dir, d.work, tn.zone);
      const runs = await hookRuns(d.hookDir, tn.pack.id, 'deploy');
      assert.equal(runs.length, 1, 'one deploy hook run');
      assert.equal(runs[0].TLSWARD_ZONE, 'example.com');
      assert.equal(runs[0].TLSWARD_ZONE_ID, tn.zone.id);
      assert.equal(runs[0].TLSWARD_ACCOUNT_ID, tn.accountId);
      assert.equal(runs[0].TLSWARD_DIR, tn.live);
    }
    assert.equal(await exists(path.join(d.dir, 'deploy', 'example.com')), false, 'nothing is keyed by the zone name');
    assert.notEqual(tenants[0].crt, tenants[1].crt);

    // The first account deletes its example.com.
    const [gone, kept] = tenants;
    assert.deepEqual(await gone.client.zones.delete({ zone_id: gone.zone.id }), { id: gone.zone.id });
    await waitFor(async () => !(await exists(path.join(d.dir, 'deploy', gone.zone.id))), { ...POLL, what: 'the deleted zone\'s deploy directory to go' });
    const deleteRuns = await hookRuns(d.hookDir, gone.pack.id, 'delete');
    assert.equal(deleteRuns.length, 1, 'the delete hook ran once for the deleted zone\'s pack');
    assert.equal(deleteRuns[0].TLSWARD_ZONE_ID, gone.zone.id);

    // The other account's zone of the same name: files, origin-pull files, pack, zone.
    assert.equal(await fs.readFile(path.join(kept.live, 'ecdsa.crt'), 'utf8'), kept.crt, 'its pack files are intact');
    assert.ok((await fs.lstat(kept.live)).isSymbolicLink());
    assert.equal(await fs.readFile(kept.origin.crt, 'utf8'), kept.origin.certificate, 'its origin-pull certificate is intact');
    assert.ok(await exists(kept.origin.key), 'its origin-pull key is intact');
    assert.deepEqual(await hookRuns(d.hookDir, kept.pack.id, 'delete'), [], 'no hook ran for it');
    assert.equal((await kept.client.zones.get({ zone_id: kept.zone.id })).name, 'example.com');
    assert.equal(assertOk(await v4(server, 'GET', packsPath(kept.zone.id, kept.pack.id), { token: kept.token })).status, 'active');
  });

  test('DELETE /zones/{id}: 7003 at once; every client certificate of the zone, one DELETE\'d just before included, is in the account\'s CRL (openssl verify -crl_check: certificate revoked); the delete hook ran once per pack; the pack directories are gone', HEAVY, async (t) => {
    const d = await freshDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const { token, account_id: accountId } = d.creds;
    const hook = ['--deploy-hook', hookCommand(d.hookDir)];
    const s1 = await startServer(d.dir, [...AUTO, ...hook]);
    servers.push(s1);
    const client = tokenClient(s1, token);
    const zone = await client.zones.create({ account: { id: accountId }, name: `del-${uniq()}.example.com`, type: 'full' });
    await orderAdvanced(s1, token, zone);
    const packs = await activePacks(s1, token, zone.id, 2);
    const active = await clientCert(client, d.work, zone.id);
    const doomed = await clientCert(client, d.work, zone.id);
    for (const c of [active, doomed]) {
      const v = await verifyWithCrl(s1, accountId, d.work, c.certificate);
      assert.equal(v.code, 0, `a live client certificate verifies: ${v.stdout}${v.stderr}`);
    }
    await stopServerExpectClean(s1);

    // Without a worker, so nothing the request leaves to it can happen before we look:
    // a client certificate DELETE'd (pending_revocation), then its zone deleted.
    const s2 = await startServer(d.dir, [...AUTO, '--no-worker', ...hook]);
    servers.push(s2);
    const c2 = tokenClient(s2, token);
    assert.equal((await c2.clientCertificates.delete(doomed.id, { zone_id: zone.id })).status, 'pending_revocation');
    assert.deepEqual(await c2.zones.delete({ zone_id: zone.id }), { id: zone.id });
    await expectSdkError(c2.zones.get({ zone_id: zone.id }), 400, [7003, 7000], 'GET the deleted zone');
    assertZoneNotFound(await v4(s2, 'GET', packsPath(zone.id), { token }), zone.id, 'its packs');
    assertZoneNotFound(await v4(s2, 'GET', `/zones/${zone.id}/client_certificates/${active.id}`, { token }), zone.id, 'its client certificate');
    assertZoneNotFound(await v4(s2, 'DELETE', `/zones/${zone.id}`, { token }), zone.id, 'a second DELETE');
    const listed = assertOk(await v4(s2, 'GET', `/zones?name=${zone.name}`, { token }), 'list by name');
    assert.deepEqual(listed, [], 'the zone is in no list');
    const quota = await runCli(['zone', 'quota', '--data', d.dir, zone.id, '--advanced', '5']);
    assert.equal(quota.code, 1, `zone quota of a deleted zone: ${quota.stdout}${quota.stderr}`);
    assert.match(quota.stderr, /no zone with id/);
    // The name is free at once, while the deletion has not even started.
    const again = await c2.zones.create({ account: { id: accountId }, name: zone.name, type: 'full' });
    assert.notEqual(again.id, zone.id);
    await c2.zones.delete({ zone_id: again.id });
    await stopServerExpectClean(s2);

    // The worker re-signs the CRL and runs the deletion.
    const s3 = await startServer(d.dir, [...AUTO, ...hook]);
    servers.push(s3);
    for (const c of [active, doomed]) {
      const v = await waitFor(
        async () => {
          const r = await verifyWithCrl(s3, accountId, d.work, c.certificate);
          return r.code !== 0 ? r : null;
        },
        { ...POLL, what: `the CRL to revoke ${c.id}` },
      );
      assert.match(v.stdout + v.stderr, /certificate revoked/, `openssl verify -crl_check of ${c.id}`);
    }
    await waitFor(async () => !(await exists(path.join(d.dir, 'deploy', zone.id))), { ...POLL, what: 'the zone\'s deploy directory to go' });
    for (const p of packs) {
      const runs = await hookRuns(d.hookDir, p.id, 'delete');
      assert.equal(runs.length, 1, `the delete hook ran once for pack ${p.id}`);
      assert.equal(runs[0].TLSWARD_EVENT, 'delete');
      assert.equal(runs[0].TLSWARD_ZONE, zone.name);
      assert.equal(runs[0].TLSWARD_ZONE_ID, zone.id);
      assert.equal(runs[0].TLSWARD_ACCOUNT_ID, accountId);
    }
  });

  test('kill -9 in the middle of a zone deletion: restarted, it finishes (files gone, the zone stays 7003, its rows gone)', HEAVY, async (t) => {
    const d = await freshDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const { token, account_id: accountId } = d.creds;
    const hook = ['--deploy-hook', hookCommand(d.hookDir, 3)];
    const s1 = await startServer(d.dir, [...AUTO, ...hook]);
    servers.push(s1);
    const client = tokenClient(s1, token);
    const zone = await client.zones.create({ account: { id: accountId }, name: `kill-${uniq()}.example.com`, type: 'full' });
    await orderAdvanced(s1, token, zone);
    const packs = await activePacks(s1, token, zone.id, 2);
    const origin = await uploadOriginPull(s1, token, d.dir, d.work, zone);
    assert.equal((await packRowsByStatus(s1)).active, 2);

    assert.deepEqual(await client.zones.delete({ zone_id: zone.id }), { id: zone.id });
    // The first delete hook started (and sleeps): the job is mid-way. Kill the server.
    await waitFor(async () => (await Promise.all(packs.map((p) => hookRuns(d.hookDir, p.id, 'delete')))).some((r) => r.length > 0), { ...POLL, what: 'the first delete hook' });
    await killServer(s1);
    assert.ok(await exists(path.join(d.dir, 'deploy', zone.id)), 'killed before the deletion finished');

    const s2 = await startServer(d.dir, [...AUTO, ...hook]);
    servers.push(s2);
    assertZoneNotFound(await v4(s2, 'GET', `/zones/${zone.id}`, { token }), zone.id, 'the zone after the restart');
    await waitFor(async () => !(await exists(path.join(d.dir, 'deploy', zone.id))), { ...RESUME, what: 'the resumed deletion to remove the zone\'s files' });
    await waitFor(async () => Object.keys(await packRowsByStatus(s2)).length === 0, { ...POLL, what: 'the zone\'s pack rows to go' });
    assert.equal(await exists(origin.key), false, 'the origin-pull key is gone');
    for (const p of packs) assert.ok((await hookRuns(d.hookDir, p.id, 'delete')).length >= 1, `the delete hook ran for ${p.id}`);
    assertZoneNotFound(await v4(s2, 'GET', `/zones/${zone.id}`, { token }), zone.id, 'the zone once deleted');
    assert.match(s2.stderr(), new RegExp(`zone ${zone.id} \\(${zone.name.replace(/\./g, '\\.')}\\): deleted`), 'the deletion completed');
    // The name is free: the account creates it again.
    const again = await tokenClient(s2, token).zones.create({ account: { id: accountId }, name: zone.name, type: 'full' });
    assert.notEqual(again.id, zone.id);
  });

  test('upgrade: a deploy tree in the old name-keyed layout is moved to the zone id on start', HEAVY, async (t) => {
    const d = await freshDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const { token, account_id: accountId } = d.creds;
    const s1 = await startServer(d.dir, AUTO);
    servers.push(s1);
    const zone = await tokenClient(s1, token).zones.create({ account: { id: accountId }, name: `up-${uniq()}.example.com`, type: 'full' });
    const [pack] = await activePacks(s1, token, zone.id, 1);
    const origin = await uploadOriginPull(s1, token, d.dir, d.work, zone);
    const idDir = path.join(d.dir, 'deploy', zone.id);
    const crt = await fs.readFile(path.join(idDir, pack.id, 'ecdsa.crt'), 'utf8');
    await stopServerExpectClean(s1);

    // What an older tlsward left: everything under DATA/deploy/<zone name>/.
    const nameDir = path.join(d.dir, 'deploy', zone.name);
    await fs.rename(idDir, nameDir);
    assert.ok((await fs.lstat(path.join(nameDir, pack.id))).isSymbolicLink());

    const s2 = await startServer(d.dir, AUTO);
    servers.push(s2);
    // The move ends by removing the emptied name-keyed directory: wait for that, not just for
    // the pack (the origin-pull files move after it).
    await waitFor(async () => (await exists(path.join(idDir, pack.id))) && !(await exists(nameDir)), { ...POLL, what: 'the whole tree moved under the zone id' });
    assert.ok((await fs.lstat(path.join(idDir, pack.id))).isSymbolicLink(), 'still a symlink to its set');
    assert.equal(await fs.readFile(path.join(idDir, pack.id, 'ecdsa.crt'), 'utf8'), crt, 'the same certificate');
    assert.equal((await fs.stat(path.join(idDir, pack.id, 'ecdsa.key'))).mode & 0o777, 0o600);
    assert.equal(await fs.readFile(origin.crt, 'utf8'), origin.certificate, 'the origin-pull certificate moved too');
    assert.ok(await exists(origin.key), 'and its key');
    assert.match(s2.stderr(), new RegExp(`deploy upgrade: moved pack ${pack.id}`));
    await stopServerExpectClean(s2);
  });
});
