// Bad input: malformed JSON, wrong types, missing fields, invalid zone names, bodies over
// 1 MiB, invalid query parameters. Every case is a 4xx with a reason naming the field, and is
// followed by a check that nothing changed. Then text safety (invalid UTF-8 and control bytes
// in paths, headers and bodies: errors kept, log lines intact) and bodies left unread until
// the credentials are accepted.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertErr,
  assertOk,
  cleanup,
  createZoneRaw,
  listAllZones,
  makeInitialisedDir,
  createToken,
  randomId,
  rawHttp,
  rawSocketRequest,
  sleep,
  startServer,
  stopServerExpectClean,
  uniq,
  v4,
  waitFor,
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

    test('the size is checked with the body, after the object: 2 MiB PATCH of an unknown pack → 404, of a known setting → 413', async () => {
      const headers = { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' };
      const zone = assertOk(await v4(server, 'POST', '/zones', { token: creds.token, json: { name: `order-${uniq()}.example.com`, account: { id: creds.account_id } } }), 'zone');
      const unknownPack = `/client/v4/zones/${zone.id}/ssl/certificate_packs/${'0'.repeat(32)}`;
      assertErr(await rawHttp(server, 'PATCH', unknownPack, { headers, body: bigBody() }), 404, [1472], '2 MiB PATCH of an unknown pack');
      const setting = `/client/v4/zones/${zone.id}/settings/ssl_automatic_mode`;
      assertErr(await rawHttp(server, 'PATCH', setting, { headers, body: bigBody() }), 413, [10413], '2 MiB PATCH of a setting');
      assertOk(await v4(server, 'DELETE', `/zones/${zone.id}`, { token: creds.token }), 'clean-up DELETE');
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

// ------------------------------------------------------------------------------------------
// Text safety: invalid UTF-8 and control bytes from a path, a header or a body never lose the
// error (success:false always with at least one error, its message valid UTF-8 on one line),
// never drop a JSON log line and never forge a text log line.

/** Asserts a 4xx envelope failure whose raw bytes are valid UTF-8 with ≥ 1 clean message. */
function assertCleanFailure(res, what) {
  assert.ok(res.status >= 400 && res.status < 500, `${what}: HTTP ${res.status} ${res.text}`);
  const text = new TextDecoder('utf-8', { fatal: true }).decode(res.bytes); // throws on invalid UTF-8
  const body = JSON.parse(text);
  assert.equal(body.success, false, `${what}: success`);
  assert.equal(body.result, null, `${what}: result`);
  assert.ok(Array.isArray(body.errors) && body.errors.length >= 1, `${what}: success:false needs at least one error: ${text}`);
  for (const e of body.errors) {
    assert.equal(typeof e.code, 'number', `${what}: error code`);
    assert.ok(typeof e.message === 'string' && e.message.length > 0, `${what}: error message`);
    assert.doesNotMatch(e.message, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/, `${what}: message ${JSON.stringify(e.message)}`);
  }
  return body.errors;
}

/** The raw bytes of one request (Connection: close, so the log line is written at once). */
function rawRequest(method, target, headers = [], body) {
  const parts = [Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(target) ? target : Buffer.from(target, 'latin1'), Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n', 'latin1')];
  for (const h of headers) parts.push(Buffer.isBuffer(h) ? h : Buffer.from(h, 'latin1'), Buffer.from('\r\n'));
  if (body !== undefined) parts.push(Buffer.from(`Content-Type: application/json\r\nContent-Length: ${body.length}\r\n`, 'latin1'));
  parts.push(Buffer.from('\r\n'));
  if (body !== undefined) parts.push(body);
  return Buffer.concat(parts);
}

describe('text safety of errors and log lines', () => {
  let root;
  let dir;
  let creds;
  let zoneId;

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
  });

  after(async () => {
    await cleanup(root);
  });

  const FORGED = '2026-12-05T00:00:00Z info request GET /forged route=/forged status=200 us=1 id=0 token=-';

  /** The hostile requests, each [label, raw bytes]. */
  const hostile = () => {
    const auth = `Authorization: Bearer ${creds.token}`;
    const cc = `/client/v4/zones/${zoneId}/client_certificates`;
    const acct = creds.account_id;
    return [
      ['%ff in a path segment', rawRequest('GET', `${cc}/%ff`, [auth])],
      ['%00 in a path segment', rawRequest('GET', '/client/v4/zones/%00', [auth])],
      ['%0a + a forged line in the path', rawRequest('GET', `/client/v4/zones/x%0a${encodeURIComponent(FORGED)}`, [auth])],
      ['%0d%0a in the path', rawRequest('GET', `${cc}/a%0d%0a${encodeURIComponent(FORGED)}`, [auth])],
      ['overlong, surrogate and truncated UTF-8 in the path', rawRequest('GET', `${cc}/%c0%af%ed%a0%80%e2%82`, [auth])],
      ['raw bytes 0xff 0x01 0x7f in the path', rawRequest('GET', Buffer.concat([Buffer.from(`${cc}/`), Buffer.from([0xff, 0x01, 0x7f])]), [auth])],
      ['U+2028 and U+0085 in the path', rawRequest('GET', `${cc}/a%e2%80%a8b%c2%85c`, [auth])],
      ['invalid UTF-8 in the Authorization header', rawRequest('GET', '/client/v4/zones', [Buffer.from([...Buffer.from('Authorization: Bearer '), 0xff, 0xfe, 0x80])])],
      ['invalid UTF-8 and a control byte in X-Auth-Email', rawRequest('GET', '/client/v4/zones', [Buffer.from([...Buffer.from('X-Auth-Email: a'), 0xff, 0x01, 0x62]), 'X-Auth-Key: 0123'])],
      ['%ff%0a in a query value', rawRequest('GET', '/client/v4/zones?per_page=%ff%0a', [auth])],
      ['invalid UTF-8 in a JSON body field', rawRequest('POST', '/client/v4/zones', [auth], Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe, 0x0a, 0xc0, 0xaf]), Buffer.from(`.example.com","account":{"id":"${acct}"}}`)]))],
      ['escaped newline and C1 control in a JSON body field', rawRequest('POST', '/client/v4/zones', [auth], Buffer.from(`{"name":"a\\n${FORGED}\\u0085.example.com","account":{"id":"${acct}"}}`))],
      ['raw control byte in a JSON body', rawRequest('POST', '/client/v4/zones', [auth], Buffer.from(`{"name":"a\u0001\u001b[31m.example.com","account":{"id":"${acct}"}}`, 'latin1'))],
      ['invalid UTF-8 in a client certificate CSR', rawRequest('POST', cc, [auth], Buffer.concat([Buffer.from('{"csr":"-----BEGIN CERTIFICATE REQUEST-----\\n'), Buffer.from([0xff, 0x80]), Buffer.from('\\n-----END CERTIFICATE REQUEST-----\\n"}')]))],
    ];
  };

  /**
   * Runs every hostile request against a fresh server; returns { stderr (after a clean stop),
   * requests (how many requests the server got) }.
   */
  async function runAll(extraArgs) {
    const server = await startServer(dir, extraArgs);
    let stopped = false;
    try {
      let requests = hostile().length;
      if (!zoneId) {
        zoneId = (await createZoneRaw(server, creds.token, `text-${uniq()}.example.com`, creds.account_id)).id;
        requests += 1;
      }
      for (const [label, bytes] of hostile()) assertCleanFailure(await rawSocketRequest(server, bytes), label);
      await stopServerExpectClean(server);
      stopped = true;
      return { stderr: server.stderr(), requests };
    } finally {
      if (!stopped) await stopServerExpectClean(server).catch(() => {});
    }
  }

  test('--log-format json: every error is kept and every stderr line is one JSON object', async () => {
    const { stderr, requests: sent } = await runAll(['--log-format', 'json']);
    const lines = stderr.split('\n').filter((l) => l.length > 0);
    const parsed = lines.map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        return assert.fail(`stderr line ${i + 1} is not JSON: ${JSON.stringify(l)}`);
      }
    });
    const requests = parsed.filter((o) => o.method !== undefined);
    // One line per request, none dropped.
    assert.equal(requests.length, sent, `request lines: ${JSON.stringify(requests.map((o) => o.path))}`);
    const forged = requests.find((o) => o.path.includes('forged'));
    assert.ok(forged && forged.path.includes('\\x0a'), `the newline in the path is escaped: ${JSON.stringify(forged)}`);
    for (const o of requests) assert.doesNotMatch(o.path, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/, `log path ${JSON.stringify(o.path)}`);
  });

  test('text log: one line per request, no forged line', async () => {
    const { stderr, requests: sent } = await runAll([]);
    const lines = stderr.split('\n').filter((l) => l.length > 0);
    for (const l of lines) assert.match(l, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z (debug|info|warn|error) /, `a log line that is not one of ours: ${JSON.stringify(l)}`);
    const requests = lines.filter((l) => / info request /.test(l));
    assert.equal(requests.length, sent, `request lines:\n${requests.join('\n')}`);
    assert.ok(!lines.some((l) => l.startsWith('2026-12-05T00:00:00Z')), 'a forged line reached the log');
    for (const l of requests) assert.doesNotMatch(l, /[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffd]/, `log line ${JSON.stringify(l)}`);
  });
});

