#!/usr/bin/env node
// Closed-loop HTTP load generator for `make bench` (Node 20, no dependencies).
//
// Keeps CONCURRENCY requests in flight over a keep-alive agent (maxSockets = concurrency)
// until DURATION seconds have passed, then waits for the in-flight requests and prints one
// JSON line on stdout:
//   {"requests":N,"failures":F,"seconds":S,"rate":R,"p50_ms":A,"p99_ms":B,"cpu_s":C}
// `requests` counts successes only (HTTP 200 and a body with "success":true); `rate` is
// requests / seconds; `cpu_s` is the CPU time this load generator itself used (user +
// system), so a caller can tell how much of the machine the client took. Any other answer, or a transport error, is a failure, described on
// stderr (the first few verbatim). More than MAX_FAILURES failures abort the run (exit 1).
//
// Usage: node load.mjs --url URL --token TOKEN [--method POST] [--body-file FILE ...]
//                      [--concurrency 8] [--duration 10] [--max-failures 100]
// With several --body-file options the bodies are used round robin. Each file holds the
// exact JSON request body. --method GET sends no body (and takes no --body-file).
// Pass the token as --token=TOKEN: a token may start with "-", which parseArgs would take
// for an option in the two-argument form.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    method: { type: 'string', default: 'POST' },
    'body-file': { type: 'string', multiple: true },
    concurrency: { type: 'string', default: '8' },
    duration: { type: 'string', default: '10' },
    'max-failures': { type: 'string', default: '100' },
  },
});

function die(msg) {
  process.stderr.write(`load.mjs: ${msg}\n`);
  process.exit(2);
}
if (!opt.url) die('--url is required');
if (!opt.token) die('--token is required');
const method = opt.method.toUpperCase();
const bodyFiles = opt['body-file'] ?? [];
if (method === 'GET' || method === 'HEAD') {
  if (bodyFiles.length > 0) die(`--body-file makes no sense with --method ${method}`);
} else if (bodyFiles.length === 0) {
  die(`--body-file is required with --method ${method}`);
}
const concurrency = Number.parseInt(opt.concurrency, 10);
const durationS = Number.parseFloat(opt.duration);
const maxFailures = Number.parseInt(opt['max-failures'], 10);
if (!(concurrency >= 1)) die('--concurrency must be a positive integer');
if (!(durationS > 0)) die('--duration must be a positive number of seconds');
if (!(maxFailures >= 0)) die('--max-failures must be a non-negative integer');

const url = new URL(opt.url);
if (url.protocol !== 'http:') die('only http:// URLs are supported');
const bodies = bodyFiles.length > 0 ? bodyFiles.map((f) => Buffer.from(readFileSync(f))) : [null];
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const REQUEST_TIMEOUT_MS = 30_000;

let ok = 0;
let failures = 0;
let aborted = false;
let next = 0;
const latenciesMs = [];
const failureSamples = [];

function fail(what) {
  failures++;
  if (failureSamples.length < 5) failureSamples.push(what);
  if (failures > maxFailures) aborted = true;
}

function once(body) {
  return new Promise((resolve) => {
    const headers = { authorization: `Bearer ${opt.token}` };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    const t0 = process.hrtime.bigint();
    const req = http.request(
      url,
      { method, agent, headers, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const ms = Number(process.hrtime.bigint() - t0) / 1e6;
          const text = Buffer.concat(chunks).toString('utf8');
          let success = false;
          try {
            success = JSON.parse(text).success === true;
          } catch {
            success = false;
          }
          if (res.statusCode === 200 && success) {
            ok++;
            latenciesMs.push(ms);
          } else {
            fail(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
          }
          resolve();
        });
        res.on('error', (e) => {
          fail(`response error: ${e.message}`);
          resolve();
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', (e) => {
      fail(`request error: ${e.message}`);
      resolve();
    });
    req.end(body ?? undefined);
  });
}

const cpu0 = process.cpuUsage();
const start = process.hrtime.bigint();
const deadline = start + BigInt(Math.round(durationS * 1e9));

async function worker() {
  while (!aborted && process.hrtime.bigint() < deadline) {
    const body = bodies[next++ % bodies.length];
    await once(body);
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const cpu = process.cpuUsage(cpu0);
agent.destroy();

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  // nearest-rank
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}
latenciesMs.sort((a, b) => a - b);
const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);

for (const s of failureSamples) process.stderr.write(`load.mjs: failure: ${s}\n`);
if (failures > failureSamples.length) {
  process.stderr.write(`load.mjs: ... ${failures - failureSamples.length} more failures\n`);
}
if (aborted) process.stderr.write(`load.mjs: aborted after ${failures} failures (limit ${maxFailures})\n`);

process.stdout.write(
  JSON.stringify({
    requests: ok,
    failures,
    seconds: round(seconds),
    rate: round(ok / seconds),
    p50_ms: round(percentile(latenciesMs, 50)),
    p99_ms: round(percentile(latenciesMs, 99)),
    cpu_s: round((cpu.user + cpu.system) / 1e6),
  }) + '\n',
);
process.exit(aborted ? 1 : 0);
