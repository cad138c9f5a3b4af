#!/usr/bin/env node
// Cold start and SIGTERM exit of `tlsward serve` for `make bench` (Node 20, no dependencies).
//
// RUNS times: starts BIN serve --data DATA --listen 127.0.0.1:0 --rate-limit 0
// --dcv-mode auto (plus any arguments after "--"), reads the port from its "listening on"
// log line and polls GET /healthz (a new connection each time, back to back) until one
// answers 200: start = from spawning the process to that answer. Then it waits until the
// server is idle (its CPU time in /proc/PID/stat unchanged for 0.3 s, at most 15 s: the
// worker fills its RSA key pool after a start) and sends SIGTERM: exit = from the signal to
// the process's exit. Each step is bounded (15 s); a server that does not stop is killed
// and the run fails. Prints one JSON line on stdout:
//   {"runs":N,"start_ms":[...],"exit_ms":[...],"start_median_ms":A,"exit_median_ms":B}
//
// Usage: node startstop.mjs --bin BIN --data DIR [--runs 5] [-- EXTRA SERVE ARGS]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  options: {
    bin: { type: 'string' },
    data: { type: 'string' },
    runs: { type: 'string', default: '5' },
  },
  allowPositionals: true,
});
function die(msg) {
  process.stderr.write(`startstop.mjs: ${msg}\n`);
  process.exit(2);
}
if (!opt.bin || !opt.data) die('--bin and --data are required');
const runs = Number.parseInt(opt.runs, 10);
if (!(runs >= 1 && runs <= 50)) die('--runs: 1 to 50');
const BOUND_MS = 15_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

function healthz(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(0));
  });
}
function ticks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
  } catch {
    return -1;
  }
}

async function once(i) {
  const args = ['serve', '--data', opt.data, '--listen', '127.0.0.1:0', '--rate-limit', '0',
    '--dcv-mode', 'auto', ...positionals];
  const t0 = now();
  const child = spawn(opt.bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = null;
  const exitP = new Promise((r) => child.on('exit', (code, sig) => { exited = { t: now(), code, sig }; r(); }));
  let log = '';
  let port = null;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    if (log.length < 65536) log += d;
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
    if (m) port = Number(m[1]);
  });
  const fail = (msg) => {
    child.kill('SIGKILL');
    die(`run ${i}: ${msg}; server log:\n${log.slice(-2000)}`);
  };
  let startMs = null;
  while (startMs === null) {
    if (exited) fail('the server exited while starting');
    if (now() - t0 > BOUND_MS) fail('no 200 from /healthz within 15 s');
    if (port === null) {
      await sleep(1);
      continue;
    }
    if ((await healthz(port)) === 200) startMs = now() - t0;
  }
  // Idle: CPU time unchanged over 3 samples 0.1 s apart.
  let prev = ticks(child.pid);
  let quiet = 0;
  const idle0 = now();
  while (quiet < 3 && now() - idle0 < BOUND_MS) {
    await sleep(100);
    const t = ticks(child.pid);
    quiet = t === prev ? quiet + 1 : 0;
    prev = t;
  }
  const t1 = now();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), BOUND_MS);
  await exitP;
  clearTimeout(timer);
  if (exited.sig === 'SIGKILL') die(`run ${i}: the server did not exit within 15 s of SIGTERM`);
  if (exited.code !== 0) die(`run ${i}: the server exited with ${exited.code ?? exited.sig} after SIGTERM:\n${log.slice(-2000)}`);
  return { startMs, exitMs: exited.t - t1 };
}

const round = (x) => Math.round(x * 10) / 10;
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const start = [];
const exit = [];
for (let i = 1; i <= runs; i++) {
  const r = await once(i);
  start.push(r.startMs);
  exit.push(r.exitMs);
}
process.stdout.write(
  JSON.stringify({
    runs,
    start_ms: start.map(round),
    exit_ms: exit.map(round),
    start_median_ms: round(median(start)),
    exit_median_ms: round(median(exit)),
  }) + '\n',
);
