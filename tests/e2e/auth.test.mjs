// Authentication and authorisation: token verify (valid, revoked, expired, unknown), the
// error table (no/malformed credentials, bad tokens, bad legacy pairs, missing permissions,
// invisible zones, unknown routes, wrong methods), legacy auth, read-only, zone-scoped and
// other-account tokens, CLI changes taking effect on a running server, and the limit on
// failed authentications per client address (--auth-fail-limit).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Cloudflare,
  HEX32,
  MSG,
  RFC3339_Z,
  assertErr,
  assertOk,
  assertZoneNotFound,
  cleanup,
  createAccount,
  createToken,
  createZoneRaw,
  expectSdkError,
  getZoneRaw,
  legacyClient,
  listAllZones,
  makeInitialisedDir,
  randomId,
  revokeToken,
  request,
  runCli,
  sleep,
  startServer,
  stopAllClean,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
  waitFor,
} from './harness.mjs';

/** Replaces every occurrence of each id by a placeholder, for byte comparisons. */
function maskIds(text, ids) {
  let out = text;
  for (const id of ids) out = out.split(id).join('<ZONE_ID>');
  return out;
}

/**
 * The permission-denied message: Cloudflare's text, optionally followed by the object at
 * fault (SPEC §3: "the message always names the field, header or object at fault").
 */
function assertUnauthorizedMessage(message) {
  assert.ok(
    message === MSG.unauthorized || message.startsWith(`${MSG.unauthorized}:`),
    `expected "${MSG.unauthorized}[: <object>]", got "${message}"`,
  );
}

/** Asserts that a token is refused on a resource route as unknown/revoked/expired. */
async function assertInvalidAccessToken(server, token, what) {
  const errors = assertErr(await v4(server, 'GET', '/zones', { token }), 403, [9109], what);
  assert.equal(errors[0].message, MSG.invalidAccessToken, `${what}: message`);
}

/** Asserts the verify route answers 401/1000 for a token. */
async function assertVerifyInvalid(server, token, what) {
  const errors = assertErr(await v4(server, 'GET', '/user/tokens/verify', { token }), 401, [1000], what);
  assert.equal(errors[0].message, MSG.invalidApiToken, `${what}: message`);
}

