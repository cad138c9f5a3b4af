#!/usr/bin/env node
// Order→active latency for `make bench` (Node 20, no dependencies).
//
// Orders COUNT advanced certificate packs one after another in one zone; after each order
// it polls GET /zones/{zone}/ssl/certificate_packs/{id} every POLL_MS until the pack's
// status is "active" (or TIMEOUT seconds have passed, which fails the run), then orders the
// next one. The latency of a pack is from just before the order request is sent until the
// first poll answer that shows "active" arrived, so it includes the order request itself
// and up to POLL_MS of polling granularity. Prints one JSON line on stdout:
//   {"orders":N,"latencies_ms":[...],"min_ms":A,"median_ms":B,"p90_ms":D,"max_ms":C,"polls":P,"cpu_s":S}
// (p90: nearest rank, the smallest latency that at least 90 % of the orders did not exceed)
// Hosts are ZONE-NAME (an advanced pack must include the apex) and HOST-PREFIX<i>.ZONE-NAME
// (distinct per order).
//
// Usage: node orders.mjs --base URL/client/v4 --token TOKEN --zone ID --zone-name NAME
//                        [--count 20] [--poll-ms 5] [--timeout 10] [--host-prefix o]
//                        [--ca google] [--method txt]   (bench/acme.sh: lets_encrypt, http)
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    base: { type: 'string' },
    token: { type: 'string' },
    zone: { type: 'string' },
    'zone-name': { type: 'string' },
    count: { type: 'string', default: '20' },
    'poll-ms': { type: 'string', default: '5' },
    timeout: { type: 'string', default: '10' },
    'host-prefix': { type: 'string', default: 'o' },
    ca: { type: 'string', default: 'google' },
    method: { type: 'string', default: 'txt' },
  },
});

function die(msg) {
  process.stderr.write(`orders.mjs: ${msg}\n`);
  process.exit(2);
}
for (const k of ['base', 'token', 'zone', 'zone-name']) if (!opt[k]) die(`--${k} is required`);
const count = Number.parseInt(opt.count, 10);
const pollMs = Number.parseFloat(opt['poll-ms']);
const timeoutMs = Number.parseFloat(opt.timeout) * 1000;
if (!(count >= 1)) die('--count must be a positive integer');
if (!(pollMs >= 0)) die('--poll-ms must be a non-negative number');
if (!(timeoutMs > 0)) die('--timeout must be a positive number of seconds');
const base = new URL(opt.base.replace(/\/$/, '') + '/');
if (base.protocol !== 'http:') die('only http:// URLs are supported');

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One request; resolves to { status, json } (json null if the body is not JSON).
function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body ? Buffer.from(JSON.stringify(body)) : null;
    const headers = { authorization: `Bearer ${opt.token}` };
    if (data) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = data.length;
    }
    const req = http.request(new URL(path, base), { method, agent, headers, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(data ?? undefined);
  });
}

const cpu0 = process.cpuUsage();
const latencies = [];
let polls = 0;
const zonePath = `zones/${opt.zone}/ssl/certificate_packs`;
for (let i = 1; i <= count; i++) {
  const name = `${opt['host-prefix']}${i}.${opt['zone-name']}`;
  const t0 = process.hrtime.bigint();
  const order = await call('POST', `${zonePath}/order`, {
    certificate_authority: opt.ca,
    hosts: [opt['zone-name'], name],
    type: 'advanced',
    validation_method: opt.method,
    validity_days: 90,
  });
  if (order.status !== 200 || order.json?.success !== true) {
    die(`order ${i}: HTTP ${order.status}: ${order.text.slice(0, 300)}`);
  }
  const id = order.json.result.id;
  let status = order.json.result.status;
  while (status !== 'active') {
    if (Number(process.hrtime.bigint() - t0) / 1e6 > timeoutMs) {
      die(`order ${i}: pack ${id} still "${status}" after ${timeoutMs / 1000} s`);
    }
    if (pollMs > 0) await sleep(pollMs);
    const got = await call('GET', `${zonePath}/${id}`);
    polls++;
    if (got.status !== 200 || got.json?.success !== true) {
      die(`order ${i}: GET pack ${id}: HTTP ${got.status}: ${got.text.slice(0, 300)}`);
    }
    status = got.json.result.status;
  }
  latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const cpu = process.cpuUsage(cpu0);
agent.destroy();

const round = (x) => Math.round(x * 1000) / 1000;
const sorted = [...latencies].sort((a, b) => a - b);
const mid = sorted.length >> 1;
const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
process.stdout.write(
  JSON.stringify({
    orders: latencies.length,
    latencies_ms: latencies.map(round),
    min_ms: round(sorted[0]),
    median_ms: round(median),
    p90_ms: round(sorted[Math.max(1, Math.ceil(0.9 * sorted.length)) - 1]),
    max_ms: round(sorted[sorted.length - 1]),
    polls,
    cpu_s: round((cpu.user + cpu.system) / 1e6),
  }) + '\n',
);
