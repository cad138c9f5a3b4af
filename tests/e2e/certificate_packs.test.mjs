// Certificate packs (seeds 000, 001, 004; SPEC §4.2–§4.5, §5) through the official SDK and
// raw HTTP, mostly on an auto-DCV server: the universal pack of a new zone, an advanced order
// walking its lifecycle to active, the issued ECDSA + RSA pair checked against the published
// root with the openssl CLI (chains, SANs, key types, deployed keys and modes, the deploy
// hook's environment), every ordering rule, the advanced quota (default 50 and `tlsward zone
// quota`), deletion (with and without a worker), Universal SSL settings, verification, pagination,
// isolation between accounts and permissions. Pending packs (verification shapes, method
// switch) come from a check-mode server whose DNS (dnsmasq) has no records.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
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
  makeInitialisedDir,
  randomId,
  request,
  runCli,
  sleep,
  startDnsmasq,
  startServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
  getPack,
  orderPath,
  packsPath,
  pollPack,
  waitPackStatus,
  waitPackGone,
  stopAllClean,
  mapLimit,
} from './harness.mjs';

const DAY_MS = 86_400_000;
const ISSUER = 'tlsward Local Issuing CA';
const ROOT_CN = 'tlsward Local Root CA';
const LIFECYCLE = ['initializing', 'pending_validation', 'pending_issuance', 'pending_deployment', 'active'];
const BASE_KEYS = ['certificate_authority', 'cloudflare_branding', 'hosts', 'id', 'status', 'type', 'validation_method', 'validity_days'];
const ACTIVE_KEYS = [...BASE_KEYS, 'certificates', 'dcv_delegation_records', 'primary_certificate'].sort();
const CERT_KEYS = ['bundle_method', 'expires_on', 'hosts', 'id', 'issuer', 'modified_on', 'priority', 'signature', 'status', 'uploaded_on', 'zone_id'];
const VERIFICATION_KEYS = ['brand_check', 'cert_pack_uuid', 'certificate_status', 'signature', 'validation_method', 'verification_info', 'verification_status'];
const DEPLOY_FILES = ['ecdsa.crt', 'ecdsa.key', 'rsa.crt', 'rsa.key'];
const B64URL43 = /^[A-Za-z0-9_-]{43}$/;
/** Bounded polls of the worker's transitions: ≤ 15 s. */
const HEAVY = { timeout: 300_000 };

// ------------------------------------------------------------------------------------------
// openssl and PEM helpers