describe('auth', () => {
  let root;
  let dir;
  let creds;
  let server;
  let admin; // SDK client on the init token
  let z1;
  let z2;

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
    server = await startServer(dir);
    admin = tokenClient(server, creds.token);
    z1 = await createZoneRaw(server, creds.token, `z1-${uniq()}.example.com`, creds.account_id);
    z2 = await createZoneRaw(server, creds.token, `z2-${uniq()}.example.com`, creds.account_id);
  });

  after(async () => {
    try {
      if (server) await stopServerExpectClean(server);
    } finally {
      await cleanup(root);
    }
  });

  /** Asserts the zone still exists, seen by the admin token. */
  async function assertZoneExists(zone, what) {
    const got = assertOk(await getZoneRaw(server, creds.token, zone.id), `${what}: zone still there`);
    assert.equal(got.id, zone.id);
    assert.equal(got.name, zone.name);
  }

  /** Asserts no zone of that name exists in the Default account. */
  async function assertNoZoneNamed(name, what) {
    const res = await v4(server, 'GET', `/zones?name=${name}`, { token: creds.token });
    assert.deepEqual(assertOk(res, what), [], `${what}: no zone ${name} may exist`);
  }

  describe('GET /user/tokens/verify', () => {
    test('valid token → 200 {id, status:"active"} and message 10000', async () => {
      const tok = await createToken(dir, creds.account_id, ['zone:read']);
      assert.match(tok.id, HEX32, 'token ids are 32 hex');
      const res = await v4(server, 'GET', '/user/tokens/verify', { token: tok.token });
      const result = assertOk(res, 'verify');
      assert.deepEqual(result, { id: tok.id, status: 'active' });
      assert.ok(
        res.body.messages.some((m) => m.code === 10000 && m.message === MSG.tokenValid),
        `messages must carry 10000 "${MSG.tokenValid}": ${JSON.stringify(res.body.messages)}`,
      );

      const viaSdk = await tokenClient(server, tok.token).user.tokens.verify();
      assert.deepEqual(viaSdk, { id: tok.id, status: 'active' });
    });

    test('the init token verifies', async () => {
      const result = await admin.user.tokens.verify();
      assert.match(result.id, HEX32);
      assert.equal(result.status, 'active');
    });

    test('unknown token → 401 1000 "Invalid API Token"', async () => {
      await assertVerifyInvalid(server, `unknown${uniq()}${uniq()}`, 'verify unknown');
      const err = await expectSdkError(tokenClient(server, `nope${uniq()}`).user.tokens.verify(), 401, [1000], 'SDK verify unknown');
      assert.ok(err instanceof Cloudflare.AuthenticationError);
    });

    test('revoked token → 401 1000 (and 403 9109 on resource routes)', async () => {
      const tok = await createToken(dir, creds.account_id, ['zone:read']);
      assertOk(await v4(server, 'GET', '/user/tokens/verify', { token: tok.token }), 'verify before revoke');
      await revokeToken(dir, tok.id);
      await assertVerifyInvalid(server, tok.token, 'verify after revoke');
      await assertInvalidAccessToken(server, tok.token, 'GET /zones after revoke');
    });

    test('expired token → 401 1000 once its expiry has passed', async () => {
      // Whole seconds, ~4 s ahead (the CLI itself takes a moment under ASan).
      const expiresMs = Math.ceil(Date.now() / 1000) * 1000 + 4000;
      const expires = new Date(expiresMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const tok = await createToken(dir, creds.account_id, ['zone:read'], { expires });

      const res = await v4(server, 'GET', '/user/tokens/verify', { token: tok.token });
      assert.ok(Date.now() < expiresMs, 'test too slow: token expired before the first check');
      const result = assertOk(res, 'verify before expiry');
      assert.equal(result.id, tok.id);
      assert.equal(result.status, 'active');
      assert.match(result.expires_on, RFC3339_Z);
      assert.equal(Date.parse(result.expires_on), expiresMs, `expires_on ${result.expires_on} vs ${expires}`);
      assertOk(await v4(server, 'GET', '/zones', { token: tok.token }), 'GET /zones before expiry');

      await sleep(Math.max(0, expiresMs - Date.now()));
      await waitFor(
        async () => (await v4(server, 'GET', '/user/tokens/verify', { token: tok.token })).status === 401,
        { timeout: 10_000, interval: 250, what: 'the token to expire' },
      );
      await assertVerifyInvalid(server, tok.token, 'verify after expiry');
      await assertInvalidAccessToken(server, tok.token, 'GET /zones after expiry');
    });
  });

  test('--expires with a UTC offset is honoured (verify reports it in UTC)', async () => {
    const tok = await createToken(dir, creds.account_id, ['zone:read'], { expires: '2099-06-01T12:00:00+02:00' });
    const result = await tokenClient(server, tok.token).user.tokens.verify();
    assert.equal(result.id, tok.id);
    assert.match(result.expires_on, RFC3339_Z);
    assert.equal(Date.parse(result.expires_on), Date.parse('2099-06-01T10:00:00Z'));
  });

  describe('error table', () => {
    test('no credentials → 400 9106', async () => {
      const routes = [
        ['GET', '/zones'],
        ['POST', '/zones'],
        ['GET', `/zones/${z1.id}`],
        ['DELETE', `/zones/${z1.id}`],
      ];
      for (const [method, p] of routes) {
        const opts = method === 'POST' ? { json: { name: `nocred-${uniq()}.example.com`, account: { id: creds.account_id } } } : {};
        const errors = assertErr(await v4(server, method, p, opts), 400, [9106], `${method} ${p} without credentials`);
        assert.equal(errors[0].message, MSG.noCredentials);
      }
      await assertZoneExists(z1, 'DELETE without credentials');

      const anon = new Cloudflare({ apiToken: null, apiKey: null, apiEmail: null, userServiceKey: null, baseURL: server.baseURL, maxRetries: 0 });
      await expectSdkError(anon.zones.list({}, { headers: { Authorization: null, 'X-Auth-Email': null, 'X-Auth-Key': null } }), 400, [9106], 'SDK without credentials');
    });

    test('malformed Authorization → 400 6003 with error_chain 6111', async () => {
      for (const value of ['Basic abc', 'Bearer', 'Bearer a b', 'Bearerabc', 'Token abc']) {
        const res = await v4(server, 'GET', '/zones', { headers: { Authorization: value } });
        const errors = assertErr(res, 400, [6003], `Authorization: ${value}`);
        assert.equal(errors[0].message, MSG.invalidHeaders);
        assert.deepEqual(
          errors[0].error_chain,
          [{ code: 6111, message: MSG.invalidAuthFormat }],
          `error_chain for "${value}": ${res.text}`,
        );
      }
      const err = await expectSdkError(tokenClient(server, 'a b').zones.list(), 400, [6003], 'SDK malformed token');
      assert.ok(err instanceof Cloudflare.BadRequestError);
      assert.equal(err.errors[0].error_chain?.[0]?.code, 6111);
    });

    test('unknown token → 403 9109 "Invalid access token"', async () => {
      await assertInvalidAccessToken(server, `unknown${uniq()}${uniq()}`, 'unknown token');
      const err = await expectSdkError(tokenClient(server, `unknown${uniq()}`).zones.list(), 403, [9109], 'SDK unknown token');
      assert.ok(err instanceof Cloudflare.PermissionDeniedError);
      assert.equal(err.errors[0].message, MSG.invalidAccessToken);

      const name = `unknown-tok-${uniq()}.example.com`;
      const res = await v4(server, 'POST', '/zones', { token: `zz${uniq()}`, json: { name, account: { id: creds.account_id } } });
      assertErr(res, 403, [9109], 'POST with unknown token');
      await assertNoZoneNamed(name, 'POST with unknown token');
    });

    test('legacy pair: right → full access; wrong → 403 9103', async () => {
      const legacy = legacyClient(server, creds.user_email, creds.api_key);
      const listed = await listAllZones(server, { email: creds.user_email, key: creds.api_key });
      assert.ok(listed.some((z) => z.id === z1.id) && listed.some((z) => z.id === z2.id), 'legacy sees the account zones');
      const zone = await legacy.zones.create({ name: `legacy-${uniq()}.example.com`, account: { id: creds.account_id } });
      assert.equal(zone.account.id, creds.account_id);
      assert.deepEqual(await legacy.zones.delete({ zone_id: zone.id }), { id: zone.id });

      const wrong = [
        { email: creds.user_email, key: `${creds.api_key.slice(0, -1)}${creds.api_key.endsWith('0') ? '1' : '0'}` },
        { email: creds.user_email, key: randomId() },
        { email: `nobody-${uniq()}@example.com`, key: creds.api_key },
      ];
      for (const pair of wrong) {
        const errors = assertErr(await v4(server, 'GET', '/zones', pair), 403, [9103], `pair ${JSON.stringify(pair)}`);
        assert.equal(errors[0].message, MSG.unknownKeyPair);
      }
      const name = `legacy-wrong-${uniq()}.example.com`;
      const err = await expectSdkError(
        legacyClient(server, creds.user_email, randomId()).zones.create({ name, account: { id: creds.account_id } }),
        403,
        [9103],
        'SDK wrong pair create',
      );
      assert.ok(err instanceof Cloudflare.PermissionDeniedError);
      await assertNoZoneNamed(name, 'create with wrong pair');
    });

    test('legacy pair reaches every account of the user', async () => {
      const other = await createAccount(dir, `legacy-acct-${uniq()}`);
      const legacy = legacyClient(server, creds.user_email, creds.api_key);
      const zone = await legacy.zones.create({ name: `legacy-other-${uniq()}.example.com`, account: { id: other.id } });
      assert.deepEqual(zone.account, { id: other.id, name: other.name });
      const filtered = await legacy.zones.list({ account: { id: other.id } });
      assert.deepEqual(filtered.result.map((z) => z.id), [zone.id], 'account.id filter for the legacy user');
      const notDefault = await legacy.zones.list({ account: { id: creds.account_id }, name: zone.name });
      assert.deepEqual(notDefault.result, [], 'not in the Default account');
    });

    test('token lacking the permission → 403 9109 "Unauthorized to access requested resource"', async () => {
      const ro = await createToken(dir, creds.account_id, ['zone:read']);
      const roClient = tokenClient(server, ro.token);

      assert.ok((await roClient.zones.list({ per_page: 50 })).result.some((z) => z.id === z1.id), 'read works');
      assert.equal((await roClient.zones.get({ zone_id: z1.id })).id, z1.id);

      const name = `ro-${uniq()}.example.com`;
      let errors = assertErr(
        await v4(server, 'POST', '/zones', { token: ro.token, json: { name, account: { id: creds.account_id } } }),
        403,
        [9109],
        'zone:read POST /zones',
      );
      assertUnauthorizedMessage(errors[0].message);
      await assertNoZoneNamed(name, 'zone:read POST');

      errors = assertErr(await v4(server, 'DELETE', `/zones/${z1.id}`, { token: ro.token }), 403, [9109], 'zone:read DELETE');
      assertUnauthorizedMessage(errors[0].message);
      await assertZoneExists(z1, 'zone:read DELETE');

      const err = await expectSdkError(roClient.zones.delete({ zone_id: z2.id }), 403, [9109], 'SDK zone:read delete');
      assert.ok(err instanceof Cloudflare.PermissionDeniedError);
      assertUnauthorizedMessage(err.errors[0].message);
      await assertZoneExists(z2, 'SDK zone:read DELETE');
    });

    test('ssl-only token cannot read zones (403 9109)', async () => {
      const ssl = await createToken(dir, creds.account_id, ['ssl:read', 'ssl:write']);
      let errors = assertErr(await v4(server, 'GET', '/zones', { token: ssl.token }), 403, [9109], 'ssl token GET /zones');
      assertUnauthorizedMessage(errors[0].message);
      errors = assertErr(await v4(server, 'GET', `/zones/${z1.id}`, { token: ssl.token }), 403, [9109], 'ssl token GET zone');
      assertUnauthorizedMessage(errors[0].message);
      errors = assertErr(await v4(server, 'DELETE', `/zones/${z1.id}`, { token: ssl.token }), 403, [9109], 'ssl token DELETE zone');
      await assertZoneExists(z1, 'ssl token DELETE');
    });

    test('zone:write implies zone:read', async () => {
      const w = await createToken(dir, creds.account_id, ['zone:write']);
      const wc = tokenClient(server, w.token);
      const zone = await wc.zones.create({ name: `writer-${uniq()}.example.com`, account: { id: creds.account_id } });
      assert.equal((await wc.zones.get({ zone_id: zone.id })).id, zone.id);
      assert.ok((await wc.zones.list({ name: zone.name })).result.length === 1);
      assert.deepEqual(await wc.zones.delete({ zone_id: zone.id }), { id: zone.id });
    });

    test('zone id malformed or unknown → 400 7003/7000', async () => {
      for (const id of ['not-a-zone-id', randomId(), randomId().slice(0, 31), `${randomId()}0`]) {
        assertZoneNotFound(await v4(server, 'GET', `/zones/${id}`, { token: creds.token }), id, `GET /zones/${id}`);
        assertZoneNotFound(await v4(server, 'DELETE', `/zones/${id}`, { token: creds.token }), id, `DELETE /zones/${id}`);
      }
      const err = await expectSdkError(admin.zones.get({ zone_id: 'not-a-zone-id' }), 400, [7003, 7000], 'SDK malformed id');
      assert.ok(err instanceof Cloudflare.BadRequestError);
    });

    test('unknown route → 400 7000', async () => {
      for (const p of ['/nope', '/user/nope', '/nope/zones']) {
        const errors = assertErr(await v4(server, 'GET', p, { token: creds.token }), 400, [7000], `GET ${p}`);
        assert.equal(errors[0].message, MSG.noRoute);
      }
    });

    test('method not allowed → 405 10405 with Allow', async () => {
      for (const method of ['PUT', 'DELETE']) {
        const res = await v4(server, method, '/zones', { token: creds.token, json: {} });
        assertErr(res, 405, [10405], `${method} /zones`);
        const allow = (res.headers.get('allow') || '').split(',').map((s) => s.trim().toUpperCase());
        assert.ok(allow.includes('GET') && allow.includes('POST'), `Allow for /zones: ${res.headers.get('allow')}`);
        assert.ok(!allow.includes(method), `Allow must not list ${method}`);
      }
      const res = await v4(server, 'POST', '/user/tokens/verify', { token: creds.token, json: {} });
      assertErr(res, 405, [10405], 'POST /user/tokens/verify');
      assert.match(res.headers.get('allow') || '', /\bGET\b/);
    });
  });

  describe('scoping', () => {
    test('zone-scoped token sees only its zone and cannot create zones', async () => {
      const scoped = await createToken(dir, creds.account_id, ['zone:write'], { zones: [z1.id] });
      const sc = tokenClient(server, scoped.token);

      assert.equal((await sc.zones.get({ zone_id: z1.id })).id, z1.id, 'GET Z1');
      assertZoneNotFound(await v4(server, 'GET', `/zones/${z2.id}`, { token: scoped.token }), z2.id, 'GET Z2');

      const res = await v4(server, 'GET', '/zones?per_page=50', { token: scoped.token });
      assert.deepEqual(assertOk(res, 'scoped list').map((z) => z.id), [z1.id]);
      assert.equal(res.body.result_info.total_count, 1);
      assert.equal(res.body.result_info.count, 1);

      const name = `scoped-${uniq()}.example.com`;
      const errors = assertErr(
        await v4(server, 'POST', '/zones', { token: scoped.token, json: { name, account: { id: creds.account_id } } }),
        403,
        [9109],
        'scoped POST /zones',
      );
      assertUnauthorizedMessage(errors[0].message);
      await assertNoZoneNamed(name, 'scoped POST');

      assertZoneNotFound(await v4(server, 'DELETE', `/zones/${z2.id}`, { token: scoped.token }), z2.id, 'scoped DELETE Z2');
      await assertZoneExists(z2, 'scoped DELETE Z2');
    });

    test('an invisible zone answers byte-for-byte like a random unknown id', async () => {
      const scoped = await createToken(dir, creds.account_id, ['zone:write'], { zones: [z1.id] });
      const other = await createAccount(dir, `other-${uniq()}`);
      const otherTok = await createToken(dir, other.id, ['zone:write']);

      for (const [label, token] of [
        ['zone-scoped', scoped.token],
        ['other account', otherTok.token],
      ]) {
        for (const method of ['GET', 'DELETE']) {
          const unknown = randomId();
          const hidden = await v4(server, method, `/zones/${z2.id}`, { token });
          const missing = await v4(server, method, `/zones/${unknown}`, { token });
          assert.equal(hidden.status, missing.status, `${label} ${method}: status`);
          assert.equal(hidden.headers.get('content-type'), missing.headers.get('content-type'));
          assert.equal(
            maskIds(hidden.text, [z2.id]),
            maskIds(missing.text, [unknown]),
            `${label} ${method}: bodies differ beyond the id`,
          );
          assertZoneNotFound(hidden, z2.id, `${label} ${method} hidden`);
        }
      }
      await assertZoneExists(z2, 'after hidden DELETEs');
    });

    test("another account's token sees none of this account's zones", async () => {
      const other = await createAccount(dir, `other-${uniq()}`);
      assert.match(other.id, HEX32);
      assert.notEqual(other.id, creds.account_id);
      const tok = await createToken(dir, other.id, ['zone:write']);
      const oc = tokenClient(server, tok.token);

      const res = await v4(server, 'GET', '/zones', { token: tok.token });
      assert.deepEqual(assertOk(res, 'other list'), []);
      assert.equal(res.body.result_info.total_count, 0);
      const filtered = await v4(server, 'GET', `/zones?account.id=${creds.account_id}`, { token: tok.token });
      assert.deepEqual(assertOk(filtered, 'other list filtered on the first account'), []);

      await expectSdkError(oc.zones.get({ zone_id: z1.id }), 400, [7003, 7000], 'other GET Z1');
      assertZoneNotFound(await v4(server, 'DELETE', `/zones/${z1.id}`, { token: tok.token }), z1.id, 'other DELETE Z1');
      await assertZoneExists(z1, 'other DELETE Z1');

      // Creating a zone in the first account must fail and create nothing.
      const name = `intruder-${uniq()}.example.com`;
      const bad = await v4(server, 'POST', '/zones', { token: tok.token, json: { name, account: { id: creds.account_id } } });
      assert.ok([400, 403].includes(bad.status), `POST into another account: HTTP ${bad.status} ${bad.text}`);
      assert.equal(bad.body?.success, false);
      await assertNoZoneNamed(name, 'POST into another account');

      // Its own zones work and stay invisible to the first account's token.
      const own = await oc.zones.create({ name: `theirs-${uniq()}.example.com`, account: { id: other.id } });
      assert.deepEqual(own.account, { id: other.id, name: other.name });
      await expectSdkError(admin.zones.get({ zone_id: own.id }), 400, [7003, 7000], 'admin GET other zone');
      assert.deepEqual((await admin.zones.list({ name: own.name })).result, []);
    });
  });

  test('a token scoped to a zone of another account reaches nothing', async () => {
    const other = await createAccount(dir, `scope-other-${uniq()}`);
    const otherTok = await createToken(dir, other.id, ['zone:write']);
    const foreign = await createZoneRaw(server, otherTok.token, `foreign-${uniq()}.example.com`, other.id);
    // Either the CLI refuses the zone (user error), or the token must still not reach it.
    const r = await runCli([
      'token', 'create', '--data', dir, '--account', creds.account_id,
      '--permission', 'zone:write', '--zone', foreign.id, '--json',
    ]);
    if (r.code === 1) return;
    assert.equal(r.code, 0, `token create: exit ${r.code}; ${r.stderr}`);
    const tok = JSON.parse(r.stdout);
    assertZoneNotFound(await v4(server, 'GET', `/zones/${foreign.id}`, { token: tok.token }), foreign.id, 'cross-account scope GET');
    assertZoneNotFound(await v4(server, 'DELETE', `/zones/${foreign.id}`, { token: tok.token }), foreign.id, 'cross-account scope DELETE');
    const listed = await v4(server, 'GET', '/zones', { token: tok.token });
    assert.ok(!assertOk(listed).some((z) => z.id === foreign.id), 'listed a zone of another account');
    assertOk(await getZoneRaw(server, otherTok.token, foreign.id), 'the foreign zone still exists');
  });

  describe('CLI changes reach a running server', () => {
    test('a token created now works at once; revoking it takes effect on the next request', async () => {
      const tok = await createToken(dir, creds.account_id, ['zone:read']);
      assertOk(await v4(server, 'GET', '/zones', { token: tok.token }), 'new token');
      assertOk(await v4(server, 'GET', '/zones', { token: tok.token }), 'new token again (cached)');
      await revokeToken(dir, tok.id);
      await assertInvalidAccessToken(server, tok.token, 'right after revoke');
      await assertVerifyInvalid(server, tok.token, 'verify right after revoke');
      // Other tokens are unaffected.
      assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'init token after another revoke');
    });
  });
});

