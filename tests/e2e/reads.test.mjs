// The read path of a request (issue 13): a GET runs in one read snapshot of the store and a
// pack's rendering is cached by its version. Whatever is cached, the next request after a
// change shows it: a PATCH or DELETE of a pack, a zone deleted, a token revoked with the
// CLI (another process) while the server runs. The cached rendering is byte for byte what
// the list shows for the same pack, and a GET that carries a body is answered as before.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertErr,
  assertOk,
  assertZoneNotFound,
  createToken,
  freshTenant,
  makeInitialisedDir,
  onCleanup,
  orderPath,
  packsPath,
  rawHttp,
  revokeToken,
  startServer,
  stopAllClean,
  v4,
  waitPackStatus,
} from './harness.mjs';

const orderBody = (z) => ({
  certificate_authority: 'google',
  hosts: [z, `*.${z}`],
  type: 'advanced',
  validation_method: 'txt',
  validity_days: 90,
});

/** The envelope jansson writes around a result, compact, in the server's key order. */
const envelope = (result) => `{"success":true,"errors":[],"messages":[],"result":${JSON.stringify(result)}}`;

describe('read path: snapshots and the rendered-pack cache', () => {
  let root, dir, server;

  before(async () => {
    ({ root, dir } = await makeInitialisedDir());
    server = await startServer(dir, ['--dcv-mode', 'auto']);
  });
  after(async () => {
    await stopAllClean([server]);
  });
  onCleanup(after, { root });

  /** A tenant with one active pack: { token, zone, pack }. */
  async function activePack(label) {
    const t = await freshTenant(server, dir, root, label);
    const ordered = assertOk(await v4(server, 'POST', orderPath(t.zone.id), { token: t.token, json: orderBody(t.zone.name) }), 'order');
    const pack = await waitPackStatus(server, t.token, t.zone.id, ordered.id, 'active');
    return { ...t, pack };
  }

  test('GET answers the same bytes again and again, the list item of the pack is those bytes, and a PATCH or DELETE shows on the very next GET', async () => {
    const { token, zone, pack } = await activePack('reads');
    const url = packsPath(zone.id, pack.id);
    const first = await v4(server, 'GET', url, { token });
    assertOk(first, 'GET pack');
    for (let i = 0; i < 3; i++) assert.equal((await v4(server, 'GET', url, { token })).text, first.text, `GET #${i + 2}`);
    const list = assertOk(await v4(server, 'GET', packsPath(zone.id), { token }), 'list');
    const item = list.find((p) => p.id === pack.id);
    assert.ok(item, 'the pack is listed');
    assert.equal(envelope(item), first.text, 'GET is the list item, byte for byte');
    assert.equal(first.body.result.cloudflare_branding, false);
    assert.equal(first.body.result.certificates.length, 2);

    const edited = assertOk(await v4(server, 'PATCH', url, { token, json: { cloudflare_branding: true } }), 'PATCH');
    assert.equal(edited.cloudflare_branding, true);
    const afterPatch = assertOk(await v4(server, 'GET', url, { token }), 'GET after PATCH');
    assert.equal(afterPatch.cloudflare_branding, true, 'the next GET shows the PATCH');

    assertOk(await v4(server, 'DELETE', url, { token }), 'DELETE');
    const afterDelete = await v4(server, 'GET', url, { token });
    if (afterDelete.status === 404) assertErr(afterDelete, 404, [1472], 'GET after DELETE');
    else assert.notEqual(assertOk(afterDelete, 'GET after DELETE').status, 'active', 'the next GET shows the DELETE');
    const listed = assertOk(await v4(server, 'GET', packsPath(zone.id), { token }), 'list after DELETE');
    assert.ok(!listed.some((p) => p.id === pack.id), 'no longer listed as active');
  });

  test('a token revoked with the CLI while the server runs is refused on the next request; a deleted zone hides its packs at once', async () => {
    const { token, zone, pack, account } = await activePack('revoke');
    const url = packsPath(zone.id, pack.id);
    for (let i = 0; i < 3; i++) assertOk(await v4(server, 'GET', url, { token }), `GET #${i + 1}`);

    // A second token of the same account, revoked from another process.
    const t2 = await createToken(dir, account.id, ['zone:read', 'ssl:write']);
    for (let i = 0; i < 3; i++) assertOk(await v4(server, 'GET', url, { token: t2.token }), `GET with the second token #${i + 1}`);
    await revokeToken(dir, t2.id);
    assertErr(await v4(server, 'GET', url, { token: t2.token }), 403, [9109], 'GET pack after revoke');
    assertErr(await v4(server, 'GET', '/user/tokens/verify', { token: t2.token }), 401, [1000], 'verify after revoke');
    assertOk(await v4(server, 'GET', url, { token }), 'the other token still works');

    assertOk(await v4(server, 'DELETE', `/zones/${zone.id}`, { token }), 'DELETE zone');
    assertZoneNotFound(await v4(server, 'GET', url, { token }), zone.id, 'GET pack of a deleted zone');
    assertZoneNotFound(await v4(server, 'GET', packsPath(zone.id), { token }), zone.id, 'list of a deleted zone');
  });

  test('a GET that carries a body (its snapshot begins after the upload) answers as without one', async () => {
    const { token, zone, pack } = await activePack('body');
    const url = `/client/v4${packsPath(zone.id, pack.id)}`;
    const plain = await v4(server, 'GET', packsPath(zone.id, pack.id), { token });
    assertOk(plain, 'GET');
    const withBody = await rawHttp(server, 'GET', url, { headers: { Authorization: `Bearer ${token}` }, body: Buffer.from('{"x":1}') });
    assert.equal(withBody.status, 200);
    assert.equal(withBody.text, plain.text);
    const chunked = await rawHttp(server, 'GET', url, { headers: { Authorization: `Bearer ${token}` }, body: Buffer.from('{}'), chunked: true });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.text, plain.text);
  });
});
