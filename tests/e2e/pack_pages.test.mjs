// Deep pages of the certificate-pack list (issue 13: keyset seeks behind page/per_page):
// a zone of 300 packs ordered one after another, listed with status=all (a server with no
// worker, so every pack stays initializing), must page exactly as before: every page of
// every size holds the packs at its offset in creation order with exact result_info, past
// the end is empty, the SDK's auto-pagination yields every pack once in order, and packs
// ordered between two list calls show up in the next one.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertOk,
  cleanup,
  createZoneRaw,
  makeInitialisedDir,
  orderPath,
  packsPath,
  runCli,
  startServer,
  stopAllClean,
  tokenClient,
  uniq,
  v4,
} from './harness.mjs';

const NPACKS = 300; // > two steps of the server's position map (128)

async function listPacks(server, token, zoneId, query) {
  const res = await v4(server, 'GET', `${packsPath(zoneId)}?${query}`, { token });
  const items = assertOk(res, `GET packs ?${query}`);
  return { ids: items.map((p) => p.id), info: res.body.result_info };
}

async function order(server, token, zone, i) {
  const res = await v4(server, 'POST', orderPath(zone.id), {
    token,
    json: { certificate_authority: 'google', hosts: [zone.name, `p${i}.${zone.name}`], type: 'advanced', validation_method: 'txt', validity_days: 90 },
  });
  return assertOk(res, `order ${i}`).id;
}

describe('pack list pages at depth', () => {
  let ctx, server, token, zone;
  const ids = []; // the zone's packs in creation order: the list order

  before(async () => {
    ctx = await makeInitialisedDir();
    server = await startServer(ctx.dir, ['--no-worker', '--dcv-mode', 'auto']);
    token = ctx.creds.token;
    zone = await createZoneRaw(server, token, `pages-${uniq()}.example.com`, ctx.creds.account_id);
    const r = runCli(['zone', 'quota', '--data', ctx.dir, zone.id, '--advanced', '1000']);
    assert.equal((await r).code, 0, 'zone quota');
    const first = await listPacks(server, token, zone.id, 'status=all&per_page=50');
    ids.push(...first.ids); // the universal pack
    for (let i = 0; i < NPACKS; i++) ids.push(await order(server, token, zone, i));
  });

  after(async () => {
    await stopAllClean([server]);
    await cleanup(ctx?.root);
  });

  test('every page of sizes 50, 7 and 1 (deep ones too) holds the packs at its offset, with exact result_info; past the end is empty', async () => {
    const total = ids.length;
    for (const perPage of [50, 7]) {
      const pages = Math.ceil(total / perPage);
      const got = [];
      for (let page = 1; page <= pages + 1; page++) {
        const { ids: pageIds, info } = await listPacks(server, token, zone.id, `status=all&per_page=${perPage}&page=${page}`);
        const want = ids.slice((page - 1) * perPage, page * perPage);
        assert.deepEqual(pageIds, want, `per_page ${perPage} page ${page}`);
        assert.deepEqual(info, { page, per_page: perPage, count: want.length, total_count: total, total_pages: pages }, `result_info of per_page ${perPage} page ${page}`);
        got.push(...pageIds);
      }
      assert.deepEqual(got, ids, `per_page ${perPage}: every pack once, in order`);
    }
    for (const offset of [127, 128, 129, 255, 256, total - 1]) {
      const { ids: one } = await listPacks(server, token, zone.id, `status=all&per_page=1&page=${offset + 1}`);
      assert.deepEqual(one, [ids[offset]], `per_page 1 at offset ${offset}`);
    }
  });

  test('SDK auto-pagination yields every pack once in order; a deep page through the SDK', async () => {
    const client = tokenClient(server, token);
    const viaSdk = [];
    for await (const p of client.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all', per_page: 50 })) viaSdk.push(p.id);
    assert.deepEqual(viaSdk, ids);
    const deep = await client.ssl.certificatePacks.list({ zone_id: zone.id, status: 'all', per_page: 20, page: 14 });
    assert.deepEqual(deep.result.map((p) => p.id), ids.slice(260, 280));
  });

  test('packs ordered between two list calls show up in the next one (the page map follows changes)', async () => {
    const before1 = await listPacks(server, token, zone.id, 'status=all&per_page=50&page=7');
    assert.deepEqual(before1.ids, ids.slice(300));
    const added = [];
    for (let i = 0; i < 3; i++) added.push(await order(server, token, zone, NPACKS + i));
    ids.push(...added);
    const after1 = await listPacks(server, token, zone.id, 'status=all&per_page=50&page=7');
    assert.deepEqual(after1.ids, ids.slice(300));
    assert.deepEqual(after1.info, { page: 7, per_page: 50, count: ids.length - 300, total_count: ids.length, total_pages: 7 });
    const deep = await listPacks(server, token, zone.id, 'status=all&per_page=7&page=42');
    assert.deepEqual(deep.ids, ids.slice(287, 294));
  });
});
