// A figure of something the recording did not capture must be absent, not a
// number: real captures with the scheduler's events, or the GIL's releases,
// taken out by line, as a recording without them would print them.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pipeline, statsJson } from '../helpers/in-process.js';
import { FORMATTERS } from '../../filters/gil-stats/format.js';
import type { GilStatsJSON } from '../../filters/gil-stats.js';

const FIXTURE = new URL('../fixtures/gil_hog.perf.txt.gz', import.meta.url).pathname;
const truth = JSON.parse(readFileSync(new URL('../fixtures/gil_hog.truth.json', import.meta.url), 'utf8'));
const lines = gunzipSync(readFileSync(FIXTURE)).toString('latin1').split('\n');

/** The capture without the lines whose event matches `drop`, written to a file of the test's. */
function without(dir: string, name: string, drop: RegExp): string {
  const kept = lines.filter((l) => !drop.test(l));
  const path = join(dir, name);
  writeFileSync(path, kept.join('\n'), 'latin1');
  return path;
}

const SCHED = /\ssched:sched_(switch|waking|wakeup|wakeup_new):|\sPERF_RECORD_SWITCH/;
const RELEASE = /:drop_gil(__return)?:|\ssched:sched_process_exit:|\sPERF_RECORD_EXIT/;

t.test('GIL probes without the scheduler: no scheduler state is figured', async (t) => {
  const dir = t.testdir();
  const path = without(dir, 'no-sched.txt', SCHED);
  t.equal(readFileSync(path, 'latin1').split('\n').filter((l) => SCHED.test(l)).length, 0, 'the input has no scheduler event');
  const { records } = await pipeline(path);
  t.equal(records.filter((r) => r.type === 'span' && r.family === 'sched').length, 0, 'gil-state writes no sched span');
  const s: GilStatsJSON = JSON.parse(statsJson(path));
  const threads = s.threads.filter((x) => x.pid === truth.pid);
  t.ok(threads.length >= 3, 'the workload threads are there');
  for (const x of threads) {
    t.equal(x.sched, false, `thread ${x.tid}: no scheduler data`);
    t.equal(x.running_ns, 0, `thread ${x.tid}: no running time counted`);
    t.equal(x.derived!.running_pct, null, `thread ${x.tid}: running % is absent, not 100`);
  }
  const p = s.processes.find((x) => x.pid === truth.pid)!;
  t.equal(p.sched, false);
  t.equal(p.derived!.held_offcpu_pct, null, 'held off-CPU is unknown');
  // The GIL figures stand: the hog the workload built is still found.
  const hog = p.hogs.longest.find((h) => h.tid === truth.hog_tid);
  t.ok(hog, 'the hog is found from the probes alone');
  // The call timed by the workload includes its own way into and out of the regex.
  t.ok(hog!.dur_ns >= truth.hog_ns * 0.95 && hog!.dur_ns <= truth.hog_ns, `hog ${hog!.dur_ns} ns within the call's ${truth.hog_ns} ns`);
  const table = FORMATTERS.table(s, { per4m: false, top: 10, table: 'threads' });
  t.match(table, /held while off-CPU: - \(no scheduler events\)/);
});

t.test('GIL takes without releases: no hold length, no hog, no longest hold', async (t) => {
  const dir = t.testdir();
  const path = without(dir, 'no-release.txt', RELEASE);
  const text = readFileSync(path, 'latin1');
  t.notMatch(text, /drop_gil/, 'the input has no release');
  t.match(text, /take_gil__return/, 'but has the takes');
  const s: GilStatsJSON = JSON.parse(statsJson(path));
  const p = s.processes.find((x) => x.pid === truth.pid)!;
  t.equal(p.gil, true, 'GIL events were seen');
  t.ok(p.holds > 0, 'holds were begun');
  t.equal(p.holds_known, false, 'but none was seen to end');
  t.equal(p.derived!.held_pct, null, 'GIL held % is absent');
  t.same(p.hogs, { count: 0, hold_ns: 0, longest: [] }, 'no hog is claimed');
  for (const x of s.threads.filter((x) => x.pid === truth.pid)) {
    t.equal(x.longest_hold, null, `thread ${x.tid}: no longest hold`);
    t.equal(x.derived!.has_gil_pct, null, `thread ${x.tid}: has gil % absent`);
  }
  t.equal(s.top.holds.filter((e) => e.pid === truth.pid).length, 0, 'no longest holds listed');
  t.ok(s.top.waits.length > 0, 'the waits remain');
  const table = FORMATTERS.table(s, { per4m: false, top: 10, table: 'threads' });
  t.match(table, /no hold was seen to end/);
  t.notMatch(table, /GIL hogs/);
});
