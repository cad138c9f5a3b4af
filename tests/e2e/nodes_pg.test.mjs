// Several nodes on one PostgreSQL store, through the official SDK: two API nodes
// (`serve --no-worker`) and worker nodes, each with its own --data dir and the same master
// key (TLSWARD_MASTER_KEY_FILE), all on `--database postgres://…` of one throwaway cluster.
//   - orders spread over both API nodes reach active, read the same through either node and
//     are deployed on every worker node;
//   - a worker killed in the middle of the pack job's deploy hook: another node finishes the
//     job once the lease has run out, and no run of the job overlapped another;
//   - PostgreSQL killed / shut down and restarted under load: clean 5xx envelopes and a 503 /healthz while it is
//     down, nothing acknowledged lost, everything resumes without restarting a node;
//   - a worker node joining later catches up, and counts for later packs;
//   - LISTEN/NOTIFY: with a 60 s worker interval a pack still becomes active at once.
// Short intervals, lease and liveness flags instead of sleeps; every wait is bounded.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

import {
  Cloudflare,
  createZoneRaw,
  hasDeployedPack,
  initNodeStore,
  killServer,
  makeTempDataDir,
  cleanup,
  PG_BIN,
  request,
  runCliJson,
  sleep,
  startApiNode,
  startPostgres,
  startWorkerNode,
  stopAllClean,
  stopServerExpectClean,
  uniq,
  waitFor,
} from './harness.mjs';

const LEASE_MS = 3000;
// Workers look for work every 100 ms; a job's lease runs out 3 s after its holder's last
// renewal; a node whose heartbeat is older than 2 s stops counting.
const NODE_ARGS = ['--worker-interval', '100ms', '--lease', `${LEASE_MS / 1000}s`, '--node-liveness', '2s'];
const SDK_TIMEOUT_MS = 10_000; // a request that hangs longer fails the test

/**
 * A deploy hook logging "<node> <event> <pack> start|end <epoch ms> <pid>" to `log`. While
 * `slow` exists a deploy takes up to 10 s (100 × 0.1 s: it ends early once `slow` is removed,
 * and killing the shell ends it).
 */
async function writeHook(dir, node, log, slow) {
  const script = path.join(dir, `hook-${node}.sh`);
  const line = (what) => `echo "${node} $TLSWARD_EVENT $TLSWARD_PACK_ID ${what} $(date +%s%3N) $$" >> '${log}'`;
  await fs.writeFile(
    script,
    [
      '#!/bin/sh',
      line('start'),
      'i=0',
      `while [ "$TLSWARD_EVENT" = deploy ] && [ -e '${slow}' ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`,
      line('end'),
      '',
    ].join('\n'),
  );
  return ['--deploy-hook', `sh '${script}'`];
}

async function readHookLog(log) {
  const text = await fs.readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [node, event, pack, what, ms, pid] = l.split(' ');
      return { node, event, pack, what, ms: Number(ms), pid: Number(pid) };
    });
}

/** The hook runs of one node for one pack and event: [{ start, end (null: never ended), pid }]. */
function hookRuns(lines, pack, event = 'deploy') {
  const runs = new Map();
  for (const l of lines.filter((x) => x.pack === pack && x.event === event)) {
    if (l.what === 'start') runs.set(l.pid, { start: l.ms, end: null, pid: l.pid });
    else if (runs.has(l.pid)) runs.get(l.pid).end = l.ms;
  }
  return [...runs.values()].sort((a, b) => a.start - b.start);
}

/** One SQL query through psql (rows as arrays of strings). */
function psql(url, sql) {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(PG_BIN, 'psql'), [url, '-XAtq', '-F', '|', '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.split('\n').filter(Boolean).map((l) => l.split('|')));
      else reject(new Error(`psql ${sql}: exit ${code}: ${err}`));
    });
  });
}

