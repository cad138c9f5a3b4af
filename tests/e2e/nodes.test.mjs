// Several nodes on one store (SPEC §6 "Deployment on every node"): one API node
// (`serve --no-worker`) and worker nodes, each with its own --data dir and the same master
// key, all on `--database <one SQLite file>`. A pack becomes active only once every live
// worker node has deployed it; a node that joins later catches up its deploy tree; a node
// whose heartbeat stopped no longer counts; and the --database option of the CLI.
//
// The cluster helpers (initNodeStore, startApiNode, startWorkerNode) take the --database
// value, so the same scenarios can run on PostgreSQL.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';

import {
  assertUserError,
  cleanup,
  createZoneRaw,
  hasDeployedPack,
  initNodeStore,
  killServer,
  makeTempDataDir,
  pollPack,
  runCli,
  runCliJson,
  startApiNode,
  startWorkerNode,
  stopAllClean,
  tokenClient,
  uniq,
  waitFor,
  waitPackGone,
  waitPackStatus,
} from './harness.mjs';

// Short intervals instead of sleeps: workers look for work every 100 ms, and a node whose
// heartbeat is older than 4 s stops counting (hidden --node-liveness; 60 s by default). The
// window is not shorter because a heartbeat is a durable write: on a busy CI disk one can
// take over a second, and a live node dropping out would let a pack go active early.
const NODE_ARGS = ['--worker-interval', '100ms', '--node-liveness', '4s'];

