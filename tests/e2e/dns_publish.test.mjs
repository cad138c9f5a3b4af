// DNS publication (--dns-update with TSIG, --dns-hook) and delegated DCV (validation method
// cname), against a real Knot DNS started by the test (and unbound in front of it where a
// CNAME must be followed across zones). The test never publishes a validation record
// itself: tlsward adds each TXT record by RFC 2136 (or through the hook), the pack becomes
// active in `--dcv-mode check`, and exactly the records tlsward added are gone afterwards.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  assertOk,
  createAccount,
  createToken,
  createZoneRaw,
  fakeClockEnv,
  HEX32,
  killServer,
  makeInitialisedDir,
  orderPath,
  packsPath,
  pollPack,
  runCli,
  startKnot,
  startServer,
  startUnbound,
  stopAllClean,
  stopServerExpectClean,
  uniq,
  v4,
  waitFor,
  waitPackStatus,
} from './harness.mjs';

const verificationPath = (zoneId, id) => `/zones/${zoneId}/ssl/verification${id ? `/${id}` : ''}`;
const FORBID = '@ CAA 0 issue "nobody.example"';
const ALLOW = 'CAA 0 issue "tlsward.local"';

async function tenant(server, dir, zoneName) {
  const account = await createAccount(dir, `dns-${uniq()}`);
  const { token } = await createToken(dir, account.id, ['zone:write', 'ssl:write']);
  const zone = await createZoneRaw(server, token, zoneName, account.id);
  // Universal SSL off: only the pack under test publishes records in the zone.
  assertOk(await v4(server, 'PATCH', `/zones/${zone.id}/ssl/universal/settings`, { token, json: { enabled: false } }), 'universal off');
  return { token, zone };
}

async function order(server, token, zoneId, hosts, validityDays = 90) {
  const p = assertOk(
    await v4(server, 'POST', orderPath(zoneId), {
      token,
      json: { certificate_authority: 'google', hosts, type: 'advanced', validation_method: 'txt', validity_days: validityDays },
    }),
    'order',
  );
  assert.match(p.id, HEX32);
  return p;
}

const retry = async (server, token, zoneId) => assertOk(await v4(server, 'GET', `${verificationPath(zoneId)}?retry=true`, { token }), 'retry');

/** Waits until the TXT values at name are exactly `values` (the zone's universal pack, turned
 * off right after the zone was created, may still have its own records there for a moment). */
async function waitTxt(knot, name, values) {
  const want = [...values].sort();
  let last;
  await waitFor(async () => {
    last = await knot.txt(name);
    return JSON.stringify(last) === JSON.stringify(want) ? true : null;
  }, { timeout: 15_000, interval: 100, what: `TXT at ${name} to be ${JSON.stringify(want)}` }).catch((e) => {
    throw new Error(`${e.message}; last seen: ${JSON.stringify(last)}`);
  });
}

/** Waits until every name has no TXT record left in Knot. */
async function waitNoTxt(knot, names) {
  await waitFor(async () => ((await Promise.all(names.map((n) => knot.txt(n)))).every((v) => v.length === 0) ? true : null), {
    timeout: 15_000,
    interval: 100,
    what: `no TXT records left at ${names.join(', ')}`,
  });
}

/** A --dns-hook that logs each call and adds/deletes the record in Knot with knsupdate. */
function hookScript(knot, log) {
  return [
    '#!/bin/sh',
    'set -e',
    `echo "$TLSWARD_EVENT $TLSWARD_RECORD_NAME $TLSWARD_RECORD_VALUE $TLSWARD_ZONE $TLSWARD_PACK_ID" >> '${log}'`,
    'if [ "$TLSWARD_EVENT" = present ]; then op=add; ttl=60; else op=delete; ttl=; fi',
    `printf 'server 127.0.0.1 ${knot.port}\\nzone %s\\nupdate %s %s. %s TXT "%s"\\nsend\\n' "$TLSWARD_ZONE" "$op" "$TLSWARD_RECORD_NAME" "$ttl" "$TLSWARD_RECORD_VALUE" | knsupdate -y 'hmac-sha256:${knot.tsig.split(':')[0]}:${knot.tsig.split(':')[2]}'`,
    '',
  ].join('\n');
}


