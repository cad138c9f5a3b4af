// Leases and lanes of the lifecycle worker (README "The lifecycle worker"): a job runs under
// a short lease (--lease) that a heartbeat renews while it runs, so
//   (a) two `tlsward worker` processes on one data dir never run one pack's deploy hook at
//       the same time, though the hook runs longer than the lease, and each hook runs once;
//   (b) after a kill -9 in the middle of a deploy hook, the restarted server picks the job up
//       within seconds (the dead process's lease is short), not after a 60 s lease;
// and revocation work has a lane of its own, so
//   (c) while another tenant's packs wait on a DNS server that never answers, a client
//       certificate DELETE'd in another account is revoked and in the CRL within seconds.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  assertOk,
  assertUserError,
  createAccount,
  createToken,
  createZoneRaw,
  killServer,
  makeInitialisedDir,
  orderPath,
  runCli,
  startServer,
  startWorker,
  stopAllClean,
  uniq,
  v4,
  waitFor,
  getPack,
} from './harness.mjs';

/** How long each deploy hook run lasts: longer than two leases of 2 s. */
const HOOK_SECONDS = 5;
const LEASE = ['--lease', '2s'];

/**
 * A deploy hook that appends "start <pack> <pid> <ms>" to `log`, sleeps HOOK_SECONDS, then
 * appends "end <pack> <pid> <ms>" (O_APPEND: the lines of concurrent runs never mix).
 */
async function writeHook(work, log) {
  const script = path.join(work, 'hook.sh');
  await fs.writeFile(
    script,
    [
      '#!/bin/sh',
      `[ "$TLSWARD_EVENT" = deploy ] || exit 0`,
      `echo "start $TLSWARD_PACK_ID $$ $(date +%s%3N)" >> '${log}'`,
      `sleep ${HOOK_SECONDS}`,
      `echo "end $TLSWARD_PACK_ID $$ $(date +%s%3N)" >> '${log}'`,
      '',
    ].join('\n'),
  );
  return ['--deploy-hook', `sh '${script}'`];
}

/** The hook log as { pack: [{ start, end, pid }] } (end null while a run is in progress). */
async function hookRuns(log) {
  const text = await fs.readFile(log, 'utf8').catch(() => '');
  const runs = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const [what, pack, pid, ms] = line.split(' ');
    assert.ok(['start', 'end'].includes(what) && pack && pid && Number(ms) > 0, `hook log line: ${line}`);
    runs[pack] ??= [];
    if (what === 'start') runs[pack].push({ pid, start: Number(ms), end: null });
    else {
      const run = runs[pack].find((r) => r.pid === pid && r.end === null);
      assert.ok(run, `an end without a start: ${line}`);
      run.end = Number(ms);
    }
  }
  return runs;
}

async function order(server, token, zoneId, hosts) {
  const body = { type: 'advanced', certificate_authority: 'google', validation_method: 'txt', validity_days: 90, hosts };
  return assertOk(await v4(server, 'POST', orderPath(zoneId), { token, json: body }), `order ${hosts}`);
}

/** Waits (bounded by timeout ms) until every pack of ids is active. */
async function waitAllActive(server, token, zoneId, ids, timeout) {
  await waitFor(
    async () => {
      for (const id of ids) if ((await getPack(server, token, zoneId, id)).status !== 'active') return false;
      return true;
    },
    { timeout, interval: 200, what: `packs ${ids.join(', ')} active` },
  );
}

