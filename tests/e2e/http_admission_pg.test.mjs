// Admission on a PostgreSQL store. Admitting a request (its token looked up by hash) is a
// database round trip there, so it runs on the blocking pool with the connection suspended,
// never on an event thread: a slow database then delays only the requests that wait on it.
// Shown with a real slow database, no test hook: a psql session holds the tokens table
// locked, so every token lookup waits in PostgreSQL. More requests than there are event
// threads all wait at once (an event thread can wait on one at the most), and a request that
// needs no credentials is answered meanwhile. Once the lock goes each waiting request gets
// its own answer and its request log line; refusals (403, 413) are as before.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import {
  assertErr,
  assertOk,
  cleanup,
  initNodeStore,
  makeTempDataDir,
  PG_BIN,
  rawHttp,
  rawSocketRequest,
  request,
  runCliJson,
  startApiNode,
  startPostgres,
  stopAllClean,
  uniq,
  v4,
  waitFor,
} from './harness.mjs';

// The server runs one event thread per online CPU (at most 64).
const EVENT_THREADS = Math.min(64, Math.max(1, os.cpus().length));
// Waiting requests: more than the event threads could hold, fewer than the server's store
// connections (16 + the worker's).
const WAITING = Math.min(EVENT_THREADS + 2, 12);

/**
 * One psql session (one connection, statements run one at a time): run(sql) resolves with
 * the output lines of sql once psql has run it; end() closes the session.
 */
function psqlSession(url) {
  const p = spawn(path.join(PG_BIN, 'psql'), [url, '-XAtq', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let n = 0;
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => p.on('exit', resolve));
  return {
    run: async (sql) => {
      const from = out.length;
      const mark = `done-${++n}\n`;
      p.stdin.write(`${sql};\nSELECT '${mark.trim()}';\n`);
      await waitFor(() => out.includes(mark, from) || p.exitCode !== null, { timeout: 10_000, interval: 10, what: `psql to run ${sql}` });
      assert.ok(out.includes(mark, from), `psql ${sql}: ${err}`);
      return out.slice(from, out.indexOf(mark, from)).split('\n').filter(Boolean);
    },
    end: async () => {
      if (p.exitCode === null) p.stdin.end();
      assert.equal(await exited, 0, `psql: ${err}`);
    },
    kill: () => p.exitCode === null && p.kill('SIGKILL'),
  };
}

/** Sessions waiting for a lock on the tokens table (the requests' token lookups). */
const TOKEN_WAITERS =
  "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'tokens'";

describe('admission on a PostgreSQL store runs on the blocking pool', () => {
  let pg;
  let root;
  let server;
  let creds;

  before(async () => {
    pg = await startPostgres({ settings: { fsync: 'off' } });
    ({ root } = await makeTempDataDir());
    const keyFile = path.join(root, 'master.key');
    const dir = path.join(root, 'api');
    creds = await initNodeStore(pg.url, dir, keyFile);
    server = await startApiNode(pg.url, dir, keyFile, ['--dcv-mode', 'check']);
  });

  after(async () => {
    await stopAllClean([server]);
    await pg?.stop();
    if (root) await cleanup(root);
  });

  test(`${WAITING} requests wait on their token lookup at once (${EVENT_THREADS} event threads) and /healthz answers meanwhile`, async () => {
    const zone = assertOk(await v4(server, 'POST', '/zones', { token: creds.token, json: { name: `admit-${uniq()}.example.com`, account: { id: creds.account_id } } }), 'zone');
    // The session that holds the lock also counts the waiters (pg_locks is not locked).
    const db = psqlSession(pg.url);
    let waiting = [];
    try {
      await db.run('BEGIN');
      await db.run('LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE');
      waiting = Array.from({ length: WAITING }, () => v4(server, 'GET', `/zones/${zone.id}`, { token: creds.token, timeout: 30_000 }));
      let seen = 0;
      await waitFor(async () => (seen = Number((await db.run(TOKEN_WAITERS))[0])) >= WAITING, {
        timeout: 15_000,
        interval: 50,
        what: `${WAITING} token lookups waiting at once`,
      }).catch((e) => {
        throw new Error(`${e.message}: ${seen} at the most (an event thread that looks tokens up holds one)`);
      });
      const health = await request(server, 'GET', '/healthz', { timeout: 15_000 });
      assert.equal(health.status, 200, `/healthz while token lookups wait: ${health.text}`);
      assert.equal(Number((await db.run(TOKEN_WAITERS))[0]), WAITING, 'the lookups were still waiting when /healthz answered');
      await db.run('COMMIT');
      await db.end();
    } finally {
      db.kill();
    }
    const answers = await Promise.all(waiting);
    for (const r of answers) assert.equal(assertOk(r, 'a request that waited on the lock').id, zone.id);
    const ids = new Set(answers.map((r) => r.headers.get('x-request-id')));
    assert.equal(ids.size, WAITING, 'each request got its own answer');
    await waitFor(() => [...ids].every((id) => server.stderr().includes(id)), { timeout: 5_000, interval: 20, what: 'a request log line for each' });
  });

  test('refusals are unchanged: 403 unknown token, 403 missing permission, 413 large body, 403 before an announced 2 MiB upload is sent', async () => {
    assertErr(await v4(server, 'GET', '/zones', { token: 'x'.repeat(40) }), 403, [9109], 'unknown token');
    const readOnly = await runCliJson(['token', 'create', '--database', pg.url, '--account', creds.account_id, '--permission', 'zone:read', '--json']);
    assertErr(
      await v4(server, 'POST', '/zones', { token: readOnly.token, json: { name: `ro-${uniq()}.example.com`, account: { id: creds.account_id } } }),
      403,
      [9109],
      'zone:read token writing a zone',
    );
    const big = Buffer.alloc(2 * 1024 * 1024, 'x');
    const headers = { 'Content-Type': 'application/json' };
    assertErr(await rawHttp(server, 'POST', '/client/v4/zones', { headers: { ...headers, Authorization: `Bearer ${creds.token}` }, body: big }), 413, [10413], '2 MiB body');
    // Refused before its upload is read: only the headers of a 2 MiB body are ever sent.
    const refused = await rawSocketRequest(
      server,
      `POST /client/v4/zones HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${'y'.repeat(40)}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n`,
    );
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.errors[0].code, 9109);
    assertOk(await v4(server, 'GET', '/zones', { token: creds.token }), 'GET afterwards');
  });
});