/** Runs openssl; resolves { code, stdout, stderr } (never rejects on a non-zero exit). */
function openssl(args) {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number' && !err.signal) {
        reject(err);
        return;
      }
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function opensslOk(args) {
  const r = await openssl(args);
  assert.equal(r.code, 0, `openssl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The PEM certificate blocks of a text, in order. */
const pemBlocks = (text) => text.match(/-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----\n?/g) ?? [];

/** "DNS:a, DNS:b" lines of `openssl x509 -ext subjectAltName` → ['a', 'b']. */
async function sanOf(pemPath) {
  const out = await opensslOk(['x509', '-in', pemPath, '-noout', '-ext', 'subjectAltName']);
  const lines = out.split('\n').map((l) => l.trim()).filter(Boolean);
  assert.equal(lines[0], 'X509v3 Subject Alternative Name:', `SAN extension header: ${out}`);
  assert.equal(lines.length, 2, `one SAN line: ${out}`);
  return lines[1].split(', ').map((x) => {
    assert.ok(x.startsWith('DNS:'), `only DNS names in the SAN: ${x}`);
    return x.slice(4);
  });
}

/** The CN of an X509Certificate subject/issuer string. */
const cnOf = (dn) => /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1];

/** SPKI DER of a public key. */
const spki = (key) => key.export({ type: 'spki', format: 'der' });

// ------------------------------------------------------------------------------------------
// API helpers

const quotaPath = (zoneId) => `/zones/${zoneId}/ssl/certificate_packs/quota`;
const verificationPath = (zoneId, id) => `/zones/${zoneId}/ssl/verification${id ? `/${id}` : ''}`;
const universalPath = (zoneId) => `/zones/${zoneId}/ssl/universal/settings`;

const baseName = (host) => (host.startsWith('*.') ? host.slice(2) : host);


/** One raw list call: { items, info }. */
async function listPacks(server, token, zoneId, query = '') {
  const res = await v4(server, 'GET', `${packsPath(zoneId)}${query ? `?${query}` : ''}`, { token });
  const items = assertOk(res, `GET packs ?${query}`);
  assert.ok(Array.isArray(items), 'list result must be an array');
  return { items, info: res.body.result_info };
}

async function quotaOf(server, token, zoneId) {
  return assertOk(await v4(server, 'GET', quotaPath(zoneId), { token }), 'GET quota');
}

async function orderRaw(server, token, zoneId, body) {
  return v4(server, 'POST', orderPath(zoneId), { token, json: body });
}

async function orderOk(server, token, zoneId, body, what = 'order') {
  return assertOk(await orderRaw(server, token, zoneId, body), what);
}

/** An order body for zone name z (defaults: Google, [z, *.z], txt, 90 days). */
const orderBody = (z, extra = {}) => ({
  certificate_authority: 'google',
  hosts: [z, `*.${z}`],
  type: 'advanced',
  validation_method: 'txt',
  validity_days: 90,
  ...extra,
});


const waitStatus = waitPackStatus;

/** Asserts the statuses seen follow the lifecycle order (initializing → … → active). */
function assertLifecycleOrder(seen, what) {
  let last = -1;
  for (const s of seen) {
    const i = LIFECYCLE.indexOf(s);
    assert.ok(i >= 0, `${what}: unexpected status ${s} (seen ${seen.join(' → ')})`);
    assert.ok(i > last, `${what}: statuses out of order: ${seen.join(' → ')}`);
    last = i;
  }
}

/** The pack as ordered: status initializing, no certificates yet ([]) and no records. */
function assertInitializing(pack, expect, what = 'order response') {
  assert.deepEqual(Object.keys(pack).sort(), [...BASE_KEYS, 'certificates'].sort(), `${what}: fields of an initializing pack: ${JSON.stringify(pack)}`);
  assert.deepEqual(pack.certificates, [], `${what}: certificates is present and empty`);
  assert.match(pack.id, HEX32, `${what}: id`);
  assert.equal(pack.status, 'initializing', `${what}: status`);
  assert.equal(pack.type, expect.type ?? 'advanced');
  assert.deepEqual(pack.hosts, expect.hosts, `${what}: hosts (normalised, apex first)`);
  assert.equal(pack.certificate_authority, expect.certificate_authority);
  assert.equal(pack.validation_method, expect.validation_method);
  assert.equal(pack.validity_days, expect.validity_days);
  assert.equal(pack.cloudflare_branding, expect.cloudflare_branding ?? false);
}

/** Delegation records: one per distinct name (an apex and its wildcard share one), cname → <base>.<zone id>.dcv.<domain>. */
function assertDelegation(pack, zoneId, what) {
  assert.ok(Array.isArray(pack.dcv_delegation_records), `${what}: dcv_delegation_records`);
  const names = [...new Set(pack.hosts.map(baseName))];
  assert.equal(pack.dcv_delegation_records.length, names.length, `${what}: one delegation record per name`);
  names.forEach((h, i) => {
    const d = pack.dcv_delegation_records[i];
    assert.deepEqual(Object.keys(d).sort(), ['cname', 'cname_target'], `${what}: delegation record fields`);
    assert.equal(d.cname, `_acme-challenge.${baseName(h)}`, `${what}: cname of ${h}`);
    assert.ok(d.cname_target.startsWith(`${baseName(h)}.${zoneId}.dcv.`), `${what}: cname_target of ${h}: ${d.cname_target}`);
    assert.match(d.cname_target.slice(`${baseName(h)}.${zoneId}.dcv.`.length), /^[a-z0-9-]+(\.[a-z0-9-]+)*$/, `${what}: dcv domain`);
  });
}

/** Every field of an active pack and its two certificates. Returns { ecdsa, rsa }. */
function assertActivePack(pack, expect, zoneId, what = 'active pack') {
  assert.deepEqual(Object.keys(pack).sort(), ACTIVE_KEYS, `${what}: fields of an active pack: ${JSON.stringify(pack)}`);
  assert.equal(pack.id, expect.id, `${what}: id`);
  assert.equal(pack.status, 'active');
  assert.equal(pack.type, expect.type ?? 'advanced');
  assert.deepEqual(pack.hosts, expect.hosts);
  assert.equal(pack.certificate_authority, expect.certificate_authority);
  assert.equal(pack.validation_method, expect.validation_method);
  assert.equal(pack.validity_days, expect.validity_days);
  assert.equal(pack.cloudflare_branding, expect.cloudflare_branding ?? false);
  assertDelegation(pack, zoneId, what);

  assert.equal(pack.certificates.length, 2, `${what}: two certificates`);
  const [ecdsa, rsa] = pack.certificates;
  assert.deepEqual(pack.certificates.map((c) => c.priority), [1, 2], `${what}: ECDSA (priority 1) then RSA (priority 2)`);
  assert.equal(ecdsa.signature, 'ECDSAWithSHA256');
  assert.equal(rsa.signature, 'SHA256WithRSA');
  assert.equal(pack.primary_certificate, ecdsa.id, `${what}: primary_certificate is the ECDSA certificate`);
  assert.notEqual(ecdsa.id, rsa.id);
  for (const c of pack.certificates) {
    for (const k of CERT_KEYS) assert.ok(k in c, `${what}: certificate field ${k} missing: ${JSON.stringify(c)}`);
    assert.match(c.id, HEX32);
    assert.deepEqual(c.hosts, pack.hosts, `${what}: certificate hosts`);
    assert.equal(c.status, 'active');
    assert.equal(c.issuer, ISSUER);
    assert.equal(c.bundle_method, 'ubiquitous');
    assert.equal(c.zone_id, zoneId);
    for (const k of ['expires_on', 'uploaded_on', 'modified_on']) assert.match(c[k], RFC3339_Z, `${what}: ${k}`);
    const lifetime = Date.parse(c.expires_on) - Date.parse(c.uploaded_on);
    assert.ok(
      Math.abs(lifetime - pack.validity_days * DAY_MS) < 5_000,
      `${what}: expires_on ${c.expires_on} is validity_days (${pack.validity_days}) after uploaded_on ${c.uploaded_on}`,
    );
  }
  return { ecdsa, rsa };
}

// ------------------------------------------------------------------------------------------
// Deployment and hook helpers

/**
 * The deploy hook: writes its environment, then a listing of $TLSWARD_DIR (what a reloading
 * nginx would see), into <hookDir>/<pack id>.<event>.<shell pid>.env (via a rename, so a
 * file that exists is complete).
 */
const hookCommand = (hookDir) =>
  `{ env; echo '--- ls'; ls -A "$TLSWARD_DIR" 2>/dev/null || true; } > "${hookDir}/.tmp.$$" && mv "${hookDir}/.tmp.$$" "${hookDir}/$TLSWARD_PACK_ID.$TLSWARD_EVENT.$$.env"`;

/** Every hook run recorded for packId and event: [{ env: {NAME: value}, ls: [...] }]. */
async function hookRuns(hookDir, packId, event) {
  const names = (await fs.readdir(hookDir)).filter((n) => n.startsWith(`${packId}.${event}.`) && n.endsWith('.env'));
  const runs = [];
  for (const n of names) {
    const text = await fs.readFile(path.join(hookDir, n), 'utf8');
    const [envPart, lsPart = ''] = text.split('--- ls\n');
    const env = {};
    for (const line of envPart.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    runs.push({ env, ls: lsPart.split('\n').filter(Boolean).sort() });
  }
  return runs;
}

/** Asserts the hook ran exactly `times` times for (pack, event), each with every TLSWARD_* variable. */
async function assertHookRan(ctx, zone, pack, event, times = 1) {
  const runs = await hookRuns(ctx.hookDir, pack.id, event);
  assert.equal(runs.length, times, `the ${event} hook ran ${times} time(s) for ${pack.id} (got ${runs.length})`);
  for (const { env, ls } of runs) assertHookRun(ctx, zone, pack, event, env, ls);
}

/** zone: the API's zone object (id, name, account.id). */
function assertHookRun(ctx, zone, pack, event, env, ls) {
  const tlsward = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('TLSWARD_')));
  assert.deepEqual(tlsward, {
    TLSWARD_ZONE: zone.name,
    TLSWARD_ZONE_ID: zone.id,
    TLSWARD_ACCOUNT_ID: zone.account.id,
    TLSWARD_PACK_ID: pack.id,
    TLSWARD_HOSTS: pack.hosts.join(' '),
    TLSWARD_DIR: path.join(ctx.dir, 'deploy', zone.id, pack.id),
    TLSWARD_EVENT: event,
  }, `${event} hook environment`);
  assert.ok(env.PATH, 'the hook has a PATH');
  if (event === 'deploy') assert.deepEqual(ls, DEPLOY_FILES, 'the hook runs after both pairs are written');
  else assert.deepEqual(ls, [], 'the delete hook runs after the files are gone');
}

/** Entries of DATA/deploy/<zone id> (sorted; [] if the directory does not exist). */
async function zoneDeployEntries(dir, zone) {
  try {
    return (await fs.readdir(path.join(dir, 'deploy', zone.id))).sort();
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
}

/** Asserts nothing of packId is left under DATA/deploy/<zone id>. */
async function assertUndeployed(dir, zone, packId) {
  const left = (await zoneDeployEntries(dir, zone)).filter((n) => n.includes(packId));
  assert.deepEqual(left, [], `deployed files of ${packId} are removed`);
}

/**
 * Checks the deployed pair of an active pack against the published root, the pack's hosts and
 * the API's certificates[]: DATA/deploy/<zone id>/<id> is a symlink to a versioned directory
 * holding exactly {ecdsa,rsa}.{crt,key}; each .crt is leaf + intermediate and verifies with
 * `openssl verify -CAfile ca.pem -untrusted <intermediate>`; SANs are the hosts; EC P-256 /
 * RSA-2048; the key matches the certificate and is 0600. ctx: { dir, work, ca }.
 */
async function assertDeployed(ctx, zone, pack, { cn, sans } = {}) {
  const live = path.join(ctx.dir, 'deploy', zone.id, pack.id);
  const st = await fs.lstat(live);
  assert.ok(st.isSymbolicLink(), `${live} is a symlink`);
  const target = await fs.readlink(live);
  assert.match(target, new RegExp(`^\\.${pack.id}\\.[0-9a-f]{16}$`), `the symlink names a versioned directory beside it: ${target}`);
  assert.ok((await fs.lstat(path.join(ctx.dir, 'deploy', zone.id, target))).isDirectory());
  assert.deepEqual((await fs.readdir(live)).sort(), DEPLOY_FILES, 'exactly the two pairs');

  const api = { ecdsa: pack.certificates.find((c) => c.priority === 1), rsa: pack.certificates.find((c) => c.priority === 2) };
  const intermediates = [];
  const leaves = {};
  for (const kind of ['ecdsa', 'rsa']) {
    const keyPath = path.join(live, `${kind}.key`);
    const crtPath = path.join(live, `${kind}.crt`);
    assert.equal((await fs.stat(keyPath)).mode & 0o777, 0o600, `${kind}.key mode 0600`);
    const chain = await fs.readFile(crtPath, 'utf8');
    const blocks = pemBlocks(chain);
    assert.equal(blocks.length, 2, `${kind}.crt is leaf + intermediate (no root)`);
    assert.equal(blocks.join(''), chain.endsWith('\n') ? chain : `${chain}\n`, `${kind}.crt holds nothing but the two certificates`);
    const leafPath = path.join(ctx.work, `${pack.id}-${kind}-leaf.pem`);
    const interPath = path.join(ctx.work, `${pack.id}-${kind}-intermediate.pem`);
    await fs.writeFile(leafPath, blocks[0]);
    await fs.writeFile(interPath, blocks[1]);
    const leaf = new X509Certificate(blocks[0]);
    const inter = new X509Certificate(blocks[1]);
    intermediates.push(blocks[1]);
    leaves[kind] = leaf;

    // The chain verifies against the published root (and only through the intermediate).
    const v = await openssl(['verify', '-CAfile', ctx.ca.path, '-untrusted', interPath, leafPath]);
    assert.equal(v.code, 0, `${kind}: openssl verify: ${v.stdout}${v.stderr}`);
    assert.equal(v.stdout.trim(), `${leafPath}: OK`);
    const vs = await openssl(['verify', '-purpose', 'sslserver', '-CAfile', ctx.ca.path, '-untrusted', interPath, leafPath]);
    assert.equal(vs.code, 0, `${kind}: verify -purpose sslserver: ${vs.stdout}${vs.stderr}`);
    const direct = await openssl(['verify', '-CAfile', ctx.ca.path, leafPath]);
    assert.notEqual(direct.code, 0, `${kind}: the leaf is signed by the intermediate, not by the root`);
    assert.equal(cnOf(inter.subject), ISSUER, `${kind}: intermediate CN`);
    assert.equal(inter.issuer, ctx.ca.x509.subject, `${kind}: the intermediate is issued by the root`);
    assert.ok(inter.verify(ctx.ca.x509.publicKey), `${kind}: intermediate signature`);
    assert.equal(inter.ca, true);
    assert.equal(leaf.issuer, inter.subject, `${kind}: leaf issuer`);
    assert.ok(leaf.verify(inter.publicKey), `${kind}: leaf signature`);
    assert.equal(leaf.ca, false, `${kind}: the leaf is no CA`);
    assert.equal(cnOf(leaf.issuer), api[kind].issuer, `${kind}: the API's issuer is the intermediate's CN`);

    // SANs are the pack's hosts, exactly and in order; CN the apex (or the branding host).
    assert.deepEqual(await sanOf(leafPath), sans ?? pack.hosts, `${kind}: subjectAltName`);
    assert.equal(cnOf(leaf.subject), cn ?? pack.hosts[0], `${kind}: subject CN`);

    // Key type and size, from node and from openssl.
    const text = await opensslOk(['x509', '-in', leafPath, '-noout', '-text']);
    if (kind === 'ecdsa') {
      assert.equal(leaf.publicKey.asymmetricKeyType, 'ec');
      assert.equal(leaf.publicKey.asymmetricKeyDetails.namedCurve, 'prime256v1', 'EC P-256');
      assert.match(text, /Public Key Algorithm: id-ecPublicKey/);
      assert.match(text, /NIST CURVE: P-256/);
    } else {
      assert.equal(leaf.publicKey.asymmetricKeyType, 'rsa');
      assert.equal(leaf.publicKey.asymmetricKeyDetails.modulusLength, 2048, 'RSA-2048');
      assert.match(text, /Public Key Algorithm: rsaEncryption/);
      assert.match(text, /Public-Key: \(2048 bit\)/);
    }

    // The deployed key belongs to the deployed certificate.
    const keyPem = await fs.readFile(keyPath, 'utf8');
    const priv = createPrivateKey(keyPem);
    assert.equal(priv.asymmetricKeyType, kind === 'ecdsa' ? 'ec' : 'rsa');
    assert.deepEqual(spki(createPublicKey(priv)), spki(leaf.publicKey), `${kind}: key matches certificate (node)`);
    const pubFromKey = await opensslOk(['pkey', '-in', keyPath, '-pubout']);
    const pubFromCert = await opensslOk(['x509', '-in', leafPath, '-noout', '-pubkey']);
    assert.equal(pubFromKey, pubFromCert, `${kind}: key matches certificate (openssl)`);

    // Validity: the API's expires_on is notAfter; validity_days long.
    assert.equal(Date.parse(api[kind].expires_on), Date.parse(leaf.validTo), `${kind}: expires_on = notAfter`);
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), pack.validity_days * DAY_MS, `${kind}: validity_days`);
    assert.ok(Math.abs(Date.parse(api[kind].uploaded_on) - Date.parse(leaf.validFrom)) < 5_000, `${kind}: uploaded_on is the issuance time`);
    // Serial: 20 random bytes, positive.
    assert.ok(leaf.serialNumber.length <= 40 && BigInt(`0x${leaf.serialNumber}`) > 2n ** 64n, `${kind}: serial ${leaf.serialNumber}`);
  }
  assert.equal(intermediates[0], intermediates[1], 'both leaves chain to the same intermediate');
  assert.notDeepEqual(spki(leaves.ecdsa.publicKey), spki(leaves.rsa.publicKey));
  return leaves;
}

/** Fetches the published root into work/ca.pem: { pem, x509, path }. */
async function fetchRoot(server, accountId, work) {
  const res = await request(server, 'GET', `/pki/accounts/${accountId}/ca.pem`);
  assert.equal(res.status, 200, `ca.pem: ${res.text}`);
  const caPath = path.join(work, `root-${accountId}.pem`);
  await fs.writeFile(caPath, res.text);
  return { pem: res.text, x509: new X509Certificate(res.text), path: caPath, contentType: res.headers.get('content-type') };
}



/** A fresh initialised data dir with hook and work dirs: { root, dir, creds, hookDir, work }. */
async function freshDir() {
  const { root, dir, creds } = await makeInitialisedDir();
  const hookDir = path.join(root, 'hooks');
  const work = path.join(root, 'work');
  await fs.mkdir(hookDir);
  await fs.mkdir(work);
  return { root, dir, creds, hookDir, work };
}

/** The only universal pack of a fresh zone, as listed. */
async function universalOf(server, token, zoneId) {
  const { items } = await listPacks(server, token, zoneId, 'status=all');
  const u = items.filter((p) => p.type === 'universal');
  assert.equal(u.length, 1, `exactly one live universal pack: ${JSON.stringify(items.map((p) => [p.type, p.status]))}`);
  return u[0];
}

// ------------------------------------------------------------------------------------------

describe('certificate packs (auto DCV, worker on, deploy hook)', () => {
  let ctx;
  let server;
  let token;
  let client;
  let accountId;

  before(async () => {
    ctx = await freshDir();
    server = await startServer(ctx.dir, ['--deploy-hook', hookCommand(ctx.hookDir)]);
    ({ token, account_id: accountId } = ctx.creds);
    client = tokenClient(server, token);
    ctx.ca = await fetchRoot(server, accountId, ctx.work);
  });

  after(async () => {
    await stopAllClean([server]);
  });

  const newZone = (label) => createZoneRaw(server, token, `${label}-${uniq()}.example.com`, accountId);

  test('the published root: GET /pki/accounts/{id}/ca.pem without credentials, a self-signed ECDSA P-384 CA', async () => {
    const { x509, pem, contentType } = ctx.ca;
    assert.match(String(contentType), /^application\/x-pem-file\b/);
    assert.equal(pemBlocks(pem).length, 1, 'one certificate');
    assert.equal(cnOf(x509.subject), ROOT_CN);
    assert.equal(x509.issuer, x509.subject, 'self-issued');
    assert.ok(x509.verify(x509.publicKey), 'self-signed');
    assert.equal(x509.ca, true);
    assert.equal(x509.publicKey.asymmetricKeyType, 'ec');
    assert.equal(x509.publicKey.asymmetricKeyDetails.namedCurve, 'secp384r1', 'P-384 root');
    // The same root is published under every account; unknown accounts → 404.
    const other = await createAccount(ctx.dir, `root-${uniq()}`);
    const res = await request(server, 'GET', `/pki/accounts/${other.id}/ca.pem`);
    assert.equal(res.status, 200);
    assert.equal(res.text, pem, 'one built-in CA for the data dir');
    for (const id of [randomId(), 'not-an-id']) {
      const r = await request(server, 'GET', `/pki/accounts/${id}/ca.pem`);
      assert.equal(r.status, 404, `ca.pem of account ${id}: ${r.text}`);
    }
  });

  test('a new zone orders its universal pack ([apex, *.apex], txt, lets_encrypt, 90 days, outside the quota), which reaches active and is deployed', async () => {
    const zone = await newZone('uni');
    const { items, info } = await listPacks(server, token, zone.id, 'status=all');
    assert.equal(items.length, 1, 'the new zone has exactly one pack');
    assert.equal(info.total_count, 1);
    const u = items[0];
    assert.match(u.id, HEX32);
    assert.equal(u.type, 'universal');
    assert.deepEqual(u.hosts, [zone.name, `*.${zone.name}`]);
    assert.equal(u.validation_method, 'txt');
    assert.equal(u.certificate_authority, 'lets_encrypt');
    assert.equal(u.validity_days, 90);
    assert.ok(LIFECYCLE.includes(u.status), `status ${u.status}`);
    assert.deepEqual(await client.ssl.universal.settings.get({ zone_id: zone.id }), { enabled: true });
    assert.deepEqual(await client.ssl.certificatePacks.quota.get({ zone_id: zone.id }), { advanced: { allocated: 50, used: 0 } }, 'the universal pack is not counted');

    const { pack, seen } = await pollPack(server, token, zone.id, u.id, (p) => p.status === 'active', 'universal pack active');
    assertLifecycleOrder(seen, 'universal pack');
    const expect = { id: u.id, type: 'universal', hosts: u.hosts, certificate_authority: 'lets_encrypt', validation_method: 'txt', validity_days: 90 };
    assertActivePack(pack, expect, zone.id, 'universal pack');
    await assertDeployed(ctx, zone, pack);
    await assertHookRan(ctx, zone, pack, 'deploy');
    assert.deepEqual(await client.ssl.certificatePacks.get(u.id, { zone_id: zone.id }), pack, 'SDK GET = raw GET');
  });

  let advanced; // { zone, pack } of the next test, checked in depth after it

  test('an advanced order (SDK) returns the pack in initializing and walks initializing → pending_validation → pending_issuance → pending_deployment → active', async () => {
    const zone = await newZone('adv');
    const z = zone.name;
    const ordered = await client.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'google',
      hosts: [`WWW.${z.toUpperCase()}`, `${z}.`, `*.${z}`],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 30,
    });
    const expect = { hosts: [z, `www.${z}`, `*.${z}`], certificate_authority: 'google', validation_method: 'txt', validity_days: 30 };
    assertInitializing(ordered, expect);

    const { pack, seen } = await pollPack(server, token, zone.id, ordered.id, (p) => {
      if (p.status === 'pending_validation' && p.validation_records) {
        // Records appear once the pack is pending_validation: one TXT record per host.
        assert.deepEqual(p.validation_records.map((r) => r.txt_name), [`_acme-challenge.${z}`, `_acme-challenge.www.${z}`, `_acme-challenge.${z}`]);
        for (const r of p.validation_records) assert.match(r.txt_value, B64URL43);
      }
      if (p.status !== 'active') assert.ok(p.certificates.length === 0 || p.status === 'pending_deployment', `no certificates while ${p.status}`);
      if (p.status === 'pending_deployment' && p.certificates.length) assert.deepEqual(p.certificates.map((c) => c.status), ['pending_deployment', 'pending_deployment'], 'issued, not yet deployed');
      return p.status === 'active';
    }, 'advanced pack active');
    assertLifecycleOrder(seen, 'advanced pack');
    assert.equal(seen[seen.length - 1], 'active');
    assertActivePack(pack, { ...expect, id: ordered.id }, zone.id);
    assert.equal(pack.validation_errors, undefined, 'no validation_errors once active');

    assert.deepEqual(await client.ssl.certificatePacks.get(ordered.id, { zone_id: zone.id }), pack, 'SDK GET = raw GET');
    const { items } = await listPacks(server, token, zone.id);
    assert.deepEqual(items.find((p) => p.id === ordered.id), pack, 'the list shows the same object');
    assert.deepEqual(await client.ssl.certificatePacks.quota.get({ zone_id: zone.id }), { advanced: { allocated: 50, used: 1 } });
    advanced = { zone, pack };
  });

  test('the issued pair: both chains verify against the published root; SANs are the hosts; EC P-256 and RSA-2048; deployed keys match and are 0600; the deploy hook saw every variable', async () => {
    assert.ok(advanced, 'depends on the previous test');
    const { zone, pack } = advanced;
    await assertDeployed(ctx, zone, pack);
    await assertHookRan(ctx, zone, pack, 'deploy');
  });

  test('every accepted CA / validity / method combination (and 50 hosts, and cloudflare_branding) reaches active with matching certificates', HEAVY, async () => {
    const zone = await newZone('combo');
    const z = zone.name;
    const fifty = [z, ...Array.from({ length: 49 }, (_, i) => `h${i}.${z}`)];
    const cases = [
      { certificate_authority: 'google', validity_days: 14, validation_method: 'txt', hosts: [z, `*.${z}`] },
      { certificate_authority: 'google', validity_days: 90, validation_method: 'http', hosts: [z, `www.${z}`] },
      { certificate_authority: 'lets_encrypt', validity_days: 90, validation_method: 'txt', hosts: [z] },
      { certificate_authority: 'lets_encrypt', validity_days: 90, validation_method: 'http', hosts: [z, `api.${z}`] },
      { certificate_authority: 'ssl_com', validity_days: 14, validation_method: 'txt', hosts: [z, `*.${z}`] },
      { certificate_authority: 'ssl_com', validity_days: 30, validation_method: 'http', hosts: [z] },
      { certificate_authority: 'ssl_com', validity_days: 90, validation_method: 'email', hosts: [z, `*.${z}`] },
      { certificate_authority: 'ssl_com', validity_days: 365, validation_method: 'txt', hosts: [z, `*.${z}`] },
      { certificate_authority: 'google', validity_days: 30, validation_method: 'txt', hosts: fifty },
    ];
    const ordered = [];
    for (const c of cases) {
      const p = await orderOk(server, token, zone.id, { type: 'advanced', ...c }, `order ${JSON.stringify({ ...c, hosts: c.hosts.length })}`);
      assertInitializing(p, c);
      ordered.push([c, p]);
    }
    const branded = await orderOk(server, token, zone.id, orderBody(z, { cloudflare_branding: true }), 'order with branding');
    assertInitializing(branded, { ...orderBody(z), cloudflare_branding: true });
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: cases.length + 1 } });

    for (const [c, p] of ordered) {
      const active = await waitStatus(server, token, zone.id, p.id, 'active');
      assertActivePack(active, { ...c, id: p.id }, zone.id, `${c.certificate_authority}/${c.validity_days}/${c.validation_method}`);
      await assertDeployed(ctx, zone, active);
      await assertHookRan(ctx, zone, active, 'deploy');
    }
    // Branding: the branding host is the Common Name (and hence a SAN); the pack's hosts stay.
    const b = await waitStatus(server, token, zone.id, branded.id, 'active');
    assertActivePack(b, { ...orderBody(z), id: branded.id, cloudflare_branding: true }, zone.id, 'branded pack');
    await assertDeployed(ctx, zone, b, { cn: 'sni.tlsward.local', sans: [...b.hosts, 'sni.tlsward.local'] });
  });

  test('ordering rules: every violation → 400 1004 naming the field or host; nothing is stored', async () => {
    const zone = await newZone('rules');
    const z = zone.name;
    const good = orderBody(z);
    const without = (k) => Object.fromEntries(Object.entries(good).filter(([x]) => x !== k));
    const hosts51 = [z, ...Array.from({ length: 50 }, (_, i) => `h${i}.${z}`)];
    /** [label, body, name the message must contain] */
    const cases = [
      ['missing certificate_authority', without('certificate_authority'), 'certificate_authority'],
      ['missing hosts', without('hosts'), 'hosts'],
      ['missing type', without('type'), 'type'],
      ['missing validation_method', without('validation_method'), 'validation_method'],
      ['missing validity_days', without('validity_days'), 'validity_days'],
      ['unknown certificate_authority', { ...good, certificate_authority: 'digicert' }, 'certificate_authority'],
      ['certificate_authority not a string', { ...good, certificate_authority: 1 }, 'certificate_authority'],
      ['type universal', { ...good, type: 'universal' }, 'type'],
      ['type sni_custom', { ...good, type: 'sni_custom' }, 'type'],
      ['validation_method cname', { ...good, validation_method: 'cname' }, 'validation_method'],
      ['validation_method dns', { ...good, validation_method: 'dns' }, 'validation_method'],
      ['validity_days as a string', { ...good, validity_days: '90' }, 'validity_days'],
      ['validity_days fractional', { ...good, validity_days: 90.5 }, 'validity_days'],
      ['validity_days 7 (Google)', { ...good, validity_days: 7 }, 'validity_days'],
      ['validity_days 365 with Google', { ...good, validity_days: 365 }, 'validity_days'],
      ['validity_days 730 with SSL.com', { ...good, certificate_authority: 'ssl_com', validity_days: 730 }, 'validity_days'],
      ["Let's Encrypt 14 days", { ...good, certificate_authority: 'lets_encrypt', validity_days: 14 }, 'validity_days'],
      ["Let's Encrypt 30 days", { ...good, certificate_authority: 'lets_encrypt', validity_days: 30 }, 'validity_days'],
      ["Let's Encrypt 365 days", { ...good, certificate_authority: 'lets_encrypt', validity_days: 365 }, 'validity_days'],
      ['email with Google', { ...good, validation_method: 'email' }, 'validation_method'],
      ["email with Let's Encrypt", { ...good, certificate_authority: 'lets_encrypt', validation_method: 'email' }, 'validation_method'],
      ['cloudflare_branding not a boolean', { ...good, cloudflare_branding: 'yes' }, 'cloudflare_branding'],
      ['hosts not an array', { ...good, hosts: z }, 'hosts'],
      ['hosts null', { ...good, hosts: null }, 'hosts'],
      ['hosts empty', { ...good, hosts: [] }, 'hosts'],
      ['hosts with a number', { ...good, hosts: [z, 7] }, 'hosts'],
      ['hosts without the apex', { ...good, hosts: [`www.${z}`, `*.${z}`] }, z],
      ['hosts: only the wildcard', { ...good, hosts: [`*.${z}`] }, z],
      ['51 hosts', { ...good, hosts: hosts51 }, 'hosts'],
      ['duplicate host (case)', { ...good, hosts: [z, `www.${z}`, `WWW.${z}`] }, `WWW.${z}`],
      ['duplicate host (trailing dot)', { ...good, hosts: [z, `${z}.`] }, `${z}.`],
      ['duplicate wildcard', { ...good, hosts: [z, `*.${z}`, `*.${z}`] }, `*.${z}`],
      ['host in another zone', { ...good, hosts: [z, 'www.example.net'] }, 'www.example.net'],
      ['host sharing only a suffix', { ...good, hosts: [z, `x${z}`] }, `x${z}`],
      ['host with an underscore', { ...good, hosts: [z, `bad_name.${z}`] }, `bad_name.${z}`],
      ['host with an empty label', { ...good, hosts: [z, `a..${z}`] }, `a..${z}`],
      ['host with a 64-character label', { ...good, hosts: [z, `${'a'.repeat(64)}.${z}`] }, `${'a'.repeat(64)}.${z}`],
      ['host with a U-label (IDNs only as A-labels)', { ...good, hosts: [z, `bücher.${z}`] }, `bücher.${z}`],
      ['host with a trailing hyphen label', { ...good, hosts: [z, `www-.${z}`] }, `www-.${z}`],
      ['wildcard not leftmost', { ...good, hosts: [z, `www.*.${z}`] }, `www.*.${z}`],
      ['partial wildcard label', { ...good, hosts: [z, `w*.${z}`] }, `w*.${z}`],
      ['http with a wildcard host', { ...good, validation_method: 'http' }, `*.${z}`],
      ['http with a wildcard host (SSL.com)', { ...good, certificate_authority: 'ssl_com', validation_method: 'http', hosts: [z, `www.${z}`, `*.www.${z}`] }, `*.www.${z}`],
    ];
    for (const [label, body, name] of cases) {
      const errors = assertErr(await orderRaw(server, token, zone.id, body), 400, [1004], label);
      assertNames(errors, name, label);
    }
    for (const [label, raw] of [
      ['body not JSON', 'certificate_authority=google'],
      ['body a JSON array', JSON.stringify([good])],
      ['body a JSON string', JSON.stringify('advanced')],
      ['empty body', ''],
    ]) {
      assertErr(await v4(server, 'POST', orderPath(zone.id), { token, body: raw }), 400, [1004], label);
    }
    await expectSdkError(
      client.ssl.certificatePacks.create({ zone_id: zone.id, ...good, certificate_authority: 'lets_encrypt', validity_days: 30 }),
      400,
      [1004],
      "SDK: Let's Encrypt for 30 days",
    );

    const { items } = await listPacks(server, token, zone.id, 'status=all');
    assert.deepEqual(items.map((p) => p.type), ['universal'], 'nothing but the universal pack was stored');
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 0 } });
    // The controls: the good body is accepted, and so is an IDN host as an A-label.
    assertInitializing(await orderOk(server, token, zone.id, good), good);
    const idn = { ...good, hosts: [`xn--bcher-kva.${z}`, z] };
    assertInitializing(await orderOk(server, token, zone.id, idn), { ...idn, hosts: [z, `xn--bcher-kva.${z}`] });
  });

  test('unknown or malformed pack ids in a visible zone → 404 1472 naming the id (GET, PATCH, DELETE, verification PATCH)', async () => {
    const zone = await newZone('unknown');
    for (const id of [randomId(), 'nope', 'ABCDEF0123456789ABCDEF0123456789']) {
      for (const [method, p, json] of [
        ['GET', packsPath(zone.id, id)],
        ['PATCH', packsPath(zone.id, id), {}],
        ['DELETE', packsPath(zone.id, id)],
        ['PATCH', verificationPath(zone.id, id), { validation_method: 'txt' }],
      ]) {
        const errors = assertErr(await v4(server, method, p, { token, json }), 404, [1472], `${method} ${p}`);
        assertNames(errors, id, `${method} ${p}`);
      }
    }
    // A pack of another zone of the same account is not found through this zone.
    const other = await newZone('unknown-other');
    const u = await universalOf(server, token, other.id);
    assertErr(await v4(server, 'GET', packsPath(zone.id, u.id), { token }), 404, [1472], 'a pack of another zone');
    await expectSdkError(client.ssl.certificatePacks.get(randomId(), { zone_id: zone.id }), 404, [1472], 'SDK GET unknown');
  });

  test('an active pack refuses a restart (PATCH without cloudflare_branding) and a verification method switch: 400 1406 naming the pack and its status; nothing changes', async () => {
    const zone = await newZone('active');
    const ordered = await orderOk(server, token, zone.id, orderBody(zone.name, { hosts: [zone.name] }));
    const pack = await waitStatus(server, token, zone.id, ordered.id, 'active');
    for (const [label, p, json] of [
      ['PATCH {}', packsPath(zone.id, pack.id), {}],
      ['PATCH no body', packsPath(zone.id, pack.id), undefined],
      ['PATCH branding null', packsPath(zone.id, pack.id), { cloudflare_branding: null }],
      ['verification PATCH http', verificationPath(zone.id, pack.id), { validation_method: 'http' }],
    ]) {
      const errors = assertErr(await v4(server, 'PATCH', p, { token, json }), 400, [1406], label);
      assertNames(errors, pack.id, label);
      assertNames(errors, 'active', label);
    }
    assertNames(assertErr(await v4(server, 'PATCH', packsPath(zone.id, pack.id), { token, json: { cloudflare_branding: 1 } }), 400, [1004], 'branding not a boolean'), 'cloudflare_branding');
    await expectSdkError(client.ssl.certificatePacks.edit(pack.id, { zone_id: zone.id }), 400, [1406], 'SDK edit');
    await expectSdkError(client.ssl.verification.edit(pack.id, { zone_id: zone.id, validation_method: 'http' }), 400, [1406], 'SDK verification edit');
    // The pack's own method is an immediate check, which an active pack passes unchanged.
    assert.deepEqual(await client.ssl.verification.edit(pack.id, { zone_id: zone.id, validation_method: 'txt' }), { status: 'active', validation_method: 'txt' });
    await sleep(300);
    assert.deepEqual(await getPack(server, token, zone.id, pack.id), pack, 'unchanged');
  });

  test('PATCH cloudflare_branding on an active pack re-issues it in place: it stays active, new certificates carry the branding host as CN (and SAN), redeployed with the hook; false takes it out again', async () => {
    const zone = await newZone('rebrand');
    const z = zone.name;
    const ordered = await orderOk(server, token, zone.id, orderBody(z, { hosts: [z, `www.${z}`] }));
    const first = await waitStatus(server, token, zone.id, ordered.id, 'active');
    await assertDeployed(ctx, zone, first);
    const expect = { ...orderBody(z, { hosts: [z, `www.${z}`] }), id: first.id };

    let current = first;
    for (const [n, branding] of [[2, true], [3, false]]) {
      const edited = await client.ssl.certificatePacks.edit(first.id, { zone_id: zone.id, cloudflare_branding: branding });
      assert.equal(edited.status, 'active', 'the PATCH answers with the live pack');
      assert.equal(edited.cloudflare_branding, branding);
      const before = current.certificates.map((c) => c.id);
      const { pack, seen } = await pollPack(server, token, zone.id, first.id, (p) => !before.includes(p.certificates[0].id), `re-issue with branding ${branding}`);
      assert.deepEqual(seen, ['active'], 'active throughout the re-issue');
      assertActivePack(pack, { ...expect, cloudflare_branding: branding }, zone.id, `branding ${branding}`);
      assert.ok(pack.certificates.every((c) => !before.includes(c.id)), 'both certificates are new');
      await assertDeployed(ctx, zone, pack, branding ? { cn: 'sni.tlsward.local', sans: [...pack.hosts, 'sni.tlsward.local'] } : {});
      await assertHookRan(ctx, zone, pack, 'deploy', n);
      const mine = (await zoneDeployEntries(ctx.dir, zone)).filter((e) => e.includes(first.id));
      assert.equal(mine.length, 2, `the live symlink and one versioned directory (the old one dropped): ${mine}`);
      current = pack;
    }
  });

  test('DELETE → {id}; pending_deletion → deleted (then 404/1472); quota released; deployed files removed; the hook ran with TLSWARD_EVENT=delete; in no list', async () => {
    const zone = await newZone('del');
    const ordered = await orderOk(server, token, zone.id, orderBody(zone.name, { hosts: [zone.name, `www.${zone.name}`] }));
    const pack = await waitStatus(server, token, zone.id, ordered.id, 'active');
    await assertDeployed(ctx, zone, pack);
    const versioned = await fs.readlink(path.join(ctx.dir, 'deploy', zone.id, pack.id));
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 1 } });

    assert.deepEqual(await client.ssl.certificatePacks.delete(pack.id, { zone_id: zone.id }), { id: pack.id }, 'DELETE result is {id}');
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 0 } }, 'quota released at once');
    const seen = await waitPackGone(server, token, zone.id, pack.id);
    assert.ok(seen.every((s) => s === 'pending_deletion'), `statuses after DELETE: ${seen.join(' → ')}`);

    await assertUndeployed(ctx.dir, zone, pack.id);
    assert.ok(!(await zoneDeployEntries(ctx.dir, zone)).includes(versioned), 'the versioned directory is gone too');
    await assertHookRan(ctx, zone, pack, 'delete');
    // The universal pack of the zone is untouched.
    const u = await waitStatus(server, token, zone.id, (await universalOf(server, token, zone.id)).id, 'active');
    assert.ok((await zoneDeployEntries(ctx.dir, zone)).includes(u.id), 'the universal pack stays deployed');

    const live = await listPacks(server, token, zone.id);
    assert.deepEqual(live.items.map((p) => p.id), [u.id], 'the default list omits deleted packs');
    assert.equal(live.info.total_count, 1);
    const all = await listPacks(server, token, zone.id, 'status=all');
    assert.deepEqual(all.items.map((p) => p.id), [u.id], 'status=all leaves deleted packs out too');
    assert.equal(all.info.total_count, 1);
    const sdkAll = await client.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all' });
    assert.deepEqual(sdkAll.result.map((p) => p.id), [u.id]);
    assertErr(await v4(server, 'GET', `${packsPath(zone.id)}?status=deleted`, { token }), 400, [1004], 'status=deleted');

    // Deleting again, or patching a deleted pack → 404/1472: it is gone.
    for (const [method, json] of [['DELETE'], ['PATCH', {}]]) {
      const errors = assertErr(await v4(server, method, packsPath(zone.id, pack.id), { token, json }), 404, [1472], `${method} deleted`);
      assertNames(errors, pack.id);
    }
    assert.deepEqual((await hookRuns(ctx.hookDir, pack.id, 'delete')).length, 1, 'no second delete hook');
  });

  test('DELETE of a pack still walking its lifecycle is never refused: 60 orders each deleted 0–50 ms later all answer {id} and end deleted', async () => {
    const zone = await newZone('orderdel');
    const refused = [];
    const ids = [];
    for (let i = 0; i < 60; i++) {
      const p = await orderOk(server, token, zone.id, orderBody(zone.name, { hosts: [zone.name] }), `order ${i}`);
      ids.push(p.id);
      await sleep((i * 7) % 50); // land the DELETE on the worker's successive commits
      const res = await v4(server, 'DELETE', packsPath(zone.id, p.id), { token });
      if (res.status !== 200) refused.push(`DELETE ${i} (${(i * 7) % 50} ms after the order): ${res.status} ${res.text}`);
    }
    assert.deepEqual(refused, [], 'DELETE refused because the worker committed a lifecycle step meanwhile');
    for (const id of ids) await waitPackGone(server, token, zone.id, id);
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 0 } });
  });

  test('the universal pack cannot be deleted: 400 1406 naming it; nothing changes', async () => {
    const zone = await newZone('unidel');
    const u0 = await universalOf(server, token, zone.id);
    const u = await waitStatus(server, token, zone.id, u0.id, 'active');
    const errors = assertErr(await v4(server, 'DELETE', packsPath(zone.id, u.id), { token }), 400, [1406], 'DELETE universal');
    assertNames(errors, u.id);
    await expectSdkError(client.ssl.certificatePacks.delete(u.id, { zone_id: zone.id }), 400, [1406], 'SDK DELETE universal');
    await sleep(300);
    assert.deepEqual(await getPack(server, token, zone.id, u.id), u, 'unchanged');
    await assertDeployed(ctx, zone, u);
    assert.deepEqual(await hookRuns(ctx.hookDir, u.id, 'delete'), []);
  });

  test('Universal SSL settings: off retires the universal pack (deleted, files removed); on orders a new one that reaches active; both idempotent; without enabled nothing changes; bad bodies → 1004', async () => {
    const zone = await newZone('uniset');
    const u1 = await waitStatus(server, token, zone.id, (await universalOf(server, token, zone.id)).id, 'active');
    assert.deepEqual(assertOk(await v4(server, 'GET', universalPath(zone.id), { token })), { enabled: true });

    for (const [label, json] of [['enabled "false"', { enabled: 'false' }], ['enabled 0', { enabled: 0 }]]) {
      assertNames(assertErr(await v4(server, 'PATCH', universalPath(zone.id), { token, json }), 400, [1004], label), 'enabled', label);
    }
    for (const json of [{}, { enabled: null }]) {
      assert.deepEqual(assertOk(await v4(server, 'PATCH', universalPath(zone.id), { token, json })), { enabled: true }, `${JSON.stringify(json)}: unchanged`);
    }
    assert.equal((await getPack(server, token, zone.id, u1.id)).status, 'active', 'bad bodies change nothing');

    assert.deepEqual(await client.ssl.universal.settings.edit({ zone_id: zone.id, enabled: false }), { enabled: false });
    assert.deepEqual(await client.ssl.universal.settings.get({ zone_id: zone.id }), { enabled: false });
    const seen = await waitPackGone(server, token, zone.id, u1.id);
    assert.ok(seen.every((s) => s === 'pending_deletion'), `statuses after disabling: ${seen.join(' → ')}`);
    await assertUndeployed(ctx.dir, zone, u1.id);
    await assertHookRan(ctx, zone, u1, 'delete');
    assert.deepEqual((await listPacks(server, token, zone.id, 'status=all')).items, [], 'no live pack');
    assert.deepEqual(await client.ssl.verification.get({ zone_id: zone.id }), [], 'no verification entry');

    // Disabling again changes nothing.
    assert.deepEqual(await client.ssl.universal.settings.edit({ zone_id: zone.id, enabled: false }), { enabled: false });
    assert.deepEqual((await listPacks(server, token, zone.id, 'status=all')).items.map((p) => p.id), []);

    // Enabling orders a new universal pack; enabling again orders no second one.
    assert.deepEqual(await client.ssl.universal.settings.edit({ zone_id: zone.id, enabled: true }), { enabled: true });
    assert.deepEqual(assertOk(await v4(server, 'PATCH', universalPath(zone.id), { token, json: { enabled: true } })), { enabled: true });
    const u2 = await universalOf(server, token, zone.id);
    assert.notEqual(u2.id, u1.id, 'a new pack');
    assert.deepEqual(u2.hosts, [zone.name, `*.${zone.name}`]);
    const active = await waitStatus(server, token, zone.id, u2.id, 'active');
    assertActivePack(active, { id: u2.id, type: 'universal', hosts: u2.hosts, certificate_authority: 'lets_encrypt', validation_method: 'txt', validity_days: 90 }, zone.id, 'new universal pack');
    await assertDeployed(ctx, zone, active);
    await assertHookRan(ctx, zone, active, 'deploy');
    const all = await listPacks(server, token, zone.id, 'status=all');
    assert.deepEqual(all.items.map((p) => [p.id, p.status]), [[u2.id, 'active']]);
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 0 } });
  });

  test('verification GET: one entry per live pack (seed 004 shape); deleted packs have none; ?retry=true; bad retry → 1004', async () => {
    const zone = await newZone('verif');
    const a = await orderOk(server, token, zone.id, orderBody(zone.name));
    const b = await orderOk(server, token, zone.id, orderBody(zone.name, { certificate_authority: 'ssl_com', validation_method: 'http', hosts: [zone.name] }));
    const u = await universalOf(server, token, zone.id);
    for (const p of [u, a, b]) await waitStatus(server, token, zone.id, p.id, 'active');
    await client.ssl.certificatePacks.delete(b.id, { zone_id: zone.id });

    const entries = assertOk(await v4(server, 'GET', verificationPath(zone.id), { token }), 'GET verification');
    assert.ok(Array.isArray(entries));
    assert.deepEqual(entries.map((e) => e.cert_pack_uuid), [u.id, a.id], 'live packs only, in pack order');
    for (const [e, p] of [[entries[0], u], [entries[1], a]]) {
      // No record is pending once active: verification_info is left out.
      assert.deepEqual(Object.keys(e).sort(), VERIFICATION_KEYS.filter((k) => k !== 'verification_info'), `fields: ${JSON.stringify(e)}`);
      assert.equal(e.certificate_status, 'active');
      assert.equal(e.verification_status, true);
      assert.equal(e.brand_check, false);
      assert.equal(e.signature, 'ECDSAWithSHA256');
      assert.equal(e.validation_method, p.validation_method);
    }
    assert.deepEqual(await client.ssl.verification.get({ zone_id: zone.id }), entries, 'SDK = raw');
    assert.deepEqual(await client.ssl.verification.get({ zone_id: zone.id, retry: true }), entries, '?retry=true: same answer for active packs');
    for (const q of ['retry=yes', 'retry=1', 'retry=']) {
      assertNames(assertErr(await v4(server, 'GET', `${verificationPath(zone.id)}?${q}`, { token }), 400, [1004], q), 'retry', q);
    }
  });
});

describe('quota and pagination over 50 advanced packs (auto DCV)', () => {
  let ctx;
  let server;
  let token;
  let client;
  let zone;
  let ids; // universal first, then the 50 advanced packs in order

  before(async () => {
    ctx = await freshDir();
    server = await startServer(ctx.dir);
    token = ctx.creds.token;
    client = tokenClient(server, token);
    zone = await createZoneRaw(server, token, `quota-${uniq()}.example.com`, ctx.creds.account_id);
    const u = await universalOf(server, token, zone.id);
    ids = [u.id];
    // Sequential orders: creation order is the list order.
    for (let i = 0; i < 50; i++) {
      const p = await orderOk(server, token, zone.id, orderBody(zone.name, { hosts: [zone.name, `p${i}.${zone.name}`] }), `order ${i}`);
      ids.push(p.id);
      if (i === 0) assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 1 } });
    }
  });

  after(async () => {
    await stopAllClean([server]);
  });

  test('quota: allocated 50, used = live advanced packs (the universal pack not counted); the 51st order → 400 1450 "50 of 50 used", nothing stored', async () => {
    assert.deepEqual(await client.ssl.certificatePacks.quota.get({ zone_id: zone.id }), { advanced: { allocated: 50, used: 50 } });
    const errors = assertErr(await orderRaw(server, token, zone.id, orderBody(zone.name)), 400, [1450], '51st order');
    assert.match(errors[0].message, /quota exhausted: 50 of 50 used/);
    await expectSdkError(client.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(zone.name) }), 400, [1450], 'SDK 51st order');
    const { info } = await listPacks(server, token, zone.id, 'status=all&per_page=50');
    assert.equal(info.total_count, 51, '50 advanced + the universal pack, nothing more');
    // A bad order on a full zone is still a 1004 (the body is checked first).
    assertErr(await orderRaw(server, token, zone.id, { ...orderBody(zone.name), validity_days: 7 }), 400, [1004], 'bad order on a full zone');
  });

  test('pagination (status=all): per_page 20 → 20/20/11 in creation order with exact result_info; per_page 50; SDK auto-pagination; past the end → empty; deploy=production/staging; bad parameters → 1004', async () => {
    const got = [];
    for (const [page, n] of [[1, 20], [2, 20], [3, 11]]) {
      const { items, info } = await listPacks(server, token, zone.id, `status=all&per_page=20&page=${page}`);
      assert.equal(items.length, n, `page ${page}`);
      assert.deepEqual(info, { page, per_page: 20, count: n, total_count: 51, total_pages: 3 }, `result_info of page ${page}`);
      got.push(...items.map((p) => p.id));
    }
    assert.deepEqual(got, ids, 'every pack once, in creation order (universal first)');
    const def = await listPacks(server, token, zone.id, 'status=all');
    assert.deepEqual(def.info, { page: 1, per_page: 20, count: 20, total_count: 51, total_pages: 3 }, 'default page size 20');
    const big = await listPacks(server, token, zone.id, 'status=all&per_page=50&page=2');
    assert.deepEqual(big.items.map((p) => p.id), ids.slice(50));
    assert.deepEqual(big.info, { page: 2, per_page: 50, count: 1, total_count: 51, total_pages: 2 });
    const past = await listPacks(server, token, zone.id, 'status=all&per_page=20&page=4');
    assert.deepEqual(past.items, []);
    assert.equal(past.info.total_count, 51);

    const viaSdk = [];
    for await (const p of client.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all', per_page: 20 })) viaSdk.push(p.id);
    assert.deepEqual(viaSdk, ids, 'SDK auto-pagination yields every pack once, in order');
    const firstPage = await client.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all', per_page: 7, page: 2 });
    assert.deepEqual(firstPage.result.map((p) => p.id), ids.slice(7, 14));

    assert.equal((await listPacks(server, token, zone.id, 'status=all&deploy=production&per_page=50')).info.total_count, 51);
    const staging = await listPacks(server, token, zone.id, 'deploy=staging');
    assert.deepEqual(staging.items, [], 'no staging packs');

    for (const [q, name] of [
      ['per_page=0', 'per_page'],
      ['per_page=51', 'per_page'],
      ['per_page=x', 'per_page'],
      ['page=0', 'page'],
      ['page=-1', 'page'],
      ['deploy=canary', 'deploy'],
      ['status=active', 'status'],
    ]) {
      assertNames(assertErr(await v4(server, 'GET', `${packsPath(zone.id)}?${q}`, { token }), 400, [1004], q), name, q);
    }
  });

  test('DELETE releases the quota at once: used 49, and the next order fits (used 50 again)', async () => {
    const victim = ids[1];
    assert.deepEqual(await client.ssl.certificatePacks.delete(victim, { zone_id: zone.id }), { id: victim });
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 49 } });
    const p = await orderOk(server, token, zone.id, orderBody(zone.name), 'order after the delete');
    assert.equal(p.status, 'initializing');
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 50 } });
    assertErr(await orderRaw(server, token, zone.id, orderBody(zone.name)), 400, [1450], 'full again');
  });

  test('`tlsward zone quota` changes the allocation on the running server: 2 → the third order is 1450; 0 → "Advanced Certificate Manager required"; raising it lets orders in again', async () => {
    const z2 = await createZoneRaw(server, token, `quota2-${uniq()}.example.com`, ctx.creds.account_id);
    const setQuota = async (n) => {
      const r = await runCli(['zone', 'quota', '--data', ctx.dir, z2.id, '--advanced', String(n)]);
      assert.equal(r.code, 0, `zone quota ${n}: ${r.stderr}`);
    };
    await setQuota(2);
    assert.deepEqual(await quotaOf(server, token, z2.id), { advanced: { allocated: 2, used: 0 } });
    await orderOk(server, token, z2.id, orderBody(z2.name));
    await orderOk(server, token, z2.id, orderBody(z2.name));
    assert.match(assertErr(await orderRaw(server, token, z2.id, orderBody(z2.name)), 400, [1450], 'third')[0].message, /quota exhausted: 2 of 2 used/);
    await setQuota(0);
    assert.deepEqual(await quotaOf(server, token, z2.id), { advanced: { allocated: 0, used: 2 } });
    assert.match(assertErr(await orderRaw(server, token, z2.id, orderBody(z2.name)), 400, [1450], 'no allocation')[0].message, /^Advanced Certificate Manager required/);
    await setQuota(3);
    await orderOk(server, token, z2.id, orderBody(z2.name), 'after raising the allocation');
    assert.deepEqual(await quotaOf(server, token, z2.id), { advanced: { allocated: 3, used: 3 } });
    // The first zone is unaffected.
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 50 } });
  });
});

describe('pending packs (check mode, DNS without records): verification and method switch', () => {
  let ctx;
  let server;
  let token;
  let client;
  let dns;

  before(async () => {
    ctx = await freshDir();
    dns = await startDnsmasq(path.join(ctx.root, 'dns'), { domains: ['example.com'] });
    server = await startServer(ctx.dir, ['--dcv-mode', 'check', '--dns-resolver', dns.address, '--dcv-http-port', '9']);
    token = ctx.creds.token;
    client = tokenClient(server, token);
  });

  after(async () => {
    await stopAllClean([server]);
    await dns?.stop();
  });

  const newZone = (label) => createZoneRaw(server, token, `${label}-${uniq()}.example.com`, ctx.creds.account_id);

  /** Orders and waits for pending_validation with the first check's errors recorded. */
  async function pendingPack(zone, body) {
    const ordered = await orderOk(server, token, zone.id, body);
    const { pack } = await pollPack(server, token, zone.id, ordered.id, (p) => p.status === 'pending_validation' && p.validation_errors, 'pending_validation with errors');
    return pack;
  }

  test('a pending txt pack: one record per host (apex and wildcard share a name), 43-character values, errors naming each name; verification shows it authorizing', async () => {
    const zone = await newZone('pend');
    const z = zone.name;
    const pack = await pendingPack(zone, orderBody(z, { hosts: [z, `*.${z}`, `www.${z}`] }));
    assert.deepEqual(
      Object.keys(pack).sort(),
      [...BASE_KEYS, 'certificates', 'dcv_delegation_records', 'validation_errors', 'validation_records'].sort(),
      `fields of a pending pack: ${JSON.stringify(pack)}`,
    );
    const recs = pack.validation_records;
    assert.equal(recs.length, 3);
    assert.deepEqual(recs.map((r) => r.txt_name), [`_acme-challenge.${z}`, `_acme-challenge.${z}`, `_acme-challenge.www.${z}`]);
    for (const r of recs) {
      assert.deepEqual(Object.keys(r).sort(), ['status', 'txt_name', 'txt_value']);
      assert.match(r.txt_value, B64URL43);
      assert.equal(r.status, 'pending');
    }
    assert.equal(new Set(recs.map((r) => r.txt_value)).size, 3, 'distinct values');
    assert.deepEqual(pack.validation_errors, [
      { message: `no TXT records at _acme-challenge.${z}` },
      { message: `no TXT records at _acme-challenge.${z}` },
      { message: `no TXT records at _acme-challenge.www.${z}` },
    ]);
    assertDelegation(pack, zone.id, 'pending pack');

    const entries = await client.ssl.verification.get({ zone_id: zone.id });
    const u = await universalOf(server, token, zone.id);
    assert.deepEqual(entries.map((e) => e.cert_pack_uuid), [u.id, pack.id]);
    const e = entries[1];
    assert.deepEqual(e, {
      certificate_status: 'authorizing',
      cert_pack_uuid: pack.id,
      signature: 'ECDSAWithSHA256',
      validation_method: 'txt',
      verification_info: { record_name: recs[0].txt_name, record_target: recs[0].txt_value },
      verification_status: false,
      brand_check: false,
    });
    assert.equal(entries[0].certificate_status, 'authorizing', 'the universal pack waits too');
    // ?retry=true checks again now: still failing, same records.
    await client.ssl.verification.get({ zone_id: zone.id, retry: true });
    await sleep(1500);
    const later = await getPack(server, token, zone.id, pack.id);
    assert.equal(later.status, 'pending_validation', 'stays pending without the records');
    assert.deepEqual(later.validation_records, recs, 'the records do not change');
  });

  test('verification PATCH switches the method of a pending pack: http → new http records, txt → new values; wildcard + http, email with Google, missing method → 1004 (cname: dns_publish.test.mjs)', async () => {
    const zone = await newZone('switch');
    const z = zone.name;
    const wild = await pendingPack(zone, orderBody(z));
    for (const [label, json, name] of [
      ['http with a wildcard host', { validation_method: 'http' }, `*.${z}`],
      ['email with Google', { validation_method: 'email' }, 'validation_method'],
      ['unknown method', { validation_method: 'dns' }, 'validation_method'],
      ['not a string', { validation_method: 1 }, 'validation_method'],
    ]) {
      assertNames(assertErr(await v4(server, 'PATCH', verificationPath(zone.id, wild.id), { token, json }), 400, [1004], label), name, label);
    }
    // Without a method (or with the pack's own) it is a check now, keeping the records.
    assert.deepEqual(assertOk(await v4(server, 'PATCH', verificationPath(zone.id, wild.id), { token, json: {} })), { status: 'pending_validation', validation_method: 'txt' });
    assert.deepEqual(await client.ssl.verification.edit(wild.id, { zone_id: zone.id, validation_method: 'txt' }), { status: 'pending_validation', validation_method: 'txt' });
    const still = await getPack(server, token, zone.id, wild.id);
    assert.equal(still.validation_method, 'txt');
    assert.deepEqual(still.validation_records.map((r) => r.txt_value), wild.validation_records.map((r) => r.txt_value), 'refused switches and checks change no record');

    const plain = await pendingPack(zone, orderBody(z, { hosts: [z, `www.${z}`] }));
    const oldTxt = plain.validation_records.map((r) => r.txt_value);
    assert.deepEqual(await client.ssl.verification.edit(plain.id, { zone_id: zone.id, validation_method: 'http' }), {
      status: 'pending_validation',
      validation_method: 'http',
    });
    const h = await getPack(server, token, zone.id, plain.id);
    assert.equal(h.status, 'pending_validation');
    assert.equal(h.validation_method, 'http');
    assert.equal(h.validation_records.length, 2);
    const tokens = h.hosts.map((host, i) => {
      const r = h.validation_records[i];
      assert.deepEqual(Object.keys(r).sort(), ['http_body', 'http_url', 'status']);
      const m = new RegExp(`^http://${host.replace(/\./g, '\\.')}/\\.well-known/acme-challenge/([A-Za-z0-9_-]{43})$`).exec(r.http_url);
      assert.ok(m, `http_url of ${host}: ${r.http_url}`);
      assert.match(r.http_body, new RegExp(`^${m[1]}\\.[A-Za-z0-9_-]{43}$`), 'http_body is token.thumbprint');
      assert.equal(r.status, 'pending');
      return m[1];
    });
    assert.notEqual(tokens[0], tokens[1]);
    const entry = (await client.ssl.verification.get({ zone_id: zone.id })).find((e) => e.cert_pack_uuid === plain.id);
    assert.deepEqual(entry.verification_info, { record_name: h.validation_records[0].http_url, record_target: h.validation_records[0].http_body });
    assert.equal(entry.validation_method, 'http');
    assert.equal(entry.certificate_status, 'authorizing');

    const back = assertOk(await v4(server, 'PATCH', verificationPath(zone.id, plain.id), { token, json: { validation_method: 'txt' } }));
    assert.deepEqual(back, { status: 'pending_validation', validation_method: 'txt' });
    const t = await getPack(server, token, zone.id, plain.id);
    assert.equal(t.validation_method, 'txt');
    assert.deepEqual(t.validation_records.map((r) => r.txt_name), [`_acme-challenge.${z}`, `_acme-challenge.www.${z}`]);
    for (const r of t.validation_records) {
      assert.match(r.txt_value, B64URL43);
      assert.ok(!oldTxt.includes(r.txt_value), 'fresh TXT values');
    }
    // Email with SSL.com is a valid switch.
    const ssl = await pendingPack(zone, orderBody(z, { certificate_authority: 'ssl_com' }));
    assert.deepEqual(await client.ssl.verification.edit(ssl.id, { zone_id: zone.id, validation_method: 'email' }), { status: 'pending_validation', validation_method: 'email' });
    const em = await getPack(server, token, zone.id, ssl.id);
    const emails = ['admin', 'administrator', 'hostmaster', 'postmaster', 'webmaster'].map((l) => `${l}@${z}`);
    for (const r of em.validation_records) assert.deepEqual(r.emails, emails);
  });

  test('back-to-back mutations of a pending pack (the worker re-checks it after each) are never refused: 40 method switches, a branding PATCH and a DELETE all succeed', async () => {
    const zone = await newZone('race');
    const pack = await pendingPack(zone, orderBody(zone.name, { hosts: [zone.name, `www.${zone.name}`] }));
    const refused = [];
    for (let i = 0; i < 40; i++) {
      const method = i % 2 === 0 ? 'http' : 'txt';
      const res = await v4(server, 'PATCH', verificationPath(zone.id, pack.id), { token, json: { validation_method: method } });
      if (res.status !== 200) refused.push(`switch ${i} to ${method}: ${res.status} ${res.text}`);
      await sleep((i * 7) % 30); // spread the requests over the worker's check-and-commit
    }
    const brand = await v4(server, 'PATCH', packsPath(zone.id, pack.id), { token, json: { cloudflare_branding: true } });
    if (brand.status !== 200) refused.push(`branding: ${brand.status} ${brand.text}`);
    await v4(server, 'PATCH', verificationPath(zone.id, pack.id), { token, json: { validation_method: 'http' } });
    const del = await v4(server, 'DELETE', packsPath(zone.id, pack.id), { token });
    if (del.status !== 200) refused.push(`delete: ${del.status} ${del.text}`);
    assert.deepEqual(refused, [], 'legitimate mutations refused because the worker committed a check meanwhile');
  });

  test('PATCH of a pending_validation pack: restart → 1406 naming the status; cloudflare_branding before active is accepted', async () => {
    const zone = await newZone('patch');
    const pack = await pendingPack(zone, orderBody(zone.name));
    const errors = assertErr(await v4(server, 'PATCH', packsPath(zone.id, pack.id), { token, json: {} }), 400, [1406], 'restart while pending');
    assertNames(errors, pack.id);
    assertNames(errors, 'pending_validation');
    assertNames(assertErr(await v4(server, 'PATCH', packsPath(zone.id, pack.id), { token, json: { cloudflare_branding: 'yes' } }), 400, [1004], 'branding not a boolean'), 'cloudflare_branding');
    const edited = await client.ssl.certificatePacks.edit(pack.id, { zone_id: zone.id, cloudflare_branding: true });
    assert.equal(edited.id, pack.id);
    assert.equal(edited.cloudflare_branding, true);
    assert.equal(edited.status, 'pending_validation');
    assert.equal((await getPack(server, token, zone.id, pack.id)).cloudflare_branding, true);
  });

  test('a pending pack can be deleted (pending_deletion → deleted) and leaves the verification list', async () => {
    const zone = await newZone('pdel');
    const pack = await pendingPack(zone, orderBody(zone.name));
    assert.deepEqual(assertOk(await v4(server, 'DELETE', packsPath(zone.id, pack.id), { token })), { id: pack.id });
    await waitPackGone(server, token, zone.id, pack.id);
    const entries = await client.ssl.verification.get({ zone_id: zone.id });
    assert.ok(!entries.some((e) => e.cert_pack_uuid === pack.id), 'no verification entry for a deleted pack');
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 0 } });
  });
});

