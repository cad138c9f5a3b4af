// The parts of ACME issuance together, against real servers only: Pebble's VA really checks
// every challenge (no PEBBLE_VA_ALWAYS_VALID, its 5 % bad-nonce rejection left on), through
// unbound in front of a Knot DNS that tlsward updates itself (RFC 2136 with TSIG, or a
// --dns-hook running knsupdate), through tlsward's own HTTP-01 responder, and through a
// delegated DCV zone the user's one-time CNAME points to. The test never publishes a
// validation record: each pack becomes active in `--dcv-mode check`, both certificates chain
// to Pebble's root, nginx serves the deployed ECDSA pair to curl, and the records are gone.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  cleanup,
  makeInitialisedDir,
  startKnot,
  startNginx,
  startPebble,
  startServer,
  startUnbound,
  stopAllClean,
  tokenClient,
  uniq,
  waitFor,
  waitForStderr,
} from './harness.mjs';

const FORBID = '@ CAA 0 issue "nobody.example"';
const ALLOW = 'CAA 0 issue "letsencrypt.org"';

function run(cmd, args) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, stdout, stderr }));
  });
}

/** Every PEM certificate of a text. */
const pems = (text) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];

/** A --dns-hook that logs each call and adds/deletes the record in Knot with knsupdate. */
function hookScript(knot, log) {
  const [name, , secret] = knot.tsig.split(':');
  return [
    '#!/bin/sh',
    'set -e',
    `echo "$TLSWARD_EVENT $TLSWARD_RECORD_NAME $TLSWARD_ZONE $TLSWARD_PACK_ID" >> '${log}'`,
    'if [ "$TLSWARD_EVENT" = present ]; then op=add; ttl=60; else op=delete; ttl=; fi',
    `printf 'server 127.0.0.1 ${knot.port}\\nzone %s\\nupdate %s %s. %s TXT "%s"\\nsend\\n' "$TLSWARD_ZONE" "$op" "$TLSWARD_RECORD_NAME" "$ttl" "$TLSWARD_RECORD_VALUE" | knsupdate -y 'hmac-sha256:${name}:${secret}'`,
    '',
  ].join('\n');
}

