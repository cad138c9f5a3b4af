// Bad input: malformed JSON, wrong types, missing fields, invalid zone names, bodies over
// 1 MiB, invalid query parameters. Every case is a 4xx with a reason naming the field, and is
// followed by a check that nothing changed.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertErr,
  assertOk,
  cleanup,
  createZoneRaw,
  listAllZones,
  makeInitialisedDir,
  randomId,
  rawHttp,
  startServer,
  stopServerExpectClean,
  uniq,
  v4,
} from './harness.mjs';

/**
 * Asserts a 400 whose errors are all 1004 (at least one), and, when `field` is given, that the
 * messages name it (`field` is a string, or a RegExp for stricter matching).
 */
function assert1004(res, field, what) {
  assert.equal(res.status, 400, `${what}: HTTP status; body ${res.text}`);
  assert.ok(res.body && typeof res.body === 'object', `${what}: body is not JSON: ${res.text}`);
  const codes = res.body.errors.map((e) => e.code);
  assert.ok(codes.length >= 1 && codes.every((c) => c === 1004), `${what}: codes must be 1004: ${res.text}`);
  assertErr(res, 400, codes, what); // envelope, content-type, X-Request-Id
  if (field !== undefined) {
    const all = res.body.errors.map((e) => e.message).join(' | ');
    if (field instanceof RegExp) assert.match(all, field, `${what}: message should name ${field}`);
    else assert.ok(all.includes(field), `${what}: message should name "${field}": ${all}`);
  }
}

