// Durable writes under load (issue 13): orders sent all at once are each answered only
// after their commit (group commit batches them, store/store_batch.c), so every one that
// was acknowledged is still there after a kill -9; the advanced quota, now read from a
// per-zone counter instead of a count of the zone's packs, holds exactly under concurrent
// orders and frees a slot on deletion; orders that fill SQLite's WAL have it checkpointed
// beside their commits (store/db_sqlite.c), still losing nothing to a kill -9; and the job
// an order enqueues is started by the order itself (an in-process wake-up), not by the
// worker's next poll, which here is an hour away.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertErr,
  assertOk,
  cleanup,
  createZoneRaw,
  killServer,
  makeInitialisedDir,
  mapLimit,
  orderPath,
  packsPath,
  pollPack,
  runCli,
  startServer,
  stopAllClean,
  uniq,
  v4,
} from './harness.mjs';

const IN_FLIGHT = 32;
const orderBody = (zone, i) => ({
  certificate_authority: 'google',
  hosts: [zone, `o${i}.${zone}`],
  type: 'advanced',
  validation_method: 'txt',
  validity_days: 90,
});

describe('durable writes under concurrency', () => {
  let ctx;
  let server;
  const servers = [];

  before(async () => {
    ctx = await makeInitialisedDir();
  });

  after(async () => {
    await stopAllClean(servers);
    await cleanup(ctx.root);
    if (ctx.extra) await cleanup(ctx.extra);
  });

  const start = async (extra = []) => {
    server = await startServer(ctx.dir, ['--dcv-mode', 'auto', ...extra]);
    servers.push(server);
    return server;
  };

  /** The ids of all packs of the zone (every status), pages of 50 (at most maxPages). */
  const allPackIds = async (zoneId, maxPages = 4) => {
    const ids = [];
    for (let page = 1; page <= maxPages; page++) {
      const res = await v4(server, 'GET', `${packsPath(zoneId)}?status=all&per_page=50&page=${page}`, { token: ctx.creds.token });
      const items = assertOk(res, `list packs, page ${page}`);
      ids.push(...items.map((p) => p.id));
      if (items.length < 50) break;
    }
    return ids;
  };

  test(`${IN_FLIGHT} orders at once: every acknowledged one survives a kill -9`, async () => {
    await start(['--no-worker']);
    const token = ctx.creds.token;
    const zone = await createZoneRaw(server, token, `burst-${uniq()}.example.com`, ctx.creds.account_id);
    const answers = await mapLimit([...Array(IN_FLIGHT).keys()], IN_FLIGHT, (i) =>
      v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, i) }));
    const ids = answers.map((res, i) => assertOk(res, `order ${i}`).id);
    assert.equal(new Set(ids).size, IN_FLIGHT, 'one pack per order');

    await killServer(server); // no clean shutdown: only what was committed remains
    await start(['--no-worker']);
    const listed = new Set(await allPackIds(zone.id));
    for (const id of ids) assert.ok(listed.has(id), `acknowledged pack ${id} is in the store after kill -9`);
  });

  // Enough orders to fill SQLite's WAL past its checkpoint threshold (1,000 pages, a few
  // hundred orders) and on, in flight IN_FLIGHT at a time.
  const WAL_ORDERS = 800;

  test('orders past WAL checkpoints: the checkpoints ran beside the commits (none copied the whole WAL in one), and every acknowledged order survives a kill -9', async () => {
    await stopAllClean([server]);
    await start(['--no-worker', '--rate-limit', '0']);
    const token = ctx.creds.token;
    const zone = await createZoneRaw(server, token, `wal-${uniq()}.example.com`, ctx.creds.account_id);
    const q = await runCli(['zone', 'quota', '--data', ctx.dir, zone.id, '--advanced', String(3 * WAL_ORDERS)]);
    assert.equal(q.code, 0, `zone quota: ${q.stderr}`);
    const place = async (from) => {
      const answers = await mapLimit([...Array(WAL_ORDERS).keys()], IN_FLIGHT, (i) =>
        v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, from + i) }));
      return answers.map((res, i) => assertOk(res, `order ${from + i}`).id);
    };

    // A clean stop reports how the WAL was checkpointed while the orders came in.
    const first = await place(0);
    await stopAllClean([server]);
    const report = server.stderr().match(/store: WAL checkpoints: (\d+) in the background, (\d+) tails and (\d+) whole in a commit/);
    assert.ok(report, `no WAL checkpoint report at exit; stderr tail:\n${server.stderr().slice(-2000)}`);
    assert.ok(Number(report[1]) >= 1, `the background checkpointer ran: ${report[0]}`);
    assert.equal(report[3], '0', `no commit copied the whole WAL: ${report[0]}`);

    // Across checkpoints, what was acknowledged is committed: nothing is lost to a kill -9.
    await start(['--no-worker', '--rate-limit', '0']);
    const second = await place(WAL_ORDERS);
    await killServer(server);
    await start(['--no-worker']);
    const listed = new Set(await allPackIds(zone.id, (2 * WAL_ORDERS) / 50 + 1));
    for (const id of [...first, ...second]) assert.ok(listed.has(id), `acknowledged pack ${id} is in the store after kill -9`);
  });

  test('the advanced quota holds exactly under concurrent orders and frees a slot on deletion', async () => {
    const token = ctx.creds.token;
    const zone = await createZoneRaw(server, token, `quota-${uniq()}.example.com`, ctx.creds.account_id);
    const q = await runCli(['zone', 'quota', '--data', ctx.dir, zone.id, '--advanced', '5']);
    assert.equal(q.code, 0, `zone quota: ${q.stderr}`);
    const answers = await mapLimit([...Array(12).keys()], 12, (i) =>
      v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, i) }));
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 5, `exactly the allocation is granted: ${answers.map((r) => r.status).join(' ')}`);
    for (const r of answers.filter((x) => x.status !== 200)) {
      assert.match(assertErr(r, 400, [1450], 'over quota')[0].message, /quota exhausted: 5 of 5 used/);
    }
    const quota = await v4(server, 'GET', `/zones/${zone.id}/ssl/certificate_packs/quota`, { token });
    assert.deepEqual(assertOk(quota, 'quota'), { advanced: { allocated: 5, used: 5 } });

    const victim = ok[0].body.result.id;
    assertOk(await v4(server, 'DELETE', packsPath(zone.id, victim), { token }), 'delete');
    const after = await v4(server, 'GET', `/zones/${zone.id}/ssl/certificate_packs/quota`, { token });
    assert.deepEqual(assertOk(after, 'quota after delete'), { advanced: { allocated: 5, used: 4 } });
    assertOk(await v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, 99) }), 'order into the freed slot');
    assertErr(await v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, 100) }), 400, [1450], 'full again');
  });

  test('an order starts its own job: active long before the worker would poll (--worker-interval 1h)', async () => {
    await stopAllClean([server]);
    // A store of its own: the packs ordered above without a worker would queue before ours.
    const own = await makeInitialisedDir();
    ctx.extra = own.root;
    ctx.dir = own.dir;
    ctx.creds = own.creds;
    await start(['--worker-interval', '1h']);
    const token = ctx.creds.token;
    const zone = await createZoneRaw(server, token, `wake-${uniq()}.example.com`, ctx.creds.account_id);
    const pack = assertOk(await v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, 0) }), 'order');
    // Bounded at 15 s (pollPack), far below the hour the poll interval would take.
    const { seen } = await pollPack(server, token, zone.id, pack.id, (p) => p.status === 'active', 'pack to be active');
    assert.equal(seen[seen.length - 1], 'active', `statuses seen: ${seen.join(' → ')}`);
  });

  // A pack id leads with the milliseconds of its order (12 hex characters), then 80 random
  // bits: successive orders' ids ascend, so their index entries are appended to the last
  // page of each index instead of dirtying one random page per order in a group commit.
  test('order ids: 32 lowercase hex, led by the order time in milliseconds; successive orders ascend; each is found by its id', async () => {
    const token = ctx.creds.token;
    const zone = await createZoneRaw(server, token, `ids-${uniq()}.example.com`, ctx.creds.account_id);
    const ids = [];
    for (let i = 0; i < 6; i++) {
      const before = Date.now();
      const id = assertOk(await v4(server, 'POST', orderPath(zone.id), { token, json: orderBody(zone.name, i) }), `order ${i}`).id;
      const after = Date.now();
      assert.match(id, /^[0-9a-f]{32}$/);
      const ms = parseInt(id.slice(0, 12), 16);
      assert.ok(ms >= before - 1 && ms <= after + 1, `id ${id}: time ${ms} within the request (${before}..${after})`);
      ids.push(id);
    }
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1].slice(0, 12) <= ids[i].slice(0, 12), `ids ascend: ${ids.join(' ')}`);
    assert.equal(new Set(ids.map((id) => id.slice(12))).size, ids.length, 'the random parts differ');
    for (const id of ids) assert.equal(assertOk(await v4(server, 'GET', packsPath(zone.id, id), { token }), `GET ${id}`).id, id);
  });
});

describe('--rsa-key-pool', () => {
  test('a pool size outside 1..64 or not a number is a usage error naming the flag; serve and worker accept a valid one', async () => {
    const { root, dir } = await makeInitialisedDir();
    try {
      for (const command of ['serve', 'worker']) {
        for (const bad of ['0', '65', 'many', '-3']) {
          const r = await runCli([command, '--data', dir, '--listen', '127.0.0.1:0', '--rsa-key-pool', bad].filter((a, i, all) => command === 'serve' || (a !== '--listen' && all[i - 1] !== '--listen')), { timeout: 20_000 });
          assert.equal(r.code, 1, `${command} --rsa-key-pool ${bad}: exit ${r.code}; ${r.stderr}`);
          assert.match(r.stderr, /--rsa-key-pool/, `${command} --rsa-key-pool ${bad} names the flag: ${r.stderr}`);
        }
      }
      const help = await runCli(['serve', '--help']);
      assert.match(help.stdout, /--rsa-key-pool N/);
      const server = await startServer(dir, ['--rsa-key-pool', '1']);
      await stopAllClean([server]);
    } finally {
      await cleanup(root);
    }
  });
});
