// Operations: /healthz, /metrics, X-Request-Id, request logs (one line per request, no
// secrets), --log-format json, and the per-token rate limit.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertErr,
  assertOk,
  cleanup,
  createToken,
  createZoneRaw,
  expectSdkError,
  Cloudflare,
  makeInitialisedDir,
  randomId,
  request,
  startServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
} from './harness.mjs';

/** Parses Prometheus text exposition into [{ name, labels, value }] (comments skipped). */
function parsePrometheus(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[2])) !== null) labels[lm[1]] = lm[2];
    }
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `bad sample value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}

async function getMetrics(server) {
  const res = await request(server, 'GET', '/metrics');
  assert.equal(res.status, 200, `/metrics: ${res.text}`);
  assert.match(res.headers.get('content-type') || '', /^text\/plain\b/, '/metrics Content-Type');
  return { text: res.text, samples: parsePrometheus(res.text) };
}

/** Sum of tlsward_http_requests_total samples matching status and a route predicate. */
function requestCount(samples, status, routeMatch = () => true) {
  return samples
    .filter((s) => s.name === 'tlsward_http_requests_total' && s.labels.status === String(status) && routeMatch(s.labels.route))
    .reduce((a, s) => a + s.value, 0);
}

/** Every scalar value of a JSON value, however nested. */
function leafValues(v) {
  if (v === null || typeof v !== 'object') return [v];
  return Object.values(v).flatMap(leafValues);
}

/** The stderr lines that contain `needle`. */
const linesWith = (server, needle) => server.stderr().split('\n').filter((l) => l.includes(needle));

describe('ops', () => {
  let root;
  let dir;
  let creds;
  let server;
  let tokenId; // id of the init token

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir);
    tokenId = assertOk(await v4(server, 'GET', '/user/tokens/verify', { token: creds.token }), 'verify').id;
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  test('GET /healthz (no auth) → 200 {"status":"ok"}', async () => {
    const res = await request(server, 'GET', '/healthz');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') || '', /^application\/json\b/);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  test('GET /metrics (no auth): request counter by route and status, latency histogram, no secrets', async () => {
    const extra = await createToken(dir, creds.account_id, ['zone:write']);
    for (let i = 0; i < 3; i++) assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'GET /zones');
    assertOk(await v4(server, 'GET', '/zones', { token: extra.token }), 'GET /zones (extra)');
    assertOk(await v4(server, 'GET', '/zones', { email: creds.user_email, key: creds.api_key }), 'GET /zones (legacy)');
    assertErr(await v4(server, 'GET', `/zones/${randomId()}`, { token: creds.token }), 400, [7003, 7000]);
    assertErr(await v4(server, 'GET', '/zones'), 400, [9106]);

    const { text, samples } = await getMetrics(server);
    assert.ok(text.includes('tlsward_http_requests_total{'), 'tlsward_http_requests_total{ missing');
    assert.ok(text.includes('tlsward_http_request_duration_seconds_bucket{'), 'duration histogram missing');

    const reqs = samples.filter((s) => s.name === 'tlsward_http_requests_total');
    for (const s of reqs) {
      assert.ok('route' in s.labels && 'status' in s.labels, `labels route and status expected: ${JSON.stringify(s)}`);
      assert.match(s.labels.status, /^\d{3}$/);
    }
    const zones200 = requestCount(samples, 200, (r) => /zones/.test(r));
    assert.ok(zones200 >= 5, `at least 5 zone requests with status 200 counted, saw ${zones200}`);
    assert.ok(requestCount(samples, 400) >= 2, 'the two 400s are counted');

    // The counter moves.
    for (let i = 0; i < 2; i++) assertOk(await v4(server, 'GET', '/zones', { token: creds.token }));
    const later = (await getMetrics(server)).samples;
    assert.ok(requestCount(later, 200, (r) => /zones/.test(r)) >= zones200 + 2, 'counter increases');

    // Histogram consistency: per series, cumulative buckets up to +Inf == _count, and a _sum.
    const buckets = samples.filter((s) => s.name === 'tlsward_http_request_duration_seconds_bucket');
    const series = new Map();
    for (const b of buckets) {
      assert.ok('le' in b.labels, `bucket without le: ${JSON.stringify(b)}`);
      const { le, ...rest } = b.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (!series.has(key)) series.set(key, []);
      series.get(key).push({ le: le === '+Inf' ? Infinity : Number(le), value: b.value });
    }
    assert.ok(series.size >= 1, 'no histogram series');
    for (const [key, bs] of series) {
      bs.sort((a, b) => a.le - b.le);
      assert.equal(bs.at(-1).le, Infinity, `series ${key} lacks le="+Inf"`);
      for (let i = 1; i < bs.length; i++) assert.ok(bs[i].value >= bs[i - 1].value, `buckets of ${key} are not cumulative`);
      const labels = Object.fromEntries(JSON.parse(key));
      const same = (s) => JSON.stringify(Object.entries(s.labels).sort()) === key;
      const count = samples.find((s) => s.name === 'tlsward_http_request_duration_seconds_count' && same(s));
      const sum = samples.find((s) => s.name === 'tlsward_http_request_duration_seconds_sum' && same(s));
      assert.ok(count, `_count missing for ${JSON.stringify(labels)}`);
      assert.ok(sum, `_sum missing for ${JSON.stringify(labels)}`);
      assert.equal(count.value, bs.at(-1).value, `+Inf bucket != _count for ${JSON.stringify(labels)}`);
    }

    for (const [label, secret] of [
      ['init token secret', creds.token],
      ['init token id', tokenId],
      ['extra token secret', extra.token],
      ['extra token id', extra.id],
      ['global API key', creds.api_key],
    ]) {
      assert.ok(!text.includes(secret), `/metrics contains the ${label}`);
    }
  });

  test('X-Request-Id on every response, unique', async () => {
    const calls = [
      () => v4(server, 'GET', '/zones', { token: creds.token }),
      () => v4(server, 'GET', `/zones/${randomId()}`, { token: creds.token }),
      () => v4(server, 'GET', '/zones'),
      () => v4(server, 'GET', '/zones', { token: `bad${uniq()}` }),
      () => v4(server, 'GET', '/zones', { headers: { Authorization: 'Basic abc' } }),
      () => v4(server, 'GET', '/nope', { token: creds.token }),
      () => v4(server, 'PUT', '/zones', { token: creds.token, json: {} }),
      () => v4(server, 'POST', '/zones', { token: creds.token, body: '{' }),
      () => v4(server, 'GET', '/user/tokens/verify', { token: creds.token }),
      () => request(server, 'GET', '/healthz'),
      () => request(server, 'GET', '/metrics'),
    ];
    const ids = [];
    for (let round = 0; round < 2; round++) {
      for (const call of calls) {
        const res = await call();
        const rid = res.headers.get('x-request-id');
        assert.ok(rid && rid.trim().length > 0, `X-Request-Id missing (HTTP ${res.status} ${res.text.slice(0, 200)})`);
        ids.push(rid);
      }
    }
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => v4(server, 'GET', '/zones', { token: creds.token })),
    );
    ids.push(...concurrent.map((r) => r.headers.get('x-request-id')));
    assert.equal(new Set(ids).size, ids.length, `request ids are not unique: ${ids.join(' ')}`);
  });

  test('one log line per request (request id, method, status, token id); never a secret', async () => {
    const legacy = await v4(server, 'GET', '/zones', { email: creds.user_email, key: creds.api_key });
    assertOk(legacy);
    const bearer = await v4(server, 'GET', '/zones', { token: creds.token });
    assertOk(bearer);
    const zone = await createZoneRaw(server, creds.token, `logged-${uniq()}.example.com`, creds.account_id);
    assert.ok(zone.id);
    const wrongSecret = `wrongsecret${uniq()}${uniq()}`;
    const refused = await v4(server, 'GET', '/zones', { token: wrongSecret });
    assertErr(refused, 403, [9109]);
    const wrongKey = `wrongkey${uniq()}${uniq()}`;
    const refusedLegacy = await v4(server, 'GET', '/zones', { email: creds.user_email, key: wrongKey });
    assertErr(refusedLegacy, 403, [9103]);

    const expectations = [
      [legacy, 'GET', '200'],
      [bearer, 'GET', '200'],
      [refused, 'GET', '403'],
      [refusedLegacy, 'GET', '403'],
    ];
    for (const [res, method, status] of expectations) {
      const rid = res.headers.get('x-request-id');
      const lines = await waitFor(() => {
        const l = linesWith(server, rid);
        return l.length > 0 ? l : null;
      }, { timeout: 5000, interval: 50, what: `a log line with request id ${rid}` });
      assert.equal(lines.length, 1, `exactly one log line per request id ${rid}: ${JSON.stringify(lines)}`);
      assert.ok(lines[0].includes(method), `log line lacks the method: ${lines[0]}`);
      assert.ok(lines[0].includes(status), `log line lacks the status ${status}: ${lines[0]}`);
    }
    const bearerLine = linesWith(server, bearer.headers.get('x-request-id'))[0];
    assert.ok(bearerLine.includes(tokenId), `the log line of a bearer request names the token id: ${bearerLine}`);

    const log = server.stderr();
    for (const [label, secret] of [
      ['bearer token', creds.token],
      ['global API key', creds.api_key],
      ['refused bearer secret', wrongSecret],
      ['refused global key', wrongKey],
    ]) {
      assert.ok(!log.includes(secret), `the server log contains the ${label}`);
    }
  });
});

describe('ops: --log-format json', () => {
  let root;
  let creds;
  let server;

  before(async () => {
    let dir;
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir, ['--log-format', 'json']);
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  test('stderr is JSON lines, one object per request', async () => {
    const responses = [
      await v4(server, 'GET', '/zones', { token: creds.token }),
      await v4(server, 'GET', `/zones/${randomId()}`, { token: creds.token }),
      await v4(server, 'GET', '/zones'),
    ];
    assert.deepEqual(responses.map((r) => r.status), [200, 400, 400]);
    for (const res of responses) {
      const rid = res.headers.get('x-request-id');
      await waitFor(() => linesWith(server, rid).length > 0, { timeout: 5000, interval: 50, what: `log of ${rid}` });
      const lines = linesWith(server, rid);
      assert.equal(lines.length, 1, `one line for ${rid}`);
      const obj = JSON.parse(lines[0]);
      assert.ok(obj && typeof obj === 'object' && !Array.isArray(obj), `not a JSON object: ${lines[0]}`);
      const values = leafValues(obj).map(String);
      assert.ok(values.includes(rid), `request id as a field value: ${lines[0]}`);
      assert.ok(values.includes(String(res.status)), `status ${res.status} as a field value: ${lines[0]}`);
    }
    const all = server.stderr().split('\n').filter((l) => l.trim() !== '');
    assert.ok(all.length >= 4, 'start-up line plus request lines');
    for (const line of all) {
      let obj;
      assert.doesNotThrow(() => {
        obj = JSON.parse(line);
      }, `not JSON: ${line}`);
      assert.ok(obj && typeof obj === 'object' && !Array.isArray(obj), `not a JSON object: ${line}`);
    }
    assert.ok(!server.stderr().includes(creds.token), 'token in the JSON log');
  });
});

describe('ops: rate limit 5/1m', () => {
  let root;
  let dir;
  let creds;
  let server;

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir, ['--rate-limit', '5/1m']);
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  test('the 6th request of a token → 429 971 with Retry-After; another token is not limited', async () => {
    const other = await createToken(dir, creds.account_id, ['zone:read']);
    for (let i = 1; i <= 5; i++) {
      assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), `request ${i} of 5`);
    }
    const res = await v4(server, 'GET', '/zones', { token: creds.token });
    const errors = assertErr(res, 429, [971], '6th request');
    assert.equal(errors[0].message, 'Please wait and consider throttling your request speed');
    const retryAfter = res.headers.get('retry-after');
    assert.match(retryAfter || '', /^\d+$/, `Retry-After must be integer seconds: ${retryAfter}`);
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter} within the 1 min window`);

    // Still limited, also through the SDK (RateLimitError, no retries).
    const err = await expectSdkError(tokenClient(server, creds.token).zones.list(), 429, [971], 'SDK 7th request');
    assert.ok(err instanceof Cloudflare.RateLimitError);
    assert.match(err.headers.get('retry-after') || '', /^\d+$/);

    // Another token has its own budget.
    for (let i = 1; i <= 3; i++) {
      assertOk(await v4(server, 'GET', '/zones', { token: other.token }), `other token request ${i}`);
    }
    // Unauthenticated operations endpoints stay reachable.
    assert.equal((await request(server, 'GET', '/healthz')).status, 200);
  });
});
