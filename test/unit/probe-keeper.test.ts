// The probe keeper's life without root: a stand-in `perf` on PATH that runs
// the keeper's workload as perf stat would (after its counters are open), or
// fails as perf does. What the keeper is for is tested with the real perf in
// test/live/probe-keeper.test.ts.
import t from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepProbes } from '../../record/probe-keeper.js';
import { runs, statState } from '../../record/proc.js';

const dir = mkdtempSync(join(tmpdir(), 'gilpipe-keeper-'));
const path = process.env.PATH;
t.teardown(() => {
  process.env.PATH = path;
  rmSync(dir, { recursive: true, force: true });
});

/** A `perf` that writes its pid to a file, then behaves as `body` says. */
function fakePerf(body: string): void {
  writeFileSync(join(dir, 'perf'), `#!/bin/sh\necho $$ > ${join(dir, 'pid')}\n${body}\n`);
  chmodSync(join(dir, 'perf'), 0o755);
  process.env.PATH = `${dir}:${path}`;
}
const perfPid = () => Number(readFileSync(join(dir, 'pid'), 'utf8'));

t.test('the state letter of a stat line, whatever the name in it', async (t) => {
  t.equal(statState('4242 (perf) S 1 4242'), 'S');
  t.equal(statState('4242 (a) Z (b) R 1 4242'), 'R', 'a name holding ") " is read to its last one');
  t.equal(statState('4242 (perf) Z 1'), 'Z');
  t.equal(statState('garbage'), undefined);
  t.ok(runs(process.pid), 'this process runs');
});

t.test('perf stat failing: rejected with its first line', async (t) => {
  fakePerf('echo "event syntax error: gilrec_1:*" >&2; exit 129');
  await t.rejects(keepProbes('gilrec_1'), { message: 'event syntax error: gilrec_1:*' });
});

t.test('perf stat counting: resolved once its workload runs; stop() ends it and waits', async (t) => {
  // perf stat starts its workload (what follows --) once its counters are open: exec it here.
  fakePerf('while [ "$1" != -- ]; do shift; done; shift; exec "$@"');
  const k = await keepProbes('gilrec_1');
  const pid = perfPid();
  t.ok(runs(pid), 'counting while we record');
  await k.stop();
  t.notOk(runs(pid), 'gone once stop() returns: the probes can be removed');
});

t.test('stopSync: killed and waited for, for exit paths', async (t) => {
  fakePerf('while [ "$1" != -- ]; do shift; done; shift; exec "$@"');
  const k = await keepProbes('gilrec_1');
  const pid = perfPid();
  k.stopSync();
  t.notOk(runs(pid), 'gone (or a zombie) when it returns');
});
