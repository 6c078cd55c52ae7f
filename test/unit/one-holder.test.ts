// One holder of a process's GIL at a time, whatever order the events come in.
// Events out of time order across threads (captures interleaved, a clock
// stepped) would make two holders: gil-state says so and writes no second
// holder; and gil-stats, given spans that overlap all the same (an NDJSON
// stream someone edited), withholds the process figures with the reason
// rather than print a GIL held more than 100 % of the time.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline, statsJson } from '../helpers/in-process.js';
import { runBin } from '../helpers/run.js';

const line = (tid: number, secs: string, event: string) => `          python   100/${tid}   [00${tid % 2}]   ${secs}:  ${event}`;

/** Thread 100 holds from 1 s to 2 s; thread 101's events, read after those, hold from 1.5 s to 1.9 s. */
const lines = [
  line(100, '1.000000000', 'python:take_gil: (7f0000001000)'),
  line(100, '1.000001000', 'python:take_gil__return: (7f0000001000 <- 7f0000002000)'),
  line(100, '2.000000000', 'python:drop_gil: (7f0000003000)'),
  line(100, '2.000001000', 'python:drop_gil__return: (7f0000003000 <- 7f0000004000)'),
  line(101, '1.500000000', 'python:take_gil: (7f0000001000)'),
  line(101, '1.500001000', 'python:take_gil__return: (7f0000001000 <- 7f0000002000)'),
  line(101, '1.900000000', 'python:drop_gil: (7f0000003000)'),
  line(101, '1.900001000', 'python:drop_gil__return: (7f0000003000 <- 7f0000004000)'),
];

t.test('a take stamped before another thread let go, read after it: said, and no second holder', async (t) => {
  const f = join(t.testdir(), 'backwards.txt');
  writeFileSync(f, lines.join('\n') + '\n');
  const { records } = await pipeline(f);
  const holds = records.filter((r) => r.type === 'span' && r.state === 'hold').sort((a, b) => a.ts - b.ts);
  for (let i = 1; i < holds.length; i++) t.ok(holds[i]!.ts >= holds[i - 1]!.ts + holds[i - 1]!.dur, `hold ${i} begins after hold ${i - 1} ends`);
  t.ok(records.some((r) => r.type === 'diagnostic' && r.code === 'time_backwards' && r.tid === 101), 'a time_backwards diagnostic for thread 101');
  t.notOk(records.some((r) => r.type === 'handoff' && r.gap !== undefined && r.gap < 0), 'no handoff with a negative gap');
  const s = JSON.parse(statsJson(f));
  const p = s.processes.find((x: { pid: number }) => x.pid === 100);
  t.ok(p.hold_ns <= p.wall_ns, `held ${p.hold_ns} ns of ${p.wall_ns}`);
  t.ok(p.derived.held_pct === null || p.derived.held_pct <= 100, `held ${p.derived.held_pct} %`);
});

t.test('spans that overlap all the same: gil-stats withholds the process figures, with the reason', async (t) => {
  const span = (tid: number, ts: number, dur: number) => JSON.stringify({ type: 'span', pid: 100, tid, family: 'gil', state: 'hold', ts, dur });
  const input = [span(100, 1e9, 1e9), span(101, 1.2e9, 0.7e9), JSON.stringify({ type: 'capture', first_ts: 1e9, last_ts: 2e9, gil_source: 'take_gil', lost: 0, anomalies: 0 })].join('\n') + '\n';
  const r = await runBin('gil-stats', ['--format', 'json'], { input });
  t.equal(r.exitCode, 0, String(r.stderr));
  const p = JSON.parse(String(r.stdout)).processes[0];
  t.ok(p.hold_ns > p.wall_ns, `the input holds ${p.hold_ns} ns in ${p.wall_ns}`);
  t.equal(p.derived.held_pct, null, 'no held %');
  t.equal(p.derived.contention_pct, null, 'no contention %');
  t.match(p.derived.withheld, /more than its wall time .*two of its threads held the GIL at once/);
  const table = await runBin('gil-stats', ['--format', 'table'], { input });
  t.match(String(table.stdout), /process figures withheld: its holds add up to/);
  t.notMatch(String(table.stdout), /GIL held \d+\.\d%/);
});