describe('bad input', () => {
  let root;
  let dir;
  let creds;
  let server;
  let baseline; // the full list of zones, which no bad request may change

  const snapshot = () => listAllZones(server, creds.token);
  const assertUnchanged = async (what) => {
    assert.deepEqual(await snapshot(), baseline, `${what}: the zone list changed`);
  };
  const postZones = (opts) => v4(server, 'POST', '/zones', { token: creds.token, ...opts });

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir);
    await createZoneRaw(server, creds.token, 'baseline-one.example.com', creds.account_id);
    await createZoneRaw(server, creds.token, 'baseline-two.example.com', creds.account_id);
    baseline = await snapshot();
    assert.equal(baseline.length, 2);
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  describe('POST /zones: body not JSON or not an object → 400 1004', () => {
    const bodies = {
      'empty body': '',
      'unterminated object': '{',
      'cut in the middle': '{"name":"cut.example.com","account":{"id":"',
      'trailing comma': '{"name":"comma.example.com",}',
      'single quotes': "{'name':'quotes.example.com'}",
      'plain text': 'name=text.example.com',
      'trailing garbage': '{"name":"garbage.example.com"} x',
      'two objects': '{"name":"a.example.com"}{"name":"b.example.com"}',
      null: 'null',
      array: '[]',
      string: '"two.example.com"',
      number: '42',
    };
    for (const [label, body] of Object.entries(bodies)) {
      test(label, async () => {
        assert1004(await postZones({ body }), undefined, label);
        await assertUnchanged(label);
      });
    }

    test('invalid UTF-8 inside a string', async () => {
      const body = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('.example.com"}')]);
      assert1004(await postZones({ body }), undefined, 'invalid UTF-8');
      await assertUnchanged('invalid UTF-8');
    });

    test('nesting deeper than the JSON depth limit', async () => {
      const deep = `${'['.repeat(200)}${']'.repeat(200)}`;
      const body = `{"name":"deep-${uniq()}.example.com","account":{"id":"${creds.account_id}"},"x":${deep}}`;
      assert1004(await postZones({ body }), undefined, 'depth 200');
      await assertUnchanged('depth 200');
    });
  });

  describe('POST /zones: wrong types and missing fields → 400 1004 naming the field', () => {
    const acct = () => ({ id: creds.account_id });
    const cases = [
      ['name: 5', () => ({ name: 5, account: acct() }), 'name'],
      ['name: null', () => ({ name: null, account: acct() }), 'name'],
      ['name: true', () => ({ name: true, account: acct() }), 'name'],
      ['name: array', () => ({ name: ['x.example.com'], account: acct() }), 'name'],
      ['name: object', () => ({ name: { v: 'x.example.com' }, account: acct() }), 'name'],
      ['name missing', () => ({ account: acct() }), 'name'],
      ['name empty', () => ({ name: '', account: acct() }), 'name'],
      ['account missing', () => ({ name: `acct-missing-${uniq()}.example.com` }), 'account'],
      ['account: string', () => ({ name: `acct-str-${uniq()}.example.com`, account: creds.account_id }), 'account'],
      ['account: null', () => ({ name: `acct-null-${uniq()}.example.com`, account: null }), 'account'],
      ['account: array', () => ({ name: `acct-arr-${uniq()}.example.com`, account: [creds.account_id] }), 'account'],
      ['account.id missing', () => ({ name: `id-missing-${uniq()}.example.com`, account: {} }), /account.*\bid\b|\bid\b.*account/],
      ['account.id: 5', () => ({ name: `id-num-${uniq()}.example.com`, account: { id: 5 } }), /account.*\bid\b|\bid\b.*account/],
      ['account.id: null', () => ({ name: `id-null-${uniq()}.example.com`, account: { id: null } }), /account.*\bid\b|\bid\b.*account/],
      ['type: 5', () => ({ name: `type-num-${uniq()}.example.com`, account: acct(), type: 5 }), 'type'],
      ['type: "bogus"', () => ({ name: `type-bogus-${uniq()}.example.com`, account: acct(), type: 'bogus' }), 'type'],
      ['empty object', () => ({}), undefined],
    ];
    for (const [label, makeBody, field] of cases) {
      test(label, async () => {
        const json = makeBody();
        assert1004(await postZones({ json }), field, label);
        await assertUnchanged(label);
      });
    }

    test('unknown or malformed account.id → refused, nothing created', async () => {
      for (const id of [randomId(), 'not-an-account']) {
        const res = await postZones({ json: { name: `noacct-${uniq()}.example.com`, account: { id } } });
        assert.ok([400, 403].includes(res.status), `account.id ${id}: HTTP ${res.status} ${res.text}`);
        assert.equal(res.body?.success, false, `account.id ${id}: ${res.text}`);
        assert.equal(res.body?.result, null);
        assert.ok(res.body.errors.length >= 1);
        await assertUnchanged(`account.id ${id}`);
      }
    });
  });

  describe('POST /zones: invalid zone names → 400 1004 naming name', () => {
    const names = {
      'spaces': 'not a domain',
      'leading and trailing hyphen': '-bad-.com',
      'trailing hyphen': 'bad-.example.com',
      'wildcard': '*.example.com',
      'empty label': 'a..b.com',
      'leading dot': '.example.com',
      '64-character label': `${'a'.repeat(64)}.com`,
      'over 253 characters': `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`,
      'underscore': 'under_score.example.com',
      'raw UTF-8 (not an A-label)': 'exämple.com',
      'single label': 'localhost',
      'URL': 'http://example.com',
      'path': 'example.com/path',
      'IPv4 address': '192.0.2.1',
    };
    for (const [label, name] of Object.entries(names)) {
      test(`${label}: ${JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name)}`, async () => {
        assert1004(await postZones({ json: { name, account: { id: creds.account_id } } }), 'name', label);
        await assertUnchanged(label);
      });
    }
  });

  describe('body over 1 MiB → 413 10413', () => {
    const bigBody = () => {
      const pad = 'x'.repeat(2 * 1024 * 1024);
      return Buffer.from(JSON.stringify({ name: `big-${uniq()}.example.com`, account: { id: creds.account_id }, pad }));
    };

    test('2 MiB with Content-Length', async () => {
      const res = await rawHttp(server, 'POST', '/client/v4/zones', {
        headers: { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' },
        body: bigBody(),
      });
      assertErr(res, 413, [10413], '2 MiB body');
      await assertUnchanged('2 MiB body');
    });

    test('2 MiB chunked (no Content-Length)', async () => {
      const res = await rawHttp(server, 'POST', '/client/v4/zones', {
        headers: { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' },
        body: bigBody(),
        chunked: true,
      });
      assertErr(res, 413, [10413], '2 MiB chunked body');
      await assertUnchanged('2 MiB chunked body');
    });

    test('boundary: exactly 1 MiB is accepted, 1 MiB + 1 byte is not', async () => {
      const make = (size) => {
        const name = `limit-${size}-${uniq()}.example.com`;
        const skeleton = JSON.stringify({ name, account: { id: creds.account_id }, pad: '' });
        const body = Buffer.from(JSON.stringify({ name, account: { id: creds.account_id }, pad: 'z'.repeat(size - skeleton.length) }));
        assert.equal(body.length, size);
        return { name, body };
      };
      const headers = { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' };
      const over = make(1024 * 1024 + 1);
      assertErr(await rawHttp(server, 'POST', '/client/v4/zones', { headers, body: over.body }), 413, [10413], '1 MiB + 1');
      await assertUnchanged('1 MiB + 1');

      const exact = make(1024 * 1024);
      const zone = assertOk(await rawHttp(server, 'POST', '/client/v4/zones', { headers, body: exact.body }), 'exactly 1 MiB');
      assert.equal(zone.name, exact.name);
      assertOk(await v4(server, 'DELETE', `/zones/${zone.id}`, { token: creds.token }), 'clean-up DELETE');
      await assertUnchanged('after the exact-1-MiB zone was deleted');
    });

    test('the server still answers afterwards', async () => {
      assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'GET after 413');
    });
  });

  describe('invalid query parameters on GET /zones → 400 1004 naming the parameter', () => {
    const cases = [
      ['per_page=0', 'per_page'],
      ['per_page=51', 'per_page'],
      ['per_page=1000', 'per_page'],
      ['per_page=-1', 'per_page'],
      ['per_page=abc', 'per_page'],
      ['per_page=10abc', 'per_page'],
      ['per_page=1.5', 'per_page'],
      ['page=0', /(?<!per_)page/],
      ['page=-1', /(?<!per_)page/],
      ['page=abc', /(?<!per_)page/],
      ['page=2x', /(?<!per_)page/],
      ['status=bogus', 'status'],
    ];
    for (const [query, field] of cases) {
      test(query, async () => {
        assert1004(await v4(server, 'GET', `/zones?${query}`, { token: creds.token }), field, query);
        await assertUnchanged(query);
      });
    }

    test('page=99999999999999999999999 (overflow) → 400 1004 naming page, or an empty page', async () => {
      const res = await v4(server, 'GET', '/zones?page=99999999999999999999999', { token: creds.token });
      if (res.status === 400) assert1004(res, /(?<!per_)page/, 'page overflow');
      else assert.deepEqual(assertOk(res, 'page overflow'), []);
      assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'GET after overflow');
      await assertUnchanged('page overflow');
    });

    test('boundaries per_page=1 and per_page=50 are accepted', async () => {
      const one = await v4(server, 'GET', '/zones?per_page=1', { token: creds.token });
      assert.deepEqual(assertOk(one, 'per_page=1').map((z) => z.id), [baseline[0].id]);
      assert.deepEqual(one.body.result_info, { page: 1, per_page: 1, count: 1, total_count: 2, total_pages: 2 });
      const fifty = await v4(server, 'GET', '/zones?per_page=50', { token: creds.token });
      assert.equal(assertOk(fifty, 'per_page=50').length, 2);
    });
  });

  // Runs last: these succeed and so change the zone list.
  describe('valid edge cases are accepted (controls for the rejections above)', () => {
    test('63-character label, 253-character name, A-label, unknown fields, ~900 KiB body', async () => {
      const long63 = `${'a'.repeat(63)}.example.com`;
      const name253 = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;
      assert.equal(name253.length, 253);
      const created = [];
      for (const name of [long63, name253, 'xn--bcher-kva.example.com']) {
        const z = await createZoneRaw(server, creds.token, name, creds.account_id);
        assert.equal(z.name, name);
        created.push(z);
      }
      const withExtra = await postZones({
        json: { name: `extra-${uniq()}.example.com`, account: { id: creds.account_id }, unknown_field: { nested: [1, 2] } },
      });
      created.push(assertOk(withExtra, 'unknown fields are ignored'));

      const pad = 'y'.repeat(900 * 1024);
      const big = await rawHttp(server, 'POST', '/client/v4/zones', {
        headers: { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' },
        body: Buffer.from(JSON.stringify({ name: `padded-${uniq()}.example.com`, account: { id: creds.account_id }, pad })),
      });
      created.push(assertOk(big, '~900 KiB body under the 1 MiB limit'));

      const after = await snapshot();
      assert.deepEqual(after.map((z) => z.id), [...baseline, ...created].map((z) => z.id));
    });
  });
});