function openssl(args) {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 60_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('leases: one pack, one hook at a time, across worker processes', () => {
  const servers = [];
  after(() => stopAllClean(servers));

  test('(a) two `tlsward worker` processes with --lease 2s and a 5 s hook: no overlapping hook runs, each pack deployed once', async () => {
    const { root, dir, creds } = await makeInitialisedDir();
    const log = path.join(root, 'hook.log');
    const hook = await writeHook(root, log);
    const common = ['--dcv-mode', 'auto', '--worker-interval', '200ms', ...LEASE, ...hook];
    const api = await startServer(dir, ['--no-worker', ...common]);
    servers.push(api);
    servers.push(await startWorker(dir, common));
    servers.push(await startWorker(dir, common));

    const { token, account_id: accountId } = creds;
    const zone = await createZoneRaw(api, token, `leases-${uniq()}.example.com`, accountId);
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await order(api, token, zone.id, [zone.name, `h${i}.${zone.name}`])).id);
    await waitAllActive(api, token, zone.id, ids, 60_000);

    const runs = await hookRuns(log);
    for (const id of ids) {
      const mine = runs[id] ?? [];
      assert.equal(mine.length, 1, `pack ${id}: the deploy hook ran exactly once: ${JSON.stringify(mine)}`);
      assert.ok(mine[0].end >= mine[0].start + HOOK_SECONDS * 1000 - 100, `pack ${id}: the run completed`);
    }
    // No pack (the zone's universal pack included) had two runs at once.
    for (const [pack, list] of Object.entries(runs)) {
      const sorted = [...list].sort((x, y) => x.start - y.start);
      for (let i = 1; i < sorted.length; i++) {
        assert.ok(sorted[i - 1].end !== null && sorted[i - 1].end <= sorted[i].start, `pack ${pack}: hook runs overlap: ${JSON.stringify(sorted)}`);
      }
    }
  });

  test('(b) kill -9 during a deploy hook: the restarted server completes the pack within seconds', async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const log = path.join(root, 'hook.log');
    const args = ['--dcv-mode', 'auto', ...LEASE, ...(await writeHook(root, log))];
    const first = await startServer(dir, args);
    servers.push(first);
    const { token, account_id: accountId } = creds;
    const zone = await createZoneRaw(first, token, `kill-${uniq()}.example.com`, accountId);
    const pack = await order(first, token, zone.id, [zone.name, `www.${zone.name}`]);
    await waitFor(async () => (await hookRuns(log))[pack.id]?.length === 1, {
      timeout: 30_000,
      interval: 50,
      what: `the deploy hook of ${pack.id} to start`,
    });
    await killServer(first);

    const second = await startServer(dir, args);
    servers.push(second);
    const restarted = Date.now();
    await waitAllActive(second, token, zone.id, [pack.id], 30_000);
    const took = Date.now() - restarted;
    t.diagnostic(`active ${took} ms after the restart`);
    // The dead process's lease (2 s) runs out, then one hook run (5 s): far below the 60 s
    // a long lease would hold the job for.
    assert.ok(took < 20_000, `active ${took} ms after the restart`);
    const runs = (await hookRuns(log))[pack.id];
    assert.equal(runs.length, 2, `the killed run and the one after the restart: ${JSON.stringify(runs)}`);
  });
});

/** A UDP "DNS server" on 127.0.0.1 that reads every query and never answers. */
async function silentDns() {
  const sock = dgram.createSocket('udp4');
  let queries = 0;
  sock.on('message', () => {
    queries++;
  });
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', resolve);
  });
  return { address: `127.0.0.1:${sock.address().port}`, queries: () => queries, close: () => new Promise((r) => sock.close(r)) };
}

