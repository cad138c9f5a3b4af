// The PostgreSQL fixture of the harness (startPostgres): a throwaway cluster that answers
// on its URL, survives a kill -9 through restart() on the same port and data, and leaves
// no directory, process or shared-memory segment behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { startPostgres } from './harness.mjs';

/** psql -XAt -c sql against url: { code, out, err }. */
function psql(url, sql) {
  return new Promise((resolve) => {
    execFile('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeout: 30_000 }, (e, out, err) =>
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: out.trim(), err }),
    );
  });
}

/** True while a process (or process group, for a negative pid) exists. */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The ids of the SysV shared-memory segments (ipcs -m). */
async function shmIds() {
  const text = await new Promise((resolve) => execFile('ipcs', ['-m'], (e, out) => resolve(e ? '' : out)));
  return text.split('\n').map((l) => l.trim().split(/\s+/)[1]).filter((id) => /^\d+$/.test(id ?? ''));
}

test('startPostgres: query, kill -9, restart on the same port and data, stop cleans up', async () => {
  // fsync off: this file tests the fixture, not durability (a kill -9 of the server, unlike
  // an OS crash, loses nothing committed either way); it also shows settings reach postgres.
  const pg = await startPostgres({ settings: { fsync: 'off' } });
  assert.match(pg.url, /^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
  assert.equal(pg.url, `postgresql://postgres@127.0.0.1:${pg.port}/postgres`);
  let r = await psql(pg.url, 'SELECT 1');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '1');
  r = await psql(pg.url, 'SHOW server_version_num');
  assert.match(r.out, /^15\d{4}$/);
  assert.equal((await psql(pg.url, 'SHOW fsync')).out, 'off');
  // Data written before the crash is there after the restart (the same data dir).
  r = await psql(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'before the kill\')');
  assert.equal(r.code, 0, r.err);

  const pid = pg.proc.pid;
  const shmid = pg.shmid;
  assert.ok(shmid && (await shmIds()).includes(shmid), `segment ${shmid} of the running cluster`);
  await pg.kill();
  assert.equal(alive(-pid), false, 'the postmaster and its children are gone after kill()');
  assert.equal((await shmIds()).includes(shmid), false, 'kill() removed the shared-memory segment');
  r = await psql(pg.url, 'SELECT 1');
  assert.notEqual(r.code, 0, 'a killed cluster does not answer');

  await pg.restart();
  assert.notEqual(pg.proc.pid, pid);
  r = await psql(pg.url, 'SELECT v FROM kept');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'before the kill');

  const newPid = pg.proc.pid;
  const newShm = pg.shmid;
  await pg.stop();
  assert.equal(pg.exitInfo.code, 0, `postgres stopped cleanly on SIGINT; log:\n${pg.log()}`);
  assert.equal(alive(-newPid), false);
  assert.equal((await shmIds()).includes(newShm), false);
  await assert.rejects(fs.access(pg.dir), 'the temp dir is removed');
});
