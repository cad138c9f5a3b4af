// The HTTP server's threads: quick reads run on the event threads, writes on the blocking
// pool with their connection suspended. Many writes and reads in flight at once on
// keep-alive connections all get their own answer (a resumed connection answers its own
// request, never another's), every acknowledged write is there afterwards, and the
// process's threads stay bounded (event threads + the blocking pool's 64 + the worker's).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import { assertOk, makeInitialisedDir, onCleanup, startServer, stopServerExpectClean, uniq, v4 } from './harness.mjs';

const IN_FLIGHT = 96;
const THREADS_MAX = 8 /* event threads on a big machine */ + 64 /* blocking pool */ + 24 /* worker, flusher, main */;

async function threadCount(pid) {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Threads:\s+(\d+)/m.exec(status)[1]);
}

describe('event threads and the blocking pool', () => {
  test(`${IN_FLIGHT} writes and ${IN_FLIGHT} reads in flight at once on keep-alive connections: each answer is its own, every write kept, threads bounded`, async (t) => {
    const { root, dir, creds } = await makeInitialisedDir();
    const server = await startServer(dir, ['--dcv-mode', 'check']);
    onCleanup(t, { server, root });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    t.after(() => agent.destroy());
    const auth = { Authorization: `Bearer ${creds.token}`, 'Content-Type': 'application/json' };
    const call = (method, p, body) =>
      new Promise((resolve, reject) => {
        const req = http.request(`${server.baseURL}${p}`, { method, agent, headers: auth }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text) }));
        });
        req.on('error', reject);
        req.end(body ? JSON.stringify(body) : undefined);
      });

    const base = assertOk(await v4(server, 'POST', '/zones', { token: creds.token, json: { name: `threads-${uniq()}.example.com`, account: { id: creds.account_id } } }));
    const names = Array.from({ length: IN_FLIGHT }, (_, i) => `w${i}-${uniq()}.example.com`);
    let peakThreads = 0;
    const sampler = setInterval(() => threadCount(server.pid).then((n) => (peakThreads = Math.max(peakThreads, n)), () => {}), 5);
    const [writes, reads] = await Promise.all([
      Promise.all(names.map((name) => call('POST', '/zones', { name, account: { id: creds.account_id } }))),
      Promise.all(names.map(() => call('GET', `/zones/${base.id}`))),
    ]);
    clearInterval(sampler);
    peakThreads = Math.max(peakThreads, await threadCount(server.pid));

    writes.forEach((r, i) => {
      assert.equal(r.status, 200, `write ${i}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.result.name, names[i], `write ${i} got the answer of another request`);
    });
    for (const r of reads) {
      assert.equal(r.status, 200);
      assert.equal(r.body.result.id, base.id);
    }
    for (const r of writes) {
      const got = await call('GET', `/zones/${r.body.result.id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.result.name, r.body.result.name);
    }
    assert.ok(peakThreads <= THREADS_MAX, `${peakThreads} threads at the peak (bound ${THREADS_MAX})`);
    await stopServerExpectClean(server);
  });
});