describe('DNS publication', () => {
  let root;
  const servers = [];
  before(async () => {
    root = await fs.mkdtemp(path.join(process.env.TMPDIR || '/tmp', 'tw-dnspub-'));
  });
  after(async () => {
    await stopAllClean(servers);
    await fs.rm(root, { recursive: true, force: true });
  });

  test('bad DNS publication flags: exit 1 with a one-line reason that never repeats the TSIG secret', async () => {
    const { dir } = await makeInitialisedDir();
    const secret = 'c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw==';
    for (const [args, reason] of [
      [['--dns-update', '127.0.0.1:53'], '--dns-update needs --dns-tsig'],
      [['--dns-tsig', `k:hmac-sha256:${secret}`], '--dns-tsig needs --dns-update'],
      [['--dns-update', '127.0.0.1:53', '--dns-tsig', `k:hmac-md5:${secret}`], 'hmac-sha256'],
      [['--dns-update', '127.0.0.1:53', '--dns-tsig', `k:hmac-sha256:${secret}!`], 'base64'],
      [['--dns-update', 'dns.example:53', '--dns-tsig', `k:hmac-sha256:${secret}`], 'host names are not resolved'],
      [['--dcv-domain', 'Not A Domain'], '--dcv-domain'],
    ]) {
      for (const cmd of ['serve', 'worker']) {
        const r = await runCli([cmd, '--data', dir, '--listen', '127.0.0.1:0', ...args].filter((a, i, all) => cmd === 'serve' || (a !== '--listen' && all[i - 1] !== '--listen')));
        assert.equal(r.code, 1, `${cmd} ${args.join(' ')}: exit 1 (stderr: ${r.stderr})`);
        assert.ok(r.stderr.includes(reason), `${cmd} ${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
        assert.ok(!r.stderr.includes(secret.slice(0, 12)), 'the secret is never printed');
      }
    }
  });

  test('--dns-update: a txt pack’s records are added by RFC 2136 while pending, the pack becomes active, and exactly those records are deleted', async () => {
    const z = `pub-${uniq()}.test`;
    const knot = await startKnot(path.join(root, 'knot1'), [z], { [z]: [FORBID, '_acme-challenge.other TXT "not-ours"'] });
    const { dir } = await makeInitialisedDir();
    const server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', knot.address, '--dns-update', knot.address, '--dns-tsig', knot.tsig]);
    servers.push(server);
    assert.ok(!server.stderr().includes(knot.tsig.split(':')[2]), 'the TSIG secret is never logged');
    const { token, zone } = await tenant(server, dir, z);
    const p = await order(server, token, zone.id, [z, `*.${z}`, `www.${z}`]);

    // Pending (CAA forbids for now), with the records in DNS though the test published none.
    const { pack } = await pollPack(server, token, zone.id, p.id, (x) => x.status === 'pending_validation' && (x.validation_errors ?? []).some((e) => /CAA record at/.test(e.message)), 'pending on CAA');
    const byName = {};
    for (const r of pack.validation_records) (byName[r.txt_name] ??= []).push(r.txt_value);
    assert.deepEqual(Object.keys(byName).sort(), [`_acme-challenge.${z}`, `_acme-challenge.www.${z}`]);
    assert.equal(byName[`_acme-challenge.${z}`].length, 2, 'the apex and its wildcard: two values at one name');
    for (const [name, values] of Object.entries(byName)) await waitTxt(knot, name, values);
    assert.ok(!(pack.validation_errors ?? []).some((e) => /TXT/.test(e.message)), `the TXT checks pass: ${JSON.stringify(pack.validation_errors)}`);

    // The CAA record changes; the next check passes.
    await knot.update(z, [`update delete ${z}. CAA`, `update add ${z}. 60 ${ALLOW}`]);
    await retry(server, token, zone.id);
    await waitPackStatus(server, token, zone.id, p.id, 'active');
    await waitNoTxt(knot, Object.keys(byName));
    assert.deepEqual(await knot.txt(`_acme-challenge.other.${z}`), ['not-ours'], 'a record tlsward did not add is untouched');
    await knot.stop();
  });

  test('kill -9 while records are published: after a restart, DELETE removes exactly the records tlsward added (the user’s own record at the same name stays)', async () => {
    const z = `crash-${uniq()}.test`;
    const knot = await startKnot(path.join(root, 'knot4'), [z], { [z]: [FORBID, '_acme-challenge TXT "users-own"'] });
    const { dir } = await makeInitialisedDir();
    const flags = ['--dcv-mode', 'check', '--dns-resolver', knot.address, '--dns-update', knot.address, '--dns-tsig', knot.tsig];
    const first = await startServer(dir, flags);
    const { token, zone } = await tenant(first, dir, z);
    const p = await order(first, token, zone.id, [z, `*.${z}`]);
    const { pack } = await pollPack(first, token, zone.id, p.id, (x) => x.status === 'pending_validation' && (x.validation_errors ?? []).some((e) => /CAA record at/.test(e.message)), 'pending on CAA');
    const ours = pack.validation_records.map((r) => r.txt_value);
    await waitTxt(knot, `_acme-challenge.${z}`, [...ours, 'users-own']);
    await killServer(first);

    const second = await startServer(dir, flags);
    servers.push(second);
    assertOk(await v4(second, 'DELETE', packsPath(zone.id, p.id), { token }), 'delete');
    await waitFor(async () => {
      const left = await knot.txt(`_acme-challenge.${z}`);
      return left.length === 1 ? left : null;
    }, { timeout: 15_000, what: 'the records tlsward added to be deleted' });
    assert.deepEqual(await knot.txt(`_acme-challenge.${z}`), ['users-own']);
    await knot.stop();
  });

  test('--dns-hook: present then cleanup for each record, with name, value, zone and pack id; the pack becomes active', async () => {
    const z = `hook-${uniq()}.test`;
    const knot = await startKnot(path.join(root, 'knot2'), [z], { [z]: [`@ ${ALLOW}`] });
    const work = await fs.mkdtemp(path.join(root, 'hook-'));
    const log = path.join(work, 'calls.log');
    const hook = path.join(work, 'hook.sh');
    await fs.writeFile(hook, hookScript(knot, log), { mode: 0o755 });
    const { dir } = await makeInitialisedDir();
    const server = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', knot.address, '--dns-hook', hook]);
    servers.push(server);
    const { token, zone } = await tenant(server, dir, z);
    const p = await order(server, token, zone.id, [z, `www.${z}`]);
    const active = await waitPackStatus(server, token, zone.id, p.id, 'active');
    assert.equal(active.status, 'active');
    const names = [`_acme-challenge.${z}`, `_acme-challenge.www.${z}`];
    await waitNoTxt(knot, names).catch(async (e) => {
      throw new Error(`${e.message}; hook calls: ${await fs.readFile(log, 'utf8').catch(() => '')}; server log: ${server.stderr().slice(-3000)}`);
    });
    const calls = await waitFor(async () => {
      const lines = (await fs.readFile(log, 'utf8')).split('\n').filter(Boolean);
      return lines.filter((l) => l.startsWith('cleanup ') && l.endsWith(` ${p.id}`)).length >= 2 ? lines : null;
    }, { timeout: 15_000, what: 'the cleanup calls' });
    // (The zone's universal pack may have published before Universal SSL was turned off.)
    const ofPack = calls.map((l) => l.split(' ')).filter((c) => c[4] === p.id);
    const present = ofPack.filter((c) => c[0] === 'present');
    const cleanup = ofPack.filter((c) => c[0] === 'cleanup');
    assert.deepEqual(present.map((c) => c[1]).sort(), names, 'one present per record');
    for (const c of [...present, ...cleanup]) {
      assert.equal(c[3], z, 'TLSWARD_ZONE is the zone name');
      assert.equal(c[4], p.id, 'TLSWARD_PACK_ID');
      assert.match(c[2], /^[A-Za-z0-9_-]{43}$/, 'TLSWARD_RECORD_VALUE');
    }
    assert.deepEqual(cleanup.map((c) => c.slice(1, 3).join(' ')).sort(), present.map((c) => c.slice(1, 3).join(' ')).sort(), 'cleanup removes exactly what present added');
    await knot.stop();
  });

  test('delegated DCV: PATCH switches a pending pack to cname; tlsward publishes at the CNAME targets, the pack becomes active through a recursive resolver, and renews 25 days later with no user action', async () => {
    const z = `deleg-${uniq()}.test`;
    const d = `dcv-${uniq()}.test`;
    const knot = await startKnot(path.join(root, 'knot3'), [z, d], { [z]: [FORBID] });
    const unbound = await startUnbound(path.join(root, 'unbound3'), knot.port, [z, d], ['test']);
    const { dir } = await makeInitialisedDir();
    const server = await startServer(dir, [
      '--dcv-mode', 'check', '--dns-resolver', unbound.address,
      '--dns-update', knot.address, '--dns-tsig', knot.tsig, '--dcv-domain', d,
    ]);
    servers.push(server);
    const { token, zone } = await tenant(server, dir, z);
    const p = await order(server, token, zone.id, [z, `www.${z}`], 30);
    await pollPack(server, token, zone.id, p.id, (x) => x.status === 'pending_validation', 'pending');

    const sw = assertOk(await v4(server, 'PATCH', verificationPath(zone.id, p.id), { token, json: { validation_method: 'cname' } }), 'switch to cname');
    assert.deepEqual(sw, { status: 'pending_validation', validation_method: 'cname' });
    const { pack } = await pollPack(
      server, token, zone.id, p.id,
      (x) => x.validation_method === 'cname' && (x.validation_errors ?? []).some((e) => /no CNAME at _acme-challenge\./.test(e.message)),
      'the cname check asking for the CNAME',
    );
    const targets = Object.fromEntries(pack.dcv_delegation_records.map((r) => [r.cname, r.cname_target]));
    assert.deepEqual(targets, {
      [`_acme-challenge.${z}`]: `${z}.${zone.id}.${d}`,
      [`_acme-challenge.www.${z}`]: `www.${z}.${zone.id}.${d}`,
    });
    for (const r of pack.validation_records) {
      assert.deepEqual(await knot.txt(targets[r.txt_name]), [r.txt_value], `TXT at the target of ${r.txt_name}`);
      assert.deepEqual(await knot.txt(r.txt_name), [], `no TXT left at ${r.txt_name} from the txt method`);
    }

    // The user's one-time CNAMEs; then CAA allows, and the next check follows the CNAMEs.
    await knot.update(z, Object.entries(targets).map(([cname, target]) => `update add ${cname}. 60 CNAME ${target}.`));
    await knot.update(z, [`update delete ${z}. CAA`, `update add ${z}. 60 ${ALLOW}`]);
    await retry(server, token, zone.id);
    const first = await waitPackStatus(server, token, zone.id, p.id, 'active');
    await waitNoTxt(knot, Object.values(targets));

    // 25 days later (two thirds of 30) the renewal needs no user action: tlsward puts the
    // values back at the targets, the check follows the user's CNAMEs again, a new pair is
    // issued and the records go. (Here through --dns-hook: under libfaketime the server's
    // TSIG times would be 25 days off, while the hook's knsupdate runs on the real clock.)
    await stopServerExpectClean(server);
    const log = path.join(root, 'renew-hook.log');
    const hook = path.join(root, 'renew-hook.sh');
    await fs.writeFile(hook, hookScript(knot, log), { mode: 0o755 });
    const later = await startServer(dir, ['--dcv-mode', 'check', '--dns-resolver', unbound.address, '--dns-hook', hook, '--dcv-domain', d], { env: fakeClockEnv('+25d') });
    servers.push(later);
    const renewed = await waitFor(async () => {
      const x = assertOk(await v4(later, 'GET', `/zones/${zone.id}/ssl/certificate_packs/${p.id}`, { token }), 'get');
      return x.status === 'active' && x.primary_certificate !== first.primary_certificate ? x : null;
    }, { timeout: 30_000, what: 'the renewed certificate' });
    assert.equal(renewed.certificates.length, 2);
    await waitNoTxt(knot, Object.values(targets));
    const calls = (await fs.readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')).filter((c) => c[4] === p.id);
    assert.deepEqual(calls.filter((c) => c[0] === 'present').map((c) => c[1]).sort(), Object.values(targets).sort(), 'published again at the targets');
    assert.ok(calls.every((c) => c[3] === d), 'TLSWARD_ZONE is the DCV zone');
    assert.equal(calls.filter((c) => c[0] === 'cleanup').length, 2, 'and removed after the renewal');
    await unbound.stop();
    await knot.stop();
  });
});