// ------------------------------------------------------------------------------------------
// Pre-authentication cost: no body is read before its credentials are accepted.

describe('bodies are read only after the credentials are accepted', () => {
  let root;
  let dir;
  let creds;
  let server;

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir);
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  const head = (auth) =>
    Buffer.from(`POST /client/v4/zones HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n`, 'latin1');

  test('bad, missing or malformed credentials with Content-Length 5000000 and no body sent → answered at once', async () => {
    for (const [label, auth, status, code] of [
      ['invalid token', 'Authorization: Bearer wrongwrongwrong\r\n', 403, 9109],
      ['no credentials', '', 400, 9106],
      ['malformed Authorization', 'Authorization: Basic abc\r\n', 400, 6003],
      ['read-only token (permission)', null, 403, 9109],
    ]) {
      let header = auth;
      if (header === null) header = `Authorization: Bearer ${(await createToken(dir, creds.account_id, ['zone:read'])).token}\r\n`;
      // The body never comes: a server waiting for it would time out (60 s), not answer.
      const res = await rawSocketRequest(server, head(header), { timeout: 15_000 });
      assertErr(res, status, [code], label);
      assert.ok(res.ms < 10_000, `${label}: answered after ${res.ms} ms`);
    }
  });

  test('with a valid token the same request is read (413 past 1 MiB), not answered on its headers', async () => {
    const net = await import('node:net');
    const sock = net.connect({ host: '127.0.0.1', port: server.port });
    let received = Buffer.alloc(0);
    let closed = false;
    sock.on('data', (d) => {
      received = Buffer.concat([received, d]);
    });
    sock.on('close', () => {
      closed = true;
    });
    sock.on('error', () => {});
    try {
      await new Promise((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      });
      sock.write(head(`Authorization: Bearer ${creds.token}\r\n`));
      await sleep(500);
      assert.equal(received.length, 0, `answered before the body was sent: ${received}`);
      const chunk = Buffer.alloc(64 * 1024, 'x');
      for (let sent = 0; sent < 5_000_000 && !closed && received.length === 0; sent += chunk.length) {
        const piece = chunk.subarray(0, Math.min(chunk.length, 5_000_000 - sent));
        if (!sock.write(piece)) await new Promise((resolve) => sock.once('drain', resolve));
      }
      await waitFor(() => received.includes('\r\n\r\n') && received.toString('latin1').includes('"success"'), { timeout: 15_000, what: 'the 413 response' });
      const text = received.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 413 /, text.slice(0, 200));
      assert.ok(text.includes('"code":10413'), text);
    } finally {
      sock.destroy();
    }
  });
});