/** The lease owner of a worker, from its "worker started (worker-…" line. */
const ownerOf = (proc) => /worker started \((worker-[0-9a-f]+)/.exec(proc.stderr())?.[1];

describe('nodes on one PostgreSQL store', () => {
  let pg;
  let root;
  let keyFile;
  const procs = [];
  const apis = [];
  const nodes = {}; // name → { dir, log, proc }
  let slow;
  let token;
  let clients; // one SDK client per API node
  let zone;
  const active = []; // packs known to be active

  async function startNode(name, extra = NODE_ARGS) {
    const dir = path.join(root, `node-${name}`);
    const log = path.join(root, `hook-${name}.log`);
    const hook = await writeHook(root, name, log, slow);
    const proc = await startWorkerNode(pg.url, dir, keyFile, [...extra, '--node-name', name, ...hook]);
    procs.push(proc);
    nodes[name] = { dir, log, proc };
    return nodes[name];
  }

  const client = (i) => clients[i % clients.length];
  const order = (i, host) =>
    client(i).ssl.certificatePacks.create({
      zone_id: zone.id,
      certificate_authority: 'lets_encrypt',
      hosts: [`${host}.${zone.name}`, zone.name],
      type: 'advanced',
      validation_method: 'txt',
      validity_days: 90,
    });

  /** Waits (bounded) until a pack is active, reading it through API node i. */
  async function waitActive(id, { i = 0, timeout = 20_000 } = {}) {
    let last;
    await waitFor(
      async () => {
        last = await client(i).ssl.certificatePacks.get(id, { zone_id: zone.id });
        return last.status === 'active';
      },
      { timeout, interval: 50, what: `pack ${id} to become active` },
    ).catch((e) => {
      throw new Error(`${e.message}; last status: ${last?.status}`);
    });
    return last;
  }

  async function listAll(c) {
    const all = [];
    for await (const p of c.ssl.certificatePacks.list({ zone_id: zone.id, per_page: 50, status: 'all' })) all.push(p);
    return all;
  }

  const crtOf = (name, id) => fs.readFile(path.join(nodes[name].dir, 'deploy', zone.id, id, 'ecdsa.crt'), 'utf8');

  before(async () => {
    pg = await startPostgres({ settings: { fsync: 'off', shared_preload_libraries: 'pg_stat_statements' } });
    ({ root } = await makeTempDataDir());
    keyFile = path.join(root, 'master.key');
    slow = path.join(root, 'slow');
    const creds = await initNodeStore(pg.url, path.join(root, 'api-0'), keyFile);
    apis.push(...(await Promise.all([0, 1].map((i) => startApiNode(pg.url, path.join(root, `api-${i}`), keyFile, ['--dcv-mode', 'auto'])))));
    procs.push(...apis);
    await Promise.all([startNode('a'), startNode('b')]);
    ({ token } = await runCliJson(['token', 'create', '--database', pg.url, '--account', creds.account_id, '--permission', 'zone:write', '--permission', 'ssl:write', '--json']));
    clients = apis.map(
      (api) => new Cloudflare({ apiToken: token, apiKey: null, apiEmail: null, userServiceKey: null, baseURL: api.baseURL, maxRetries: 0, timeout: SDK_TIMEOUT_MS }),
    );
    zone = await createZoneRaw(apis[1], token, `pgnodes-${uniq()}.example.com`, creds.account_id);
  });

  after(async () => {
    await stopAllClean(procs.filter((p) => !p.exitInfo));
    await pg?.stop();
    await cleanup(root);
  });

  test('orders spread over both API nodes reach active, read the same on either node, and are on both workers', async () => {
    const ordered = await Promise.all(['one', 'two', 'three', 'four'].map((h, i) => order(i, h)));
    for (const [i, p] of ordered.entries()) {
      await waitActive(p.id, { i: i + 1 }); // read through the node that did not take the order
      active.push(p.id);
    }
    // A user cannot tell which node answered: the same JSON for one pack and for the list.
    for (const p of ordered) {
      const [a, b] = await Promise.all(clients.map((c) => c.ssl.certificatePacks.get(p.id, { zone_id: zone.id })));
      assert.deepEqual(a, b, `GET pack ${p.id} through either API node`);
    }
    const [la, lb] = await Promise.all(clients.map((c) => listAll(c)));
    assert.deepEqual(la, lb, 'the pack list through either API node');
    // (the zone's universal pack is listed too)
    assert.deepEqual(la.filter((p) => p.type === 'advanced').map((p) => p.id).sort(), active.slice().sort());
    const raw = await Promise.all(apis.map((api) => request(api, 'GET', `/client/v4/zones/${zone.id}/ssl/certificate_packs`, { token })));
    assert.deepEqual(raw[0].body, raw[1].body, 'the raw list body through either API node');
    // Deployed on both worker nodes: the same certificate, one hook run per node and pack.
    for (const id of active) {
      for (const name of ['a', 'b']) {
        assert.ok(await hasDeployedPack(nodes[name].dir, zone.id, id), `node ${name} holds ${id}`);
        const runs = hookRuns(await readHookLog(nodes[name].log), id);
        assert.equal(runs.length, 1, `node ${name} ran its deploy hook once for ${id}: ${JSON.stringify(runs)}`);
      }
      assert.equal(await crtOf('a', id), await crtOf('b', id), `both nodes deployed the same certificate of ${id}`);
    }
  });

  // Every node deploys to its own tree and runs its own hook, so the two nodes' deploy hooks
  // for one pack DO run at the same time; that is by design. What the code guarantees is:
  //  (1) on one node, the pack job and the node's sync pass take the pack's node lock and
  //      look at what the node already recorded first (node.c node_lock/node_has), so one
  //      node's deploy hook for one pack never overlaps itself; and
  //  (2) the pack job itself is claimed under a lease (claim only where lease_until <= now),
  //      so when the node running it dies, no other node runs the job until that lease has
  //      run out: the runs of the claimed job never overlap.
  // Which code runs the hook: on the node holding the job, the job's deploy step (or that
  // node's sync pass, with the job waiting on the same node lock: the job is mid-deploy
  // either way); on the other node, whichever of its sync pass and (after the takeover) its
  // run of the job comes first, the second finding the pack recorded and skipping the hook.
  // (1) is read from each node's hook log (start/end of every run, per node and pack): one
  // interrupted run on the killed node, one complete run on the other, and after a restart
  // the killed node's new run starts after the kill. (2) from the job's row, sampled while
  // it changes hands: every sample not owned by the killed holder (the reaper giving the
  // lease up, or the other node's claim) comes after the holder's last lease_until. Only a
  // run of the job makes the pack active, so the other node finished it.
  test('a worker killed in the middle of the pack job deploy hook: the other node finishes the job after the lease', async (t) => {
    // Every pack so far (the zone's Universal SSL pack too) is active and its deploy hook has
    // run to the end on both nodes before the hooks slow down: on a loaded run, a deploy
    // still to come (or still running) would sit in its slow hook and hold that node's
    // worker while the test waits for another pack.
    await waitFor(
      async () => {
        const all = await listAll(clients[0]);
        if (all.length === 0 || all.some((p) => p.status !== 'active')) return false;
        for (const name of ['a', 'b']) {
          const lines = await readHookLog(nodes[name].log);
          const done = (id) => hookRuns(lines, id).some((r) => r.end !== null);
          if (!all.every((p) => done(p.id))) return false;
        }
        return true;
      },
      { timeout: 30_000, interval: 100, what: 'every pack so far active, its deploy hook run to the end on both nodes' },
    );
    await fs.writeFile(slow, ''); // deploy hooks now take (up to) 10 s
    const pack = await order(0, 'killed');
    const sql = `SELECT lease_owner, lease_until, attempts, (extract(epoch from clock_timestamp()) * 1000000)::bigint FROM jobs WHERE kind = 'pack.advance' AND target = '${pack.id}'`;
    const owners = { [ownerOf(nodes.a.proc)]: 'a', [ownerOf(nodes.b.proc)]: 'b' };
    // The holder: a node inside its deploy hook for the pack while its worker holds the job.
    let holder;
    let hookPid;
    const samples = []; // the job's row: { owner, until (µs), attempts, now (µs, the server's clock) }
    const sample = (row) => row && samples.push({ owner: row[0], until: Number(row[1]), attempts: Number(row[2]), now: Number(row[3]) });
    await waitFor(
      async () => {
        const [row] = await psql(pg.url, sql);
        const name = row && owners[row[0]];
        if (!name) return false;
        samples.length = 0;
        sample(row);
        const open = hookRuns(await readHookLog(nodes[name].log), pack.id).filter((r) => r.end === null);
        if (open.length !== 1) return false;
        holder = name;
        hookPid = open[0].pid;
        return true;
      },
      { timeout: 15_000, interval: 50, what: 'a node inside its deploy hook while it holds the pack job' },
    );
    const other = holder === 'a' ? 'b' : 'a';
    const holderOwner = ownerOf(nodes[holder].proc);
    await killServer(nodes[holder].proc);
    const killTime = Date.now();
    // A crashed machine takes its hook with it; here the hook is an orphan of the killed
    // worker and would go on writing to the dead node's log.
    try {
      process.kill(hookPid, 'SIGKILL');
    } catch {
      /* it had ended */
    }
    await fs.rm(slow);
    const killedAt = samples.length; // samples from here on are taken after the kill

    // Sample the job's row until the pack is active.
    await waitFor(
      async () => {
        sample((await psql(pg.url, sql))[0]);
        return (await client(1).ssl.certificatePacks.get(pack.id, { zone_id: zone.id })).status === 'active';
      },
      { timeout: 30_000, interval: 50, what: `pack ${pack.id} to become active on the remaining node` },
    );
    active.push(pack.id);
    // A killed worker renews nothing: its lease_until seen after the kill is the last one.
    const held = samples.filter((s) => s.owner === holderOwner);
    assert.ok(samples.slice(killedAt).some((s) => s.owner === holderOwner), `the job was seen held by the killed node after the kill: ${JSON.stringify(samples.slice(0, 3))}`);
    const lastUntil = Math.max(...held.map((s) => s.until));
    // Whoever had the job after the killed node (the other node's claim, or the reaper
    // giving the lease up) had it only once the lease had run out.
    const others = samples.filter((s) => s.owner !== holderOwner);
    for (const s of others) assert.ok(s.now >= lastUntil, `the job changed hands ${lastUntil - s.now} µs before the lease ran out`);
    t.diagnostic(`${samples.length} samples of the job, ${held.length} held by the killed node; then ${[...new Set(others.map((s) => s.owner || "''"))]}`);
    assert.ok(samples.every((s) => s.owner === holderOwner || s.owner === ownerOf(nodes[other].proc) || s.owner === ''), 'no third owner');

    // Per node and pack: the hook never overlapped itself; the killed node's run never ended;
    // the remaining node ran its hook to the end exactly once and holds the pack.
    const dead = hookRuns(await readHookLog(nodes[holder].log), pack.id);
    assert.equal(dead.length, 1, `node ${holder}: one (interrupted) run ${JSON.stringify(dead)}`);
    assert.equal(dead[0].end, null, `node ${holder}'s hook was killed with it`);
    const alive = hookRuns(await readHookLog(nodes[other].log), pack.id);
    assert.equal(alive.length, 1, `node ${other} ran its deploy hook once: ${JSON.stringify(alive)}`);
    assert.notEqual(alive[0].end, null, `node ${other}'s hook ran to the end`);
    assert.ok(await hasDeployedPack(nodes[other].dir, zone.id, pack.id));

    // The killed node, started again on its data dir (the same node), catches up by itself:
    // a new complete run of its hook, after the interrupted one.
    const restarted = await startNode(holder);
    await waitFor(async () => hookRuns(await readHookLog(restarted.log), pack.id).some((r) => r.end !== null), {
      timeout: 15_000,
      interval: 100,
      what: `node ${holder} to deploy ${pack.id} again after its restart`,
    });
    const runs = hookRuns(await readHookLog(restarted.log), pack.id);
    assert.equal(runs.length, 2, `node ${holder}: the interrupted run, then one complete run: ${JSON.stringify(runs)}`);
    assert.ok(runs[1].start >= killTime, `node ${holder}'s new run started after the kill: ${JSON.stringify(runs)}`);
    assert.ok(await hasDeployedPack(restarted.dir, zone.id, pack.id));
    assert.equal(await crtOf(holder, pack.id), await crtOf(other, pack.id));
  });

  test('PostgreSQL killed, then shut down, and restarted under load: clean 5xx while down, nothing acknowledged lost, everything resumes', async (t) => {
    const acked = []; // ids of orders answered 2xx
    const known = [...active];
    const failures = []; // { status, body } of clean failures
    const broken = []; // anything else: a hang, a dropped connection, a bad envelope
    let stop = false;
    let n = 0;
    const lane = async (k) => {
      for (let j = 0; !stop && j < 10_000; j++) {
        const i = n++;
        const c = client(i);
        try {
          if (i % 3 === 0) {
            const { id } = await order(i, `load-${k}-${j}`);
            acked.push(id);
            known.push(id);
          }
          else if (i % 3 === 1 && known.length) await c.ssl.certificatePacks.get(known[i % known.length], { zone_id: zone.id });
          else await c.ssl.certificatePacks.list({ zone_id: zone.id, per_page: 5 });
        } catch (e) {
          // A clean failure: 500/503, the envelope, and each error once (a handler that went
          // on after the store failed would repeat it, e.g. once a listed pack).
          const codes = e.errors?.map((x) => x.code) ?? [];
          if (e instanceof Cloudflare.APIError && (e.status === 500 || e.status === 503) && e.error?.success === false && codes.length > 0 && new Set(codes).size === codes.length)
            failures.push({ status: e.status, codes });
          else broken.push(`${e.constructor.name} ${e.status ?? ''} ${e.message} ${JSON.stringify(e.error ?? null)}`);
          await sleep(20);
        }
      }
    };
    const healthz = (api) => request(api, 'GET', '/healthz');
    const lanes = [0, 1, 2, 3].map(lane);
    try {
      await waitFor(() => acked.length >= 2, { timeout: 15_000, interval: 20, what: 'orders acknowledged before the restart' });
      // Twice: a crash (SIGKILL: connections reset) and a fast shutdown (SIGINT: the server
      // ends every session), each followed by a restart on the same data.
      for (const how of ['kill', 'fast shutdown']) {
        if (how === 'kill') await pg.kill();
        else {
          pg.proc.kill('SIGINT');
          await waitFor(() => pg.exitInfo, { timeout: 20_000, interval: 50, what: 'postgres to shut down' });
        }
        // While it is down: /healthz says so on both API nodes, and requests fail cleanly.
        for (const api of apis) {
          await waitFor(async () => (await healthz(api)).status === 503, { timeout: 10_000, interval: 50, what: `healthz 503 after the ${how}` });
        }
        const down = failures.length;
        await waitFor(() => failures.length >= down + 4, { timeout: 10_000, interval: 20, what: `requests answered after the ${how}` });
        await pg.restart();
        for (const api of apis) {
          await waitFor(async () => (await healthz(api)).status === 200, { timeout: 15_000, interval: 50, what: `healthz 200 after the restart (${how})` });
        }
        const upAt = acked.length;
        await waitFor(() => acked.length >= upAt + 2, { timeout: 15_000, interval: 20, what: `orders acknowledged after the restart (${how})` });
      }
    } finally {
      stop = true;
      await Promise.all(lanes);
    }
    assert.deepEqual(broken, [], 'every request got an answer: a result or a clean 5xx envelope');
    assert.ok(failures.length > 0, 'requests did fail while PostgreSQL was down');
    for (const p of [...apis, nodes.a.proc, nodes.b.proc]) assert.equal(p.exitInfo, null, 'no tlsward process stopped or was restarted');
    const seen = [...new Set(failures.map((f) => `${f.status} ${f.codes}`))];
    t.diagnostic(`${acked.length} orders acknowledged; ${failures.length} clean failures while down: ${seen.join('; ')}`);
    // Nothing acknowledged is lost: every order is listed (all statuses), on either node, and
    // reaches active.
    for (const c of clients) {
      const listed = new Set((await listAll(c)).map((p) => p.id));
      for (const id of acked) assert.ok(listed.has(id), `acknowledged order ${id} is listed`);
    }
    for (const [i, id] of acked.entries()) {
      await waitActive(id, { i, timeout: 30_000 });
      active.push(id);
    }
    for (const id of acked.slice(-2)) {
      for (const name of ['a', 'b']) assert.ok(await hasDeployedPack(nodes[name].dir, zone.id, id), `node ${name} holds ${id}`);
    }
  });

  test('a third worker node started later catches up every active pack, and counts for later ones', async () => {
    const c = await startNode('c');
    await waitFor(
      async () => {
        const log = await readHookLog(c.log);
        for (const id of active) if (!(await hasDeployedPack(c.dir, zone.id, id)) || !hookRuns(log, id).some((r) => r.end !== null)) return false;
        return true;
      },
      { timeout: 30_000, interval: 100, what: 'node c to deploy every active pack' },
    );
    for (const id of active) assert.equal(await crtOf('c', id), await crtOf('a', id), `node c deployed the certificate node a has for ${id}`);
    // It has heartbeated, so it counts: a pack ordered now is active only once node c has it.
    await fs.writeFile(slow, '');
    const pack = await order(1, 'after-c');
    try {
      const open = async () => hookRuns(await readHookLog(c.log), pack.id).filter((r) => r.end === null).length === 1;
      await waitFor(open, { timeout: 15_000, interval: 50, what: 'node c to enter its (10 s) deploy hook' });
      const now = await client(0).ssl.certificatePacks.get(pack.id, { zone_id: zone.id });
      assert.ok(await open(), 'node c was still in its hook when the pack was read');
      assert.notEqual(now.status, 'active', 'not active while node c is still deploying it');
    } finally {
      await fs.rm(slow);
    }
    await waitActive(pack.id, { timeout: 30_000 });
    active.push(pack.id);
    for (const name of ['a', 'b', 'c']) assert.ok(await hasDeployedPack(nodes[name].dir, zone.id, pack.id), `node ${name} holds ${pack.id}`);
  });

  test('LISTEN/NOTIFY: with a 60 s worker interval a pack ordered on an API node is active within seconds', async () => {
    // Restart every worker node (same data dirs: the same nodes) with a long interval: a
    // sleeping worker wakes for its interval, its next due job, or a notification. An API
    // node is another process, so only the NOTIFY of its commit can wake them early.
    const names = Object.keys(nodes);
    await Promise.all(names.map((name) => stopServerExpectClean(nodes[name].proc)));
    await Promise.all(names.map((name) => startNode(name, ['--worker-interval', '60s', '--lease', `${LEASE_MS / 1000}s`, '--node-liveness', '2s'])));
    // A fresh worker first fills its RSA key pool, looking for jobs between two keys: wait
    // until no worker has tried to claim a job for 3 s (all asleep until their interval).
    await psql(pg.url, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const claims = async () => (await psql(pg.url, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE 'UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts +%'"))[0][0];
    let last = await claims();
    let quietSince = Date.now();
    await waitFor(
      async () => {
        const now = await claims();
        if (now !== last) [last, quietSince] = [now, Date.now()];
        return Date.now() - quietSince >= 3000;
      },
      { timeout: 60_000, interval: 250, what: 'the worker nodes to fall asleep' },
    );
    assert.notEqual(last, '0', 'pg_stat_statements counts the claims');
    const [[due]] = await psql(pg.url, `SELECT count(*) FROM jobs WHERE next_run_at < (extract(epoch from clock_timestamp()) * 1000000)::bigint + 20000000`);
    assert.equal(due, '0', 'no job is due in the next 20 s');
    const pack = await order(1, 'notify');
    await waitActive(pack.id, { timeout: 15_000 }); // well before any worker's interval is up
    for (const name of names) assert.ok(await hasDeployedPack(nodes[name].dir, zone.id, pack.id), `node ${name} holds ${pack.id}`);
  });
});
