// gil-record's watchdog script (record/watchdog.ts) when gil-record is gone:
// its pipe ends with no "done", so it stops perf with SIGINT, waits for it,
// removes the probes and says what it did. A stand-in `perf` on PATH answers
// the removal; a sleep stands in for the perf that records. What it is for
// (gil-record under SIGKILL) is tested with the real perf in
// test/live/gil-record.test.ts.
import t from 'tap';
import { execa } from 'execa';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WATCHDOG_SCRIPT } from '../../record/watchdog.js';

const dir = mkdtempSync(join(tmpdir(), 'gilpipe-watchdog-'));
const children: Array<{ kill: (s: string) => void }> = [];
t.teardown(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** The watchdog after gil-record died, with a `perf` whose `probe -d` exits with `code`. */
async function orphaned(code: number, stdin: string, mode = 'command'): Promise<{ stderr: string; recorderEnded: boolean }> {
  writeFileSync(join(dir, 'perf'), `#!/bin/sh\necho "$@" >> ${join(dir, 'calls')}\nexit ${code}\n`);
  chmodSync(join(dir, 'perf'), 0o755);
  const recorder = execa('sleep', ['30'], { reject: false });
  children.push(recorder);
  const r = await execa('sh', ['-c', WATCHDOG_SCRIPT, 'gil-record-watchdog', String(recorder.pid), 'gilrec_7', mode], {
    input: stdin,
    reject: false,
    env: { PATH: `${dir}:${process.env.PATH}` },
  });
  const ended = await recorder;
  return { stderr: String(r.stderr), recorderEnded: ended.signal === 'SIGINT' };
}

t.test('gil-record gone: perf stopped with SIGINT, the probes removed, and said', async (t) => {
  const { stderr, recorderEnded } = await orphaned(0, '');
  t.ok(recorderEnded, 'perf got SIGINT');
  t.match(stderr, /gil-record was killed: stopped perf .*, which wrote a complete perf\.data and ended the program; removed the probes gilrec_7:\*/);
});

t.test('attached with --pid: the program is said to be left running, as it is', async (t) => {
  const { stderr } = await orphaned(0, '', 'pid');
  t.match(stderr, /which wrote a complete perf\.data and left the program it was attached to running; removed the probes/);
  t.notMatch(stderr, /ended the program/);
});

t.test('probes that cannot be removed are said to remain, with the command that removes them', async (t) => {
  const { stderr } = await orphaned(1, '');
  t.match(stderr, /could not remove the probes gilrec_7:\* \(remove them with: perf probe -d 'gilrec_7:\*'/);
  t.notMatch(stderr, /removed the probes/, 'not that they were removed');
});

t.test('a normal end ("done"): nothing stopped, nothing said', async (t) => {
  const recorder = execa('sleep', ['0.3'], { reject: false });
  children.push(recorder);
  const r = await execa('sh', ['-c', WATCHDOG_SCRIPT, 'gil-record-watchdog', String(recorder.pid), 'gilrec_7'], { input: 'done\n', reject: false });
  t.equal(String(r.stderr), '');
  t.equal((await recorder).exitCode, 0, 'perf ran to its end');
});