describe('failed authentication is limited per client address (--auth-fail-limit)', () => {
  let root;
  let dir;
  let creds;
  const servers = [];

  before(async () => {
    ({ root, dir, creds } = await makeInitialisedDir());
  });

  after(async () => {
    try {
      await stopAllClean(servers);
    } finally {
      await cleanup(root);
    }
  });

  /** One failing request of kind i % 4: no credentials, bad token, bad global key, bad verify. */
  const failing = (server, i) => {
    switch (i % 4) {
      case 0:
        return v4(server, 'GET', '/zones');
      case 1:
        return v4(server, 'GET', '/zones', { token: `wrong${uniq()}${uniq()}` });
      case 2:
        return v4(server, 'GET', '/zones', { email: 'nobody@example.com', key: '0'.repeat(37) });
      default:
        return v4(server, 'GET', '/user/tokens/verify', { token: `wrong${uniq()}${uniq()}` });
    }
  };

  test('default 60 per minute: failures past 60 within a minute → 429 971 with Retry-After', async () => {
    const server = await startServer(dir);
    servers.push(server);
    const started = Date.now();
    let limited;
    for (let i = 0; i < 130 && !limited; i++) {
      const res = await failing(server, i);
      if (res.status === 429) limited = { i, res };
      else assert.ok([400, 401, 403].includes(res.status), `failure #${i + 1}: HTTP ${res.status} ${res.text}`);
    }
    const elapsed = (Date.now() - started) / 1000;
    assert.ok(limited, `no 429 after 130 failed authentications in ${elapsed} s`);
    assert.ok(limited.i >= 60, `the first 60 failures are answered as usual; 429 came at #${limited.i + 1}`);
    // The budget gives one failure back per second, so the 429 must come by 60 + elapsed s.
    assert.ok(limited.i <= 60 + Math.ceil(elapsed) + 1, `429 only at #${limited.i + 1} after ${elapsed} s`);
    const errors = assertErr(limited.res, 429, [971], 'over the limit');
    assert.equal(errors[0].message, 'Please wait and consider throttling your request speed');
    const retryAfter = Number(limited.res.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.res.headers.get('retry-after')}`);
  });

  test('over the limit every request needing credentials is 429, a valid token too; others are not limited', async () => {
    // 5 per hour: one failure comes back every 12 minutes, so nothing refills during the test.
    const server = await startServer(dir, ['--auth-fail-limit', '5/1h']);
    servers.push(server);
    for (let i = 0; i < 5; i++) {
      const res = await failing(server, i);
      assert.ok([400, 401, 403].includes(res.status), `failure #${i + 1}: HTTP ${res.status} ${res.text}`);
    }
    for (let i = 5; i < 9; i++) assertErr(await failing(server, i), 429, [971], `failure #${i + 1}`);
    const res = await v4(server, 'GET', '/zones', { token: creds.token });
    assertErr(res, 429, [971], 'a valid token from the limited address');
    const retryAfter = Number(res.headers.get('retry-after'));
    assert.ok(retryAfter > 600 && retryAfter <= 720, `Retry-After ${res.headers.get('retry-after')} (one failure back every 720 s)`);
    await expectSdkError(tokenClient(server, creds.token).zones.list(), 429, [971], 'SDK with a valid token');
    // Unknown routes are answered before credentials; unauthenticated routes are not limited.
    assertErr(await v4(server, 'GET', '/nowhere', { token: creds.token }), 400, [7000], 'unknown route');
    assert.equal((await request(server, 'GET', '/healthz')).status, 200, '/healthz');
    assert.equal((await request(server, 'GET', `/pki/accounts/${creds.account_id}/ca.pem`)).status, 200, 'CA publication');
  });

  test('successes and permission refusals are not failed authentications', async () => {
    const server = await startServer(dir, ['--auth-fail-limit', '3/1h']);
    servers.push(server);
    const readOnly = await createToken(dir, creds.account_id, ['zone:read']);
    for (let i = 0; i < 10; i++) {
      assertOk(await v4(server, 'GET', '/zones', { token: readOnly.token }), `success #${i + 1}`);
      assertErr(await v4(server, 'POST', '/zones', { token: readOnly.token, json: { name: `p-${uniq()}.example.com`, account: { id: creds.account_id } } }), 403, [9109], `permission refusal #${i + 1}`);
    }
    assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'still admitted');
  });

  test('--auth-fail-limit 0: no limit', async () => {
    const server = await startServer(dir, ['--auth-fail-limit', '0']);
    servers.push(server);
    for (let i = 0; i < 70; i++) {
      const res = await failing(server, i);
      assert.ok([400, 401, 403].includes(res.status), `failure #${i + 1} with the limit off: HTTP ${res.status} ${res.text}`);
    }
    assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'a valid token after 70 failures');
  });

  test('a malformed --auth-fail-limit is a usage error', async () => {
    for (const bad of ['abc', '5', '5/', '-1/1m', '5/1x']) {
      const r = await runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0', '--auth-fail-limit', bad], { timeout: 20_000 });
      assert.notEqual(r.code, 0, `--auth-fail-limit ${bad} was accepted`);
      assert.match(r.stderr, /--auth-fail-limit/, `--auth-fail-limit ${bad}: the message names the flag`);
    }
  });
});