/** A deploy hook logging "<event> <pack>" to `log`; while `hold` exists a deploy waits (≤ 30 s). */
async function writeHook(dir, name, log, hold) {
  const script = path.join(dir, `${name}.sh`);
  await fs.writeFile(
    script,
    [
      '#!/bin/sh',
      `echo "$TLSWARD_EVENT $TLSWARD_PACK_ID" >> '${log}'`,
      `[ "$TLSWARD_EVENT" = deploy ] || exit 0`,
      'i=0',
      `while [ -e '${hold}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
      '',
    ].join('\n'),
  );
  return ['--deploy-hook', `sh '${script}'`];
}

const readLog = async (log) => (await fs.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);

describe('worker nodes on one store (--database FILE)', () => {
  let root;
  let database;
  let keyFile;
  const procs = [];
  const nodes = {}; // name → { dir, log, hold, proc }
  let api;
  let token;
  let client;
  let zone;
  const packs = [];

  async function startNode(name) {
    const dir = path.join(root, `node-${name}`);
    const log = path.join(root, `hook-${name}.log`);
    const hold = path.join(root, `hold-${name}`);
    const hook = await writeHook(root, `hook-${name}`, log, hold);
    const proc = await startWorkerNode(database, dir, keyFile, [...NODE_ARGS, '--node-name', name, ...hook]);
    procs.push(proc);
    nodes[name] = { dir, log, hold, proc };
    return nodes[name];
  }

  const order = (host) =>
    client.ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: [`${host}.${zone.name}`, zone.name],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 90,
    });

  before(async () => {
    ({ root } = await makeTempDataDir());
    database = path.join(root, 'shared.db');
    keyFile = path.join(root, 'master.key');
    const apiDir = path.join(root, 'api');
    const creds = await initNodeStore(database, apiDir, keyFile);
    api = await startApiNode(database, apiDir, keyFile, ['--dcv-mode', 'auto']);
    procs.push(api);
    await startNode('a');
    await startNode('b');
    ({ token } = await runCliJson(['token', 'create', '--database', database, '--account', creds.account_id, '--permission', 'zone:write', '--permission', 'ssl:write', '--json']));
    client = tokenClient(api, token);
    zone = await createZoneRaw(api, token, `nodes-${uniq()}.example.com`, creds.account_id);
    // The zone's Universal SSL pack is ordered with the zone: both nodes deploy it before any
    // test holds a node's hook. Otherwise, on a slow run, the hold caught that pack's deploy
    // too, and node b's sync pass sat in its hook while the first test waited for another pack.
    await waitFor(
      async () => {
        const all = [];
        for await (const p of client.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all' })) all.push(p);
        if (all.length === 0 || all.some((p) => p.status !== 'active')) return false;
        for (const name of ['a', 'b']) {
          const log = await readLog(nodes[name].log);
          if (!all.every((p) => log.includes(`deploy ${p.id}`))) return false;
        }
        return true;
      },
      { timeout: 30_000, interval: 100, what: "the zone's Universal SSL pack to be active and deployed on both nodes" },
    );
  });

  after(async () => {
    await stopAllClean(procs.filter((p) => !p.exitInfo));
    await cleanup(root);
  });

  test('the data dir of init --database holds no store, and serve --no-worker is no node', async () => {
    await assert.rejects(fs.access(path.join(root, 'api', 'tlsward.db')), 'the store is the --database file');
    await fs.access(database);
    await assert.rejects(fs.access(path.join(root, 'api', 'node.id')), 'serve --no-worker is no node');
    for (const name of ['a', 'b']) {
      const id = (await fs.readFile(path.join(nodes[name].dir, 'node.id'), 'utf8')).trim();
      assert.match(id, /^[0-9a-f]{32}$/, `node ${name} keeps its id in DATA/node.id`);
      const st = await fs.stat(nodes[name].dir);
      assert.equal(st.mode & 0o777, 0o700, `worker --database made ${nodes[name].dir} 0700`);
    }
  });

  test('a pack ordered through the SDK is active only once both nodes deployed it', async () => {
    await fs.writeFile(nodes.b.hold, ''); // node b's deploy hook waits until released
    let pack;
    try {
      pack = await order('held');
      packs.push(pack.id);
      // Node a has the files; node b is inside its hook: the pack must wait.
      await waitFor(async () => (await hasDeployedPack(nodes.a.dir, zone.id, pack.id)) && (await readLog(nodes.b.log)).includes(`deploy ${pack.id}`), {
        timeout: 15_000,
        interval: 50,
        what: 'node a to deploy the pack and node b to enter its hook',
      });
      const waiting = await client.ssl.certificatePacks.get(pack.id, { zone_id: zone.id });
      assert.equal(waiting.status, 'pending_deployment', 'not active while node b has not deployed it');
    } finally {
      await fs.rm(nodes.b.hold, { force: true }); // a failure here must not hold node b's later deploys
    }
    const { seen } = await pollPack(api, token, zone.id, pack.id, (p) => p.status === 'active', 'the pack to become active');
    assert.ok(seen.includes('pending_deployment') || seen[0] === 'active');
    for (const name of ['a', 'b']) {
      assert.ok(await hasDeployedPack(nodes[name].dir, zone.id, pack.id), `node ${name} holds the pack`);
      const deploys = (await readLog(nodes[name].log)).filter((l) => l === `deploy ${pack.id}`);
      assert.equal(deploys.length, 1, `node ${name} ran its deploy hook once for the pack`);
    }
    // The two nodes deployed the same certificate (one generation, from the store).
    const crt = (name) => fs.readFile(path.join(nodes[name].dir, 'deploy', zone.id, pack.id, 'ecdsa.crt'), 'utf8');
    assert.equal(await crt('a'), await crt('b'));
  });

  test('several packs reach active and are in both deploy trees', async () => {
    const ordered = await Promise.all(['one', 'two', 'three'].map((h) => order(h)));
    for (const p of ordered) {
      packs.push(p.id);
      await waitPackStatus(api, token, zone.id, p.id, 'active');
      for (const name of ['a', 'b']) assert.ok(await hasDeployedPack(nodes[name].dir, zone.id, p.id), `node ${name} holds ${p.id}`);
    }
  });

  test('a third node started later catches up its deploy tree by itself', async () => {
    const c = await startNode('c');
    await waitFor(
      async () => {
        const log = await readLog(c.log); // the hook runs after the files are in place
        for (const id of packs) if (!(await hasDeployedPack(c.dir, zone.id, id)) || !log.includes(`deploy ${id}`)) return false;
        return true;
      },
      { timeout: 15_000, interval: 100, what: 'node c to deploy every active pack and run its hook' },
    );
    const deploys = (await readLog(c.log)).filter((l) => l.startsWith('deploy '));
    assert.equal(new Set(deploys).size, deploys.length, `node c ran its hook once per pack: ${deploys}`);
    for (const id of packs) assert.ok(deploys.includes(`deploy ${id}`), `node c's hook told about ${id}`);
  });

  test('a deleted pack leaves every node', async () => {
    const id = packs.pop();
    await client.ssl.certificatePacks.delete(id, { zone_id: zone.id });
    await waitPackGone(api, token, zone.id, id);
    await waitFor(
      async () => {
        for (const name of ['a', 'b', 'c']) {
          if (await hasDeployedPack(nodes[name].dir, zone.id, id)) return false;
          if (!(await readLog(nodes[name].log)).includes(`delete ${id}`)) return false;
        }
        return true;
      },
      { timeout: 15_000, interval: 100, what: 'every node to remove the deleted pack and run its delete hook' },
    );
    for (const name of ['a', 'b', 'c']) {
      const deletes = (await readLog(nodes[name].log)).filter((l) => l === `delete ${id}`);
      assert.equal(deletes.length, 1, `node ${name} ran its delete hook once`);
    }
  });

  test('a killed node stops counting once its heartbeat is older than the liveness window', async () => {
    await killServer(nodes.b.proc);
    const pack = await order('after-kill');
    await waitPackStatus(api, token, zone.id, pack.id, 'active');
    assert.ok(await hasDeployedPack(nodes.a.dir, zone.id, pack.id));
    assert.ok(await hasDeployedPack(nodes.c.dir, zone.id, pack.id));
    assert.equal(await hasDeployedPack(nodes.b.dir, zone.id, pack.id), false, 'the dead node deployed nothing');
  });
});

