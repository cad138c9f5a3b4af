// Zones through the official SDK: create/list/get/delete, every field of the zone object,
// filters, pagination (manual and SDK auto-pagination), page past the end, duplicate names.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_NAME_SERVERS,
  HEX32,
  RFC3339_Z,
  assertOk,
  assertZoneNotFound,
  cleanup,
  createAccount,
  createToken,
  expectSdkError,
  legacyClient,
  listAllZones,
  makeInitialisedDir,
  randomId,
  startServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
} from './harness.mjs';

describe('zones', () => {
  let root;
  let dir;
  let creds;
  let server;
  let client; // the init token (every permission on the Default account)

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir);
    client = tokenClient(server, creds.token);
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  /** A fresh account with a zone:write token, isolated from the other tests' zones. */
  async function freshAccount(label) {
    const account = await createAccount(dir, `${label}-${uniq()}`);
    const tok = await createToken(dir, account.id, ['zone:write']);
    return { account, token: tok.token, client: tokenClient(server, tok.token) };
  }

  test('create returns the whole zone object (name lower-cased, defaults)', async () => {
    const before = Date.now();
    const zone = await client.zones.create({ name: 'Mixed-Case.Example.COM', account: { id: creds.account_id } });
    const afterTs = Date.now();

    assert.match(zone.id, HEX32);
    assert.equal(zone.name, 'mixed-case.example.com');
    assert.equal(zone.status, 'active');
    assert.equal(zone.paused, false);
    assert.equal(zone.type, 'full');
    assert.equal(zone.development_mode, 0);
    assert.deepEqual(zone.name_servers, DEFAULT_NAME_SERVERS);
    assert.ok('original_name_servers' in zone, 'original_name_servers missing');
    assert.ok(
      zone.original_name_servers === null || Array.isArray(zone.original_name_servers),
      `original_name_servers must be an array or null: ${JSON.stringify(zone.original_name_servers)}`,
    );
    assert.deepEqual(zone.account, { id: creds.account_id, name: 'Default' });
    for (const field of ['owner', 'plan', 'meta']) {
      assert.ok(zone[field] && typeof zone[field] === 'object' && !Array.isArray(zone[field]), `${field} must be an object`);
    }
    assert.ok(Array.isArray(zone.permissions), 'permissions must be an array');
    for (const field of ['created_on', 'modified_on', 'activated_on']) {
      assert.match(zone[field], RFC3339_Z, field);
      const ts = Date.parse(zone[field]);
      // Second-resolution timestamps may round down by up to a second.
      assert.ok(ts >= before - 2000 && ts <= afterTs + 2000, `${field} ${zone[field]} is not "now"`);
    }
    assert.ok(Date.parse(zone.modified_on) >= Date.parse(zone.created_on), 'modified_on before created_on');
  });

  test('create: raw envelope is HTTP 200 with success/errors/messages/result', async () => {
    const name = `raw-${uniq()}.example.com`;
    const res = await v4(server, 'POST', '/zones', {
      token: creds.token,
      json: { name, account: { id: creds.account_id }, type: 'full' },
    });
    const zone = assertOk(res, 'POST /zones');
    assert.deepEqual(res.body.errors, []);
    assert.deepEqual(res.body.messages, []);
    assert.equal(zone.name, name);
    assert.equal(zone.type, 'full', 'explicit type:"full" is kept');
    assert.ok(!('result_info' in res.body), 'a single object has no result_info');
  });

  test('get returns the same zone as create', async () => {
    const created = await client.zones.create({ name: `get-${uniq()}.example.net`, account: { id: creds.account_id } });
    const got = await client.zones.get({ zone_id: created.id });
    assert.deepEqual(got, created);

    const res = await v4(server, 'GET', `/zones/${created.id}`, { token: creds.token });
    assert.deepEqual(assertOk(res, 'GET /zones/{id}'), created);
  });

  test('list contains created zones, with result_info', async () => {
    const a = await client.zones.create({ name: `list-a-${uniq()}.example.org`, account: { id: creds.account_id } });
    const b = await client.zones.create({ name: `list-b-${uniq()}.example.org`, account: { id: creds.account_id } });

    const page = await client.zones.list({ per_page: 50 });
    const ids = page.result.map((z) => z.id);
    assert.ok(ids.includes(a.id) && ids.includes(b.id), 'both zones listed');
    assert.ok(ids.indexOf(a.id) < ids.indexOf(b.id), 'creation order');
    const listedA = page.result.find((z) => z.id === a.id);
    assert.deepEqual(listedA, a, 'a listed zone equals the created one');

    const res = await v4(server, 'GET', '/zones?per_page=50', { token: creds.token });
    const result = assertOk(res, 'GET /zones');
    assert.ok(Array.isArray(result));
    const info = res.body.result_info;
    assert.deepEqual(Object.keys(info).sort(), ['count', 'page', 'per_page', 'total_count', 'total_pages']);
    assert.equal(info.page, 1);
    assert.equal(info.per_page, 50);
    assert.equal(info.count, result.length);
    assert.equal(info.total_count, result.length);
    assert.equal(info.total_pages, 1);
  });

  test('filters: name, account.id, status', async () => {
    const name = `filter-${uniq()}.example.com`;
    const zone = await client.zones.create({ name, account: { id: creds.account_id } });
    const other = await freshAccount('filter-other');

    const byName = await client.zones.list({ name });
    assert.deepEqual(byName.result.map((z) => z.id), [zone.id], 'name filter');
    assert.equal(byName.result_info.total_count, 1);

    const noSuchName = await client.zones.list({ name: `absent-${uniq()}.example.com` });
    assert.deepEqual(noSuchName.result, []);
    assert.equal(noSuchName.result_info.total_count, 0);

    const own = await listAllZones(server, creds.token, `account.id=${creds.account_id}`);
    const all = await listAllZones(server, creds.token);
    assert.ok(own.some((z) => z.id === zone.id), 'account.id filter keeps own zones');
    assert.deepEqual(own.map((z) => z.id), all.map((z) => z.id), 'every zone of the token is in its account');

    const foreign = await client.zones.list({ account: { id: other.account.id } });
    assert.deepEqual(foreign.result, [], 'account.id of an account the token cannot see → empty');

    const active = await listAllZones(server, creds.token, 'status=active');
    assert.deepEqual(active.map((z) => z.id), all.map((z) => z.id), 'every zone is active');
    const pending = await client.zones.list({ status: 'pending' });
    assert.deepEqual(pending.result, [], 'status=pending → none');

    const combined = await client.zones.list({ name, account: { id: creds.account_id }, status: 'active' });
    assert.deepEqual(combined.result.map((z) => z.id), [zone.id], 'filters combine');
  });

  test('delete returns {id}; the zone is gone afterwards', async () => {
    const zone = await client.zones.create({ name: `del-${uniq()}.example.com`, account: { id: creds.account_id } });
    const deleted = await client.zones.delete({ zone_id: zone.id });
    assert.deepEqual(deleted, { id: zone.id });

    const err = await expectSdkError(client.zones.get({ zone_id: zone.id }), 400, [7003, 7000], 'GET deleted zone');
    assert.ok(err.errors[0].message.includes(zone.id));
    assertZoneNotFound(await v4(server, 'GET', `/zones/${zone.id}`, { token: creds.token }), zone.id, 'GET deleted zone');

    const listed = await client.zones.list({ name: zone.name });
    assert.deepEqual(listed.result, [], 'deleted zone not listed');

    assertZoneNotFound(await v4(server, 'DELETE', `/zones/${zone.id}`, { token: creds.token }), zone.id, 'DELETE twice');

    // The name is free again.
    const again = await client.zones.create({ name: zone.name, account: { id: creds.account_id } });
    assert.notEqual(again.id, zone.id, 'a re-created zone gets a new id');
  });

  test('get/delete of a random unknown id → 400 7003/7000', async () => {
    const id = randomId();
    await expectSdkError(client.zones.get({ zone_id: id }), 400, [7003, 7000], 'GET unknown');
    await expectSdkError(client.zones.delete({ zone_id: id }), 400, [7003, 7000], 'DELETE unknown');
  });

  test('legacy X-Auth-Email/X-Auth-Key client does CRUD too', async () => {
    const legacy = legacyClient(server, creds.user_email, creds.api_key);
    const zone = await legacy.zones.create({ name: `legacy-${uniq()}.example.com`, account: { id: creds.account_id } });
    assert.match(zone.id, HEX32);
    assert.deepEqual(await legacy.zones.get({ zone_id: zone.id }), zone);
    const listed = await legacy.zones.list({ name: zone.name });
    assert.deepEqual(listed.result.map((z) => z.id), [zone.id]);
    assert.deepEqual(await legacy.zones.delete({ zone_id: zone.id }), { id: zone.id });
    await expectSdkError(legacy.zones.get({ zone_id: zone.id }), 400, [7003, 7000], 'GET after legacy delete');
  });

  describe('pagination over 25 zones', () => {
    let acct;
    const created = [];

    before(async () => {
      acct = await freshAccount('paging');
      for (let i = 0; i < 25; i++) {
        const z = await acct.client.zones.create({
          name: `page-${String(i).padStart(2, '0')}-${uniq()}.example.com`,
          account: { id: acct.account.id },
        });
        created.push(z);
      }
    });

    test('per_page 10 → 3 pages, total_count 25, creation order, no duplicates', async () => {
      const seen = [];
      const expectedCounts = [10, 10, 5];
      for (let page = 1; page <= 3; page++) {
        const res = await v4(server, 'GET', `/zones?per_page=10&page=${page}`, { token: acct.token });
        const result = assertOk(res, `page ${page}`);
        assert.deepEqual(res.body.result_info, {
          page,
          per_page: 10,
          count: expectedCounts[page - 1],
          total_count: 25,
          total_pages: 3,
        });
        assert.equal(result.length, expectedCounts[page - 1]);
        seen.push(...result.map((z) => z.id));
      }
      assert.equal(new Set(seen).size, 25, 'no duplicates');
      assert.deepEqual(seen, created.map((z) => z.id), 'creation order');
    });

    test('default per_page is 20', async () => {
      const res = await v4(server, 'GET', '/zones', { token: acct.token });
      const result = assertOk(res, 'GET /zones default');
      assert.equal(result.length, 20);
      assert.deepEqual(res.body.result_info, { page: 1, per_page: 20, count: 20, total_count: 25, total_pages: 2 });
      assert.deepEqual(result.map((z) => z.id), created.slice(0, 20).map((z) => z.id));
      const res2 = await v4(server, 'GET', '/zones?page=2', { token: acct.token });
      assert.deepEqual(assertOk(res2, 'page 2').map((z) => z.id), created.slice(20).map((z) => z.id));
      assert.deepEqual(res2.body.result_info, { page: 2, per_page: 20, count: 5, total_count: 25, total_pages: 2 });
    });

    test('per_page 50 (the maximum) returns all on one page', async () => {
      const res = await v4(server, 'GET', '/zones?per_page=50', { token: acct.token });
      assert.deepEqual(assertOk(res, 'per_page=50').map((z) => z.id), created.map((z) => z.id));
      assert.deepEqual(res.body.result_info, { page: 1, per_page: 50, count: 25, total_count: 25, total_pages: 1 });
    });

    test('SDK auto-pagination (for await) yields all 25 once, in order', async () => {
      const ids = [];
      for await (const zone of acct.client.zones.list({ per_page: 10 })) {
        ids.push(zone.id);
        if (ids.length > 100) assert.fail('auto-pagination does not terminate');
      }
      assert.deepEqual(ids, created.map((z) => z.id));

      const pages = [];
      for await (const page of (await acct.client.zones.list({ per_page: 10 })).iterPages()) {
        pages.push(page.result.length);
        if (pages.length > 10) assert.fail('iterPages does not terminate');
      }
      assert.deepEqual(pages, [10, 10, 5, 0], 'pages as the SDK walks them (stops at the empty page)');
    });

    test('page past the end → empty result, success', async () => {
      for (const page of [4, 1000]) {
        const res = await v4(server, 'GET', `/zones?per_page=10&page=${page}`, { token: acct.token });
        assert.deepEqual(assertOk(res, `page ${page}`), []);
        assert.deepEqual(res.body.result_info, { page, per_page: 10, count: 0, total_count: 25, total_pages: 3 });
      }
    });

    test('name filter within the paged account', async () => {
      const target = created[17];
      const res = await v4(server, 'GET', `/zones?name=${target.name}&per_page=10`, { token: acct.token });
      assert.deepEqual(assertOk(res, 'name filter').map((z) => z.id), [target.id]);
      assert.deepEqual(res.body.result_info, { page: 1, per_page: 10, count: 1, total_count: 1, total_pages: 1 });
    });
  });

  describe('duplicate names', () => {
    test('same name twice in one account → 400 naming the name; nothing created', async () => {
      const name = `dup-${uniq()}.example.com`;
      const first = await client.zones.create({ name, account: { id: creds.account_id } });

      for (const attempt of [name, name.toUpperCase()]) {
        const res = await v4(server, 'POST', '/zones', { token: creds.token, json: { name: attempt, account: { id: creds.account_id } } });
        assert.equal(res.status, 400, `duplicate ${attempt}: ${res.text}`);
        assert.equal(res.body.success, false);
        assert.equal(res.body.result, null);
        assert.ok(res.body.errors.length >= 1);
        assert.ok(
          res.body.errors.some((e) => e.message.includes(name)),
          `message should name ${name}: ${res.text}`,
        );
        await expectSdkError(client.zones.create({ name: attempt, account: { id: creds.account_id } }), 400, res.body.errors.map((e) => e.code), 'SDK duplicate');
      }

      const listed = await client.zones.list({ name });
      assert.deepEqual(listed.result.map((z) => z.id), [first.id], 'still exactly one zone with that name');
    });

    test('12 concurrent creations of one name → exactly one succeeds', async () => {
      const name = `race-${uniq()}.example.com`;
      const results = await Promise.all(
        Array.from({ length: 12 }, () =>
          v4(server, 'POST', '/zones', { token: creds.token, json: { name, account: { id: creds.account_id } } }),
        ),
      );
      const ok = results.filter((r) => r.status === 200);
      assert.equal(ok.length, 1, `statuses: ${results.map((r) => r.status).join(',')}`);
      for (const r of results.filter((x) => x.status !== 200)) {
        assert.equal(r.status, 400, `a losing duplicate: ${r.text}`);
        assert.equal(r.body.success, false);
        assert.ok(r.body.errors.some((e) => e.message.includes(name)), `message should name ${name}: ${r.text}`);
      }
      const listed = await client.zones.list({ name });
      assert.deepEqual(listed.result.map((z) => z.id), [ok[0].body.result.id]);
    });

    test('the same name in another account is fine', async () => {
      const name = `shared-${uniq()}.example.com`;
      const mine = await client.zones.create({ name, account: { id: creds.account_id } });
      const other = await freshAccount('dup-other');
      const theirs = await other.client.zones.create({ name, account: { id: other.account.id } });
      assert.notEqual(theirs.id, mine.id);
      assert.equal(theirs.name, name);
      assert.equal(theirs.account.id, other.account.id);
      assert.equal(mine.account.id, creds.account_id);

      assert.deepEqual((await client.zones.list({ name })).result.map((z) => z.id), [mine.id]);
      assert.deepEqual((await other.client.zones.list({ name })).result.map((z) => z.id), [theirs.id]);
    });
  });
});