describe('ACME end to end: Pebble really validating through Knot, unbound, the HTTP-01 responder and nginx', () => {
  let root;
  let knot;
  let unbound;
  let pebble;
  const servers = [];
  const zones = Object.fromEntries(['txt', 'hook', 'http', 'cname', 'dcv'].map((k) => [k, `${k}-${uniq()}.test`]));

  before(async () => {
    ({ root } = await makeInitialisedDir());
    // The txt, hook and cname zones forbid issuance at first (the pack stays pending with its
    // records published); the http zone has no CAA (the climb ends at unbound's NXDOMAIN).
    knot = await startKnot(path.join(root, 'knot'), Object.values(zones), {
      [zones.txt]: [FORBID],
      [zones.hook]: [FORBID],
      [zones.cname]: [FORBID],
    });
    unbound = await startUnbound(path.join(root, 'unbound'), knot.port, Object.values(zones), ['test']);
    pebble = await startPebble(path.join(root, 'pebble'), {
      alwaysValid: false,
      dnsServer: unbound.address,
      env: { PEBBLE_AUTHZREUSE: '100' },
    });
  });

  after(async () => {
    try {
      await stopAllClean(servers);
    } finally {
      await pebble?.stop();
      await unbound?.stop();
      await knot?.stop();
      await cleanup(root);
    }
  });

  /** A tlsward serve on a fresh data dir with Pebble as lets_encrypt; { server, cf, dir, zone }. */
  async function tenant(zoneName, flags) {
    await stopAllClean(servers.splice(0)); // the previous test's server
    const init = await makeInitialisedDir();
    const server = await startServer(init.dir, [
      '--acme-directory', `lets_encrypt=${pebble.directory}`,
      '--acme-ca-file', pebble.caFile,
      '--acme-contact', 'mailto:ops@example.com',
      '--worker-interval', '200ms',
      '--dcv-mode', 'check',
      '--dns-resolver', unbound.address,
      ...flags,
    ]);
    servers.push(server);
    const cf = tokenClient(server, init.creds.token);
    const zone = await cf.zones.create({ name: zoneName, account: { id: init.creds.account_id } });
    // Universal SSL off: only the pack under test publishes records in the zone.
    await cf.ssl.universal.settings.edit({ zone_id: zone.id, enabled: false });
    return { server, cf, dir: init.dir, zone, root: init.root };
  }

  /** Authorizations Pebble's VA has set valid (it logs one line per completed challenge). */
  const validCount = () => (pebble.log().match(/authz \S+ set VALID by completed challenge/g) ?? []).length;

  /** Pebble really checked what tlsward published: at least `n` more authorizations valid
   * since `mark`, and no challenge ever answered before its record could be seen. */
  function assertPebbleValidated(mark, n) {
    assert.ok(validCount() - mark >= n, `Pebble's VA validated ${n} authorizations (log:\n${pebble.log().slice(-3000)})`);
    assert.doesNotMatch(pebble.log(), /set INVALID by completed challenge/);
  }

  const order = (t, hosts, validation_method) =>
    t.cf.ssl.certificatePacks.create({ zone_id: t.zone.id, certificate_authority: 'lets_encrypt', hosts, type: 'advanced', validation_method, validity_days: 90 });

  const logTail = (t) => t.server.stderr().split('\n').filter((l) => !/ request /.test(l)).join('\n').slice(-4000);

  async function waitPack(t, id, pred, what, timeout = 45_000) {
    let last;
    try {
      return await waitFor(async () => {
        last = await t.cf.ssl.certificatePacks.get(id, { zone_id: t.zone.id });
        return pred(last) ? last : null;
      }, { timeout, interval: 100, what });
    } catch (e) {
      e.message += `; last seen: ${JSON.stringify(last)}; log:\n${logTail(t)}\nPebble:\n${pebble.log().slice(-3000)}`;
      throw e;
    }
  }

  /** Waits until the TXT values Knot serves at name are exactly `values`. */
  async function waitTxt(name, values) {
    const want = [...values].sort();
    let last;
    await waitFor(async () => {
      last = await knot.txt(name);
      return JSON.stringify(last) === JSON.stringify(want);
    }, { timeout: 15_000, interval: 100, what: `TXT at ${name} to be ${JSON.stringify(want)}` }).catch((e) => {
      throw new Error(`${e.message}; last seen: ${JSON.stringify(last)}`);
    });
  }

  const waitNoTxt = (names) =>
    waitFor(async () => (await Promise.all(names.map((n) => knot.txt(n)))).every((v) => v.length === 0), {
      timeout: 15_000,
      interval: 100,
      what: `no TXT records left at ${names.join(', ')}`,
    });

  /** CAA at the zone apex now allows Let's Encrypt; waits until unbound (which caches for
   * 1 s) serves the new record, then asks for a re-check, so the check sees it. */
  async function allowCaa(t, zoneName) {
    await knot.update(zoneName, [`update delete ${zoneName}. CAA`, `update add ${zoneName}. 60 ${ALLOW}`]);
    await waitFor(async () => {
      const r = await run('kdig', ['@127.0.0.1', '-p', String(unbound.port), '+short', 'CAA', zoneName]);
      return r.code === 0 && r.stdout.includes('letsencrypt.org');
    }, { timeout: 10_000, interval: 200, what: `unbound serving the new CAA of ${zoneName}` });
    await t.cf.ssl.verification.get({ zone_id: t.zone.id, retry: true });
  }

  /** Both deployed pairs chain to Pebble's /roots/0 (openssl verify) and match their keys;
   * nginx serves the ECDSA pair and curl verifies it for every host against that root. */
  async function checkServed(t, pack, hosts) {
    const base = path.join(t.dir, 'deploy', t.zone.id, pack.id);
    const rootFile = path.join(t.root, 'pebble-root.pem');
    await fs.writeFile(rootFile, await pebble.root());
    for (const kind of ['ecdsa', 'rsa']) {
      const crt = path.join(base, `${kind}.crt`);
      const certs = pems(await fs.readFile(crt, 'utf8'));
      assert.ok(certs.length >= 2, `${kind}.crt holds the leaf and the intermediate(s)`);
      const v = await run('openssl', ['verify', '-CAfile', rootFile, '-untrusted', crt, crt]);
      assert.equal(v.code, 0, `${kind}.crt chains to Pebble's root: ${v.stdout}${v.stderr}`);
      const leaf = new X509Certificate(certs[0]);
      assert.match(leaf.issuer, /Pebble Intermediate CA/);
      assert.equal(leaf.publicKey.asymmetricKeyType, kind === 'ecdsa' ? 'ec' : 'rsa');
      const spki = (k) => k.export({ type: 'spki', format: 'der' }).toString('hex');
      const key = createPrivateKey(await fs.readFile(path.join(base, `${kind}.key`), 'utf8'));
      assert.equal(spki(createPublicKey(key)), spki(leaf.publicKey), `${kind}.key matches its certificate`);
      for (const h of hosts) assert.ok(leaf.subjectAltName.split(', ').includes(`DNS:${h}`), `${kind} names ${h}`);
    }
    const ngx = await startNginx(path.join(t.root, 'nginx'), { dataDir: t.dir, zoneId: t.zone.id, packId: pack.id });
    try {
      for (const h of hosts.map((x) => x.replace(/^\*\./, 'any.'))) {
        const r = await run('curl', ['-sS', '--max-time', '10', '--cacert', rootFile, '--resolve', `${h}:${ngx.port}:127.0.0.1`, `https://${h}:${ngx.port}/`]);
        assert.equal(r.code, 0, `curl https://${h}/ against Pebble's root: ${r.stderr}\nnginx: ${await ngx.log()}`);
        assert.equal(r.stdout, 'tlsward nginx fixture\n');
      }
      // A name the certificate does not carry fails: curl really verified.
      const other = `a.b.${t.zone.name}`;
      const bad = await run('curl', ['-sS', '--max-time', '10', '--cacert', rootFile, '--resolve', `${other}:${ngx.port}:127.0.0.1`, `https://${other}:${ngx.port}/`]);
      assert.equal(bad.code, 60, `curl to a name outside the certificate: ${bad.stderr}`);
    } finally {
      await ngx.stop();
    }
  }

  /** The dns-01 case shared by --dns-update and --dns-hook: pending on CAA with the values in
   * Knot, then CAA allows, Pebble validates what tlsward published, active, served, cleaned. */
  async function dnsCase(zoneName, flags, hosts) {
    const t = await tenant(zoneName, flags);
    const mark = validCount();
    const p = await order(t, hosts, 'txt');
    const pending = await waitPack(
      t, p.id,
      (x) => x.status === 'pending_validation' && (x.validation_errors ?? []).some((e) => /CAA record at/.test(e.message)),
      'pending on CAA, with the ACME order open',
    );
    const byName = {};
    for (const r of pending.validation_records) (byName[r.txt_name] ??= []).push(r.txt_value);
    const names = [...new Set(hosts.map((h) => `_acme-challenge.${h.replace(/^\*\./, '')}`))].sort();
    assert.deepEqual(Object.keys(byName).sort(), names);
    for (const v of Object.values(byName).flat()) assert.match(v, /^[A-Za-z0-9_-]{43}$/, 'a real dns-01 value');
    for (const [name, values] of Object.entries(byName)) await waitTxt(name, values);

    await allowCaa(t, zoneName);
    const active = await waitPack(t, p.id, (x) => x.status === 'active', 'active');
    assert.equal(active.certificates.length, 2);
    assertPebbleValidated(mark, hosts.length);
    await waitNoTxt(names);
    await checkServed(t, active, hosts);
    return p.id;
  }

  test('lets_encrypt txt pack with --dns-update: tlsward publishes by RFC 2136, Pebble validates through Knot, active, both pairs chain to Pebble’s root, nginx serves it, the records go', async () => {
    const z = zones.txt;
    await dnsCase(z, ['--dns-update', knot.address, '--dns-tsig', knot.tsig], [z, `*.${z}`, `www.${z}`]);
  });

  test('lets_encrypt txt pack with --dns-hook (knsupdate): the same, each record presented then cleaned up by the hook', async () => {
    const z = zones.hook;
    const log = path.join(root, 'hook.log');
    const hook = path.join(root, 'hook.sh');
    await fs.writeFile(hook, hookScript(knot, log), { mode: 0o755 });
    const id = await dnsCase(z, ['--dns-hook', hook], [z, `www.${z}`]);
    // (The zone's universal pack may have called the hook before Universal SSL was turned off.)
    const calls = (await fs.readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => l.split(' ')).filter((c) => c[3] === id);
    const names = [`_acme-challenge.${z}`, `_acme-challenge.www.${z}`];
    assert.deepEqual(calls.filter((c) => c[0] === 'present').map((c) => c[1]).sort(), names);
    assert.deepEqual(calls.filter((c) => c[0] === 'cleanup').map((c) => c[1]).sort(), names);
  });

  test('lets_encrypt http pack: tlsward’s own responder on Pebble’s httpPort answers both its own check and Pebble’s VA; active with nothing served by the test', async () => {
    const z = zones.http;
    const port = pebble.httpPort;
    const t = await tenant(z, ['--dcv-allow-private', '--dcv-http-port', String(port), '--http-challenge-listen', `127.0.0.1:${port}`]);
    await waitForStderr(t.server, new RegExp(`challenge responder listening on http://127\\.0\\.0\\.1:${port}\\b`));
    const hosts = [z, `www.${z}`];
    const mark = validCount();
    const p = await order(t, hosts, 'http');
    const active = await waitPack(t, p.id, (x) => x.status === 'active', 'active');
    assert.equal(active.certificates.length, 2);
    assertPebbleValidated(mark, hosts.length);
    await checkServed(t, active, hosts);
  });

  test('delegated DCV: a pending lets_encrypt pack switched to cname by PATCH; tlsward updates the DCV zone, Pebble and tlsward follow the user’s CNAME through unbound; active', async () => {
    const z = zones.cname;
    const d = zones.dcv;
    const t = await tenant(z, ['--dns-update', knot.address, '--dns-tsig', knot.tsig, '--dcv-domain', d]);
    const hosts = [z, `www.${z}`];
    const mark = validCount();
    const p = await order(t, hosts, 'txt');
    await waitPack(t, p.id, (x) => x.status === 'pending_validation' && (x.validation_errors ?? []).length > 0, 'pending');

    const sw = await t.cf.ssl.verification.edit(p.id, { zone_id: t.zone.id, validation_method: 'cname' });
    assert.equal(sw.validation_method, 'cname');
    const pack = await waitPack(
      t, p.id,
      (x) => x.validation_method === 'cname' && (x.validation_errors ?? []).some((e) => /no CNAME at _acme-challenge\./.test(e.message)),
      'the cname check asking for the CNAME',
    );
    const targets = Object.fromEntries(pack.dcv_delegation_records.map((r) => [r.cname, r.cname_target]));
    assert.deepEqual(targets, {
      [`_acme-challenge.${z}`]: `${z}.${t.zone.id}.${d}`,
      [`_acme-challenge.www.${z}`]: `www.${z}.${t.zone.id}.${d}`,
    });
    for (const r of pack.validation_records) {
      assert.match(r.txt_value, /^[A-Za-z0-9_-]{43}$/, 'the ACME order’s dns-01 value');
      await waitTxt(targets[r.txt_name], [r.txt_value]);
      assert.deepEqual(await knot.txt(r.txt_name), [], `nothing left at ${r.txt_name} from the txt method`);
    }

    // The user's one-time CNAMEs, then CAA allows; the next check and Pebble follow them.
    await knot.update(z, Object.entries(targets).map(([cname, target]) => `update add ${cname}. 60 CNAME ${target}.`));
    await allowCaa(t, z);
    const active = await waitPack(t, p.id, (x) => x.status === 'active', 'active');
    assert.equal(active.certificates.length, 2);
    assertPebbleValidated(mark, hosts.length);
    await waitNoTxt(Object.values(targets));
    await checkServed(t, active, hosts);
  });
});