describe('--database on the CLI', () => {
  let root;
  let database;
  let keyFile;
  let creds;

  before(async () => {
    ({ root } = await makeTempDataDir());
    database = path.join(root, 'store.db');
    keyFile = path.join(root, 'master.key');
    creds = await initNodeStore(database, path.join(root, 'first'), keyFile);
  });
  after(() => cleanup(root));

  test('init --database refuses a file that already is a store, changing nothing', async () => {
    const before = await fs.readFile(database);
    const other = path.join(root, 'second');
    const r = await runCli(['init', '--data', other, '--database', database], { env: { TLSWARD_MASTER_KEY_FILE: keyFile } });
    assertUserError(r, 'init on an existing store');
    assert.match(r.stderr, /already a tlsward store/);
    assert.deepEqual(await fs.readFile(database), before, 'the store is unchanged');
    await assert.rejects(fs.access(other), 'no data dir was made');
  });

  test('account and token commands use --database (or TLSWARD_DATABASE) without --data', async () => {
    const account = await runCliJson(['account', 'create', '--database', database, '--name', 'via-flag', '--json']);
    assert.match(account.id, /^[0-9a-f]{32}$/);
    const token = await runCliJson(['token', 'create', '--account', account.id, '--permission', 'ssl:read', '--json'], {
      env: { TLSWARD_DATABASE: database },
    });
    assert.match(token.id, /^[0-9a-f]{32}$/);
    const r = await runCli(['token', 'revoke', '--database', database, token.id]);
    assert.equal(r.code, 0, r.stderr);
    const none = await runCli(['account', 'create', '--name', 'x']);
    assert.equal(none.code, 2, 'neither --data nor --database is a usage error');
    const missing = await runCli(['account', 'create', '--database', path.join(root, 'nope.db'), '--name', 'x']);
    assertUserError(missing, 'a --database file that does not exist');
    assert.ok(creds.account_id);
  });

  test('a worker node without the master key refuses to start, naming TLSWARD_MASTER_KEY_FILE', async () => {
    const dir = path.join(root, 'keyless');
    const r = await runCli(['worker', '--data', dir, '--database', database, '--dcv-mode', 'auto']);
    assert.equal(r.code, 1, `worker without a master key: exit 1 (${r.stderr})`);
    assert.match(r.stderr.trim().split('\n').pop(), /^tlsward: cannot load the master key .*TLSWARD_MASTER_KEY_FILE/);
    const st = await fs.stat(dir);
    assert.equal(st.mode & 0o777, 0o700, 'the node data dir was made 0700');
  });
});