describe('deletion without a worker: pending_deletion holds; a restart with the worker finishes it', () => {
  test('DELETE on a --no-worker server → pending_deletion (files stay, second DELETE 1406); restarted with the worker → deleted, files removed, delete hook', HEAVY, async (t) => {
    const ctx = await freshDir();
    const servers = [];
    t.after(() => stopAllClean(servers));
    const { token } = ctx.creds;
    const hook = ['--deploy-hook', hookCommand(ctx.hookDir)];
    const s1 = await startServer(ctx.dir, hook);
    servers.push(s1);
    ctx.ca = await fetchRoot(s1, ctx.creds.account_id, ctx.work);
    const zone = await createZoneRaw(s1, token, `nowork-${uniq()}.example.com`, ctx.creds.account_id);
    const ordered = await orderOk(s1, token, zone.id, orderBody(zone.name));
    const pack = await waitStatus(s1, token, zone.id, ordered.id, 'active');
    await assertDeployed(ctx, zone, pack);
    await stopServerExpectClean(s1);

    const s2 = await startServer(ctx.dir, ['--no-worker', ...hook]);
    servers.push(s2);
    assert.deepEqual(assertOk(await v4(s2, 'DELETE', packsPath(zone.id, pack.id), { token })), { id: pack.id });
    await sleep(1500);
    const pending = await getPack(s2, token, zone.id, pack.id);
    assert.equal(pending.status, 'pending_deletion', 'no worker: the pack stays pending_deletion');
    assert.deepEqual(await quotaOf(s2, token, zone.id), { advanced: { allocated: 50, used: 0 } }, 'quota released by the DELETE itself');
    const errors = assertErr(await v4(s2, 'DELETE', packsPath(zone.id, pack.id), { token }), 400, [1406], 'DELETE pending_deletion');
    assertNames(errors, pack.id);
    assertNames(errors, 'pending_deletion');
    assertErr(await v4(s2, 'PATCH', packsPath(zone.id, pack.id), { token, json: {} }), 400, [1406], 'PATCH pending_deletion');
    assertErr(await v4(s2, 'PATCH', verificationPath(zone.id, pack.id), { token, json: { validation_method: 'txt' } }), 400, [1406], 'verification PATCH pending_deletion');
    const { items } = await listPacks(s2, token, zone.id, 'status=all');
    assert.ok(items.some((p) => p.id === pack.id && p.status === 'pending_deletion'), 'a pending_deletion pack is still listed with status=all');
    assert.ok(!(await listPacks(s2, token, zone.id)).items.some((p) => p.id === pack.id), 'but not by default (it is not active)');
    const verif = assertOk(await v4(s2, 'GET', verificationPath(zone.id), { token }));
    assert.ok(!verif.some((e) => e.cert_pack_uuid === pack.id), 'no verification entry while being deleted');
    assert.deepEqual((await fs.readdir(path.join(ctx.dir, 'deploy', zone.id, pack.id))).sort(), DEPLOY_FILES, 'files stay until the worker removes them');
    assert.deepEqual(await hookRuns(ctx.hookDir, pack.id, 'delete'), []);
    await stopServerExpectClean(s2);

    const s3 = await startServer(ctx.dir, hook);
    servers.push(s3);
    await waitPackGone(s3, token, zone.id, pack.id);
    await assertUndeployed(ctx.dir, zone, pack.id);
    await assertHookRan(ctx, zone, pack, 'delete');
  });
});