describe('lanes: revocations never wait behind validation', () => {
  const servers = [];
  let dns;
  after(async () => {
    await stopAllClean(servers);
    if (dns) await dns.close();
  });

  test('(c) a DELETE\'d client certificate is revoked and in the CRL within seconds while another tenant\'s packs wait on a DNS server that never answers', async (t) => {
    dns = await silentDns();
    const { root, dir } = await makeInitialisedDir();
    // One general thread: while it waits on the silent DNS server (a whole check budget per
    // pack, 10 packs with the universal ones), a revocation sharing it would wait too.
    const server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--worker-threads', '1', ...LEASE]);
    servers.push(server);

    // Tenant A: packs whose every validation check waits for DNS answers that never come.
    const a = await createAccount(dir, `slow-${uniq()}`);
    const { token: tokenA } = await createToken(dir, a.id, ['zone:write', 'ssl:write']);
    const zoneA = await createZoneRaw(server, tokenA, `slow-${uniq()}.example.com`, a.id);
    const slow = [];
    for (let i = 0; i < 8; i++) slow.push((await order(server, tokenA, zoneA.id, [zoneA.name, `h${i}.${zoneA.name}`])).id);
    // The general thread busy: one pack's checks query every record and CAA name at once.
    await waitFor(() => dns.queries() >= 8, { timeout: 30_000, interval: 50, what: 'the packs querying the silent DNS server' });

    // Tenant B, another account: a client certificate, then its DELETE.
    const b = await createAccount(dir, `mtls-${uniq()}`);
    const { token: tokenB } = await createToken(dir, b.id, ['zone:write', 'ssl:write']);
    const zoneB = await createZoneRaw(server, tokenB, `mtls-${uniq()}.example.com`, b.id);
    const keyPath = path.join(root, 'client.key');
    const csrPath = path.join(root, 'client.csr');
    await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', csrPath, '-subj', '/CN=client.example.com']);
    const csr = await fs.readFile(csrPath, 'utf8');
    const ccPath = `/zones/${zoneB.id}/client_certificates`;
    const cert = assertOk(await v4(server, 'POST', ccPath, { token: tokenB, json: { csr, validity_days: 30 } }), 'create client certificate');
    const serial = cert.serial_number.replace(/^0+/, '').toUpperCase();

    const deleted = Date.now();
    const del = assertOk(await v4(server, 'DELETE', `${ccPath}/${cert.id}`, { token: tokenB }), 'DELETE client certificate');
    assert.equal(del.status, 'pending_revocation');
    await waitFor(
      async () => assertOk(await v4(server, 'GET', `${ccPath}/${cert.id}`, { token: tokenB }), 'GET').status === 'revoked',
      { timeout: 30_000, interval: 50, what: 'the certificate to be revoked' },
    );
    const crlPath = path.join(root, 'crl.der');
    await waitFor(
      async () => {
        const res = await fetch(`${server.origin}/pki/accounts/${b.id}/client-ca.crl`, { signal: AbortSignal.timeout(30_000) });
        assert.equal(res.status, 200);
        await fs.writeFile(crlPath, Buffer.from(await res.arrayBuffer()));
        const text = await openssl(['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']);
        return [...text.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)].some((m) => m[1].replace(/^0+/, '').toUpperCase() === serial);
      },
      { timeout: 30_000, interval: 100, what: 'the serial in the CRL' },
    );
    const took = Date.now() - deleted;
    t.diagnostic(`revoked and in the CRL ${took} ms after the DELETE (${dns.queries()} DNS queries unanswered)`);
    assert.ok(took < 10_000, `revoked and in the CRL ${took} ms after the DELETE`);

    // The slow packs were still waiting all along (the lane did not just drain): the one
    // general thread spends a whole check budget on each, so most have not even been
    // checked once yet (no validation_errors), and none got further than validation.
    const packs = [];
    for (const id of slow) packs.push(await getPack(server, tokenA, zoneA.id, id));
    const statuses = packs.map((p) => p.status);
    assert.ok(statuses.every((st) => st === 'initializing' || st === 'pending_validation'), `slow packs: ${statuses}`);
    const checked = packs.filter((p) => (p.validation_errors ?? []).length > 0).length;
    assert.ok(checked < slow.length, `slow packs still queued behind the busy thread: ${checked} of ${slow.length} checked`);
  });
});

describe('the flags', () => {
  test('--lease (1s to 1h) and --worker-threads (1 to 32) refuse values out of range, on serve and worker', async () => {
    const { dir } = await makeInitialisedDir();
    const bad = [
      ['--lease', '0s'],
      ['--lease', '999ms'],
      ['--lease', '2h'],
      ['--lease', 'soon'],
      ['--worker-threads', '0'],
      ['--worker-threads', '33'],
      ['--worker-threads', '2x'],
    ];
    for (const cmd of ['worker', 'serve']) {
      for (const args of bad) {
        const listen = cmd === 'serve' ? ['--listen', '127.0.0.1:0'] : [];
        const r = await runCli([cmd, '--data', dir, ...listen, '--dcv-mode', 'auto', ...args]);
        assertUserError(r, `${cmd} ${args.join(' ')}`);
        assert.match(r.stderr, new RegExp(args[0]), `${cmd} ${args.join(' ')}: the message names the flag`);
      }
    }
  });
});
