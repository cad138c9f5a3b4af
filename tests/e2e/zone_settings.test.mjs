// Automatic SSL/TLS (SPEC §4.7, seed 004): the ssl_automatic_mode zone setting over raw HTTP
// (the SDK has no resource for it) and the deprecated recommendation through the SDK —
// defaults, round trips, next_scheduled_scan only for "auto", bad input changing nothing,
// permissions and visibility.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RFC3339_Z,
  assertErr,
  assertNames,
  assertOk,
  assertZoneNotFound,
  cleanup,
  createAccount,
  createToken,
  createZoneRaw,
  makeInitialisedDir,
  sleep,
  startServer,
  stopServerExpectClean,
  tokenClient,
  uniq,
  v4,
} from './harness.mjs';

const DAY_MS = 86_400_000;

describe('zone settings: ssl_automatic_mode and ssl/recommendation', () => {
  let root;
  let dir;
  let creds;
  let server;
  let client;

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

  const path = (zoneId) => `/zones/${zoneId}/settings/ssl_automatic_mode`;
  const get = (zoneId, token = creds.token) => v4(server, 'GET', path(zoneId), { token });
  const patch = (zoneId, json, token = creds.token) => v4(server, 'PATCH', path(zoneId), { token, json });

  function assertSetting(r, id, value, editable) {
    assert.deepEqual(
      Object.keys(r).sort(),
      ['editable', 'id', 'modified_on', 'value', ...(value === 'auto' ? ['next_scheduled_scan'] : [])].sort(),
    );
    assert.equal(r.id, id);
    assert.equal(r.value, value);
    assert.equal(r.editable, editable);
    assert.match(r.modified_on, RFC3339_Z);
    if (value === 'auto') {
      assert.match(r.next_scheduled_scan, RFC3339_Z);
      const next = Date.parse(r.next_scheduled_scan);
      assert.equal(next % DAY_MS, 0, 'next scan at midnight UTC');
      assert.ok(next > Date.now() - 5_000 && next <= Date.now() + DAY_MS, `next scan within a day: ${r.next_scheduled_scan}`);
    }
  }

  test('a new zone is "auto" since its creation; the recommendation mirrors it', async () => {
    const zone = await createZoneRaw(server, creds.token, `zs-${uniq()}.example`, creds.account_id);
    const r = assertOk(await get(zone.id), 'GET default');
    assertSetting(r, 'ssl_automatic_mode', 'auto', true);
    assert.equal(Date.parse(r.modified_on), Date.parse(zone.created_on));

    const rec = await client.ssl.recommendations.get({ zone_id: zone.id });
    assertSetting(rec, 'ssl_recommendation', 'auto', false);
    assert.equal(rec.modified_on, r.modified_on);
  });

  test('round trip auto → custom → auto moves modified_on; next scan only for auto', async () => {
    const zone = await createZoneRaw(server, creds.token, `zs-${uniq()}.example`, creds.account_id);
    const r0 = assertOk(await get(zone.id), 'GET');
    await sleep(5);

    const r1 = assertOk(await patch(zone.id, { value: 'custom' }), 'PATCH custom');
    assertSetting(r1, 'ssl_automatic_mode', 'custom', true);
    assert.ok(Date.parse(r1.modified_on) >= Date.parse(r0.modified_on));
    assert.notEqual(r1.modified_on, r0.modified_on);
    assert.deepEqual(assertOk(await get(zone.id), 'GET after custom'), r1);
    const rec = await client.ssl.recommendations.get({ zone_id: zone.id });
    assertSetting(rec, 'ssl_recommendation', 'custom', false);
    assert.equal(rec.modified_on, r1.modified_on);

    // The same value again is not a change.
    const again = assertOk(await patch(zone.id, { value: 'custom' }), 'PATCH custom again');
    assert.equal(again.modified_on, r1.modified_on);

    await sleep(5);
    const r2 = assertOk(await patch(zone.id, { value: 'auto' }), 'PATCH auto');
    assertSetting(r2, 'ssl_automatic_mode', 'auto', true);
    assert.notEqual(r2.modified_on, r1.modified_on);
    assert.ok(Date.parse(r2.modified_on) >= Date.parse(r1.modified_on));
    assert.deepEqual(assertOk(await get(zone.id), 'GET after auto'), r2);
  });

  test('invalid input: 400/1004 naming value, nothing changes', async () => {
    const zone = await createZoneRaw(server, creds.token, `zs-${uniq()}.example`, creds.account_id);
    assertOk(await patch(zone.id, { value: 'custom' }), 'PATCH custom');
    const before = assertOk(await get(zone.id), 'GET before');
    for (const json of [{ value: 'AUTO' }, { value: 'off' }, { value: '' }, { value: 1 }, { value: true }, { value: ['auto'] }, {}, { other: 'auto' }]) {
      const errors = assertErr(await patch(zone.id, json), 400, [1004], `PATCH ${JSON.stringify(json)}`);
      assertNames(errors, 'value', `PATCH ${JSON.stringify(json)}`);
    }
    assertErr(await v4(server, 'PATCH', path(zone.id), { token: creds.token }), 400, [1004], 'PATCH without a body');
    assertErr(await v4(server, 'PATCH', path(zone.id), { token: creds.token, body: '{"value":' }), 400, [1004], 'PATCH bad JSON');
    assertErr(await v4(server, 'PATCH', path(zone.id), { token: creds.token, json: ['auto'] }), 400, [1004], 'PATCH array body');
    assert.deepEqual(assertOk(await get(zone.id), 'GET after'), before);
  });

  test('permissions: zone:read reads but cannot patch; ssl-only tokens cannot read', async () => {
    const zone = await createZoneRaw(server, creds.token, `zs-${uniq()}.example`, creds.account_id);
    const reader = await createToken(dir, creds.account_id, ['zone:read']);
    assertSetting(assertOk(await get(zone.id, reader.token), 'GET zone:read'), 'ssl_automatic_mode', 'auto', true);
    assertOk(await v4(server, 'GET', `/zones/${zone.id}/ssl/recommendation`, { token: reader.token }), 'recommendation zone:read');
    assertErr(await patch(zone.id, { value: 'custom' }, reader.token), 403, [9109], 'PATCH zone:read');

    const ssl = await createToken(dir, creds.account_id, ['ssl:write']);
    assertErr(await get(zone.id, ssl.token), 403, [9109], 'GET ssl:write');
    assertErr(await patch(zone.id, { value: 'custom' }, ssl.token), 403, [9109], 'PATCH ssl:write');

    const writer = await createToken(dir, creds.account_id, ['zone:write']);
    assertSetting(assertOk(await patch(zone.id, { value: 'custom' }, writer.token), 'PATCH zone:write'), 'ssl_automatic_mode', 'custom', true);
  });

  test("another account's zone (and an unknown or malformed one) is not routable", async () => {
    const zone = await createZoneRaw(server, creds.token, `zs-${uniq()}.example`, creds.account_id);
    const other = await createAccount(dir, `other-${uniq()}`);
    const tok = await createToken(dir, other.id, ['zone:write']);
    assertZoneNotFound(await get(zone.id, tok.token), zone.id, 'GET other account');
    assertZoneNotFound(await patch(zone.id, { value: 'custom' }, tok.token), zone.id, 'PATCH other account');
    assertZoneNotFound(await v4(server, 'GET', `/zones/${zone.id}/ssl/recommendation`, { token: tok.token }), zone.id, 'recommendation other account');
    const unknown = '0123456789abcdef0123456789abcdef';
    assertZoneNotFound(await get(unknown), unknown, 'GET unknown');
    assertZoneNotFound(await patch('not-a-zone', { value: 'auto' }), 'not-a-zone', 'PATCH malformed');
    // Nothing changed for the owner.
    assertSetting(assertOk(await get(zone.id), 'GET owner'), 'ssl_automatic_mode', 'auto', true);
  });
});