describe('isolation and permissions', () => {
  let ctx;
  let server;
  let token;
  let zone;
  let pack;
  let universal;

  before(async () => {
    ctx = await freshDir();
    server = await startServer(ctx.dir);
    token = ctx.creds.token;
    zone = await createZoneRaw(server, token, `iso-${uniq()}.example.com`, ctx.creds.account_id);
    const ordered = await orderOk(server, token, zone.id, orderBody(zone.name));
    pack = await waitStatus(server, token, zone.id, ordered.id, 'active');
    universal = await waitStatus(server, token, zone.id, (await universalOf(server, token, zone.id)).id, 'active');
  });

  after(async () => {
    await stopAllClean([server]);
  });

  /** [label, method, path(zoneId), body?] for every certificate-pack route. */
  const routes = () => [
    ['list', 'GET', (z) => packsPath(z)],
    ['quota', 'GET', (z) => quotaPath(z)],
    ['get', 'GET', (z) => packsPath(z, pack.id)],
    ['verification get', 'GET', (z) => verificationPath(z)],
    ['universal get', 'GET', (z) => universalPath(z)],
    ['order', 'POST', (z) => orderPath(z), orderBody(zone.name)],
    ['patch', 'PATCH', (z) => packsPath(z, pack.id), {}],
    ['delete', 'DELETE', (z) => packsPath(z, pack.id)],
    ['verification patch', 'PATCH', (z) => verificationPath(z, pack.id), { validation_method: 'http' }],
    ['universal patch', 'PATCH', (z) => universalPath(z), { enabled: false }],
  ];

  async function assertUnchanged() {
    assert.deepEqual(await getPack(server, token, zone.id, pack.id), pack, 'the pack is unchanged');
    assert.deepEqual(await getPack(server, token, zone.id, universal.id), universal, 'the universal pack is unchanged');
    const { items } = await listPacks(server, token, zone.id, 'status=all');
    assert.deepEqual(items.map((p) => p.id), [universal.id, pack.id], 'nothing ordered');
    assert.deepEqual(await quotaOf(server, token, zone.id), { advanced: { allocated: 50, used: 1 } });
    assert.deepEqual(assertOk(await v4(server, 'GET', universalPath(zone.id), { token })), { enabled: true });
  }

  test("another account's ssl:write token → 400 [7003, 7000] on every route, identical to an unknown zone id", async () => {
    const other = await createAccount(ctx.dir, `iso-other-${uniq()}`);
    const { token: otherToken } = await createToken(ctx.dir, other.id, ['ssl:write', 'zone:write']);
    for (const [label, method, p, json] of routes()) {
      const unknownZone = randomId();
      const res = await v4(server, method, p(zone.id), { token: otherToken, json });
      const ref = await v4(server, method, p(unknownZone), { token: otherToken, json });
      assertZoneNotFound(res, zone.id, `${label} on another account's zone`);
      assertZoneNotFound(ref, unknownZone, `${label} on an unknown zone`);
      assert.equal(res.text.split(zone.id).join('<ZONE>'), ref.text.split(unknownZone).join('<ZONE>'), `${label}: identical bodies apart from the id`);
    }
    const sdk = tokenClient(server, otherToken);
    await expectSdkError(sdk.ssl.certificatePacks.get(pack.id, { zone_id: zone.id }), 400, [7003, 7000], 'SDK get');
    await expectSdkError(sdk.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(zone.name) }), 400, [7003, 7000], 'SDK create');
    await expectSdkError(sdk.ssl.certificatePacks.delete(pack.id, { zone_id: zone.id }), 400, [7003, 7000], 'SDK delete');
    await assertUnchanged();
  });

  test('a token scoped to another zone of the same account → 400 [7003, 7000]', async () => {
    const otherZone = await createZoneRaw(server, token, `iso-z2-${uniq()}.example.com`, ctx.creds.account_id);
    const { token: scoped } = await createToken(ctx.dir, ctx.creds.account_id, ['ssl:write'], { zones: [otherZone.id] });
    for (const [label, method, p, json] of routes()) {
      assertZoneNotFound(await v4(server, method, p(zone.id), { token: scoped, json }), zone.id, label);
    }
    assertOk(await v4(server, 'GET', packsPath(otherZone.id), { token: scoped }), 'its own zone is fine');
    await assertUnchanged();
  });

  test('an ssl:read token reads, but order, PATCH, DELETE and both setting PATCHes → 403 9109', async () => {
    const { token: reader } = await createToken(ctx.dir, ctx.creds.account_id, ['ssl:read']);
    for (const [label, method, p, json] of routes()) {
      const res = await v4(server, method, p(zone.id), { token: reader, json });
      if (method === 'GET') assertOk(res, label);
      else {
        const errors = assertErr(res, 403, [9109], label);
        assert.ok(errors[0].message.startsWith(MSG.unauthorized), `${label}: ${errors[0].message}`);
      }
    }
    const sdk = tokenClient(server, reader);
    await expectSdkError(sdk.ssl.certificatePacks.create({ zone_id: zone.id, ...orderBody(zone.name) }), 403, [9109], 'SDK order');
    await expectSdkError(sdk.ssl.certificatePacks.delete(pack.id, { zone_id: zone.id }), 403, [9109], 'SDK delete');
    await assertUnchanged();
  });

  test('a zone:read-only token → 403 9109 on every route; no credentials → 400 9106', async () => {
    const { token: zoneReader } = await createToken(ctx.dir, ctx.creds.account_id, ['zone:read']);
    for (const [label, method, p, json] of routes()) {
      assertErr(await v4(server, method, p(zone.id), { token: zoneReader, json }), 403, [9109], label);
      const errors = assertErr(await v4(server, method, p(zone.id), { json }), 400, [9106], `${label} without credentials`);
      assert.equal(errors[0].message, MSG.noCredentials);
    }
    await assertUnchanged();
  });
});
