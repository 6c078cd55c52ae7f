// Times no recording can have never become figures. A partial span (its
// start not recorded) begins inside the capture, not at time 0; a time past
// what a perf clock can reach (2^63 ns) is a malformed line, in the stage
// that reads it (perf-parse), so the one-process chain and the pipe agree.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pipeline } from '../helpers/in-process.js';

const line = (tid: number, secs: string, event: string) => `          python ${String(tid).padStart(5)}/${tid}   [000]   ${secs}:  ${event}`;

t.test("a thread's first GIL events both returns: the partial spans start where the capture does", async (t) => {
  const dir = t.testdir();
  const f = join(dir, 'returns-first.txt');
  writeFileSync(
    f,
    [
      line(100, '100.000000000', 'python:drop_gil__return: (7f0000003000 <- 7f0000004000)'),
      line(100, '100.000010000', 'python:take_gil__return: (7f0000001000 <- 7f0000002000)'),
      line(100, '100.005000000', 'python:drop_gil: (7f0000003000)'),
    ].join('\n') + '\n',
  );
  const { records } = await pipeline(f);
  const spans = records.filter((r) => r.type === 'span');
  t.ok(spans.length > 0);
  const first = 100_000_000_000;
  for (const s of spans) t.ok(s.ts >= first, `${s.family} ${s.state} at ${s.ts}: not before the first event (${first})`);
  const wait = spans.find((s) => s.state === 'wait');
  t.ok(wait === undefined || wait.dur <= 10_000, 'a wait, if any, within the 10 µs between the two returns');
});

t.test('a time past 2^63 ns: a malformed line with its line number, the events around it read', async (t) => {
  const dir = t.testdir();
  const lines = gunzipSync(readFileSync(new URL('../fixtures/gil_hog.perf.txt.gz', import.meta.url))).toString('latin1').split('\n');
  const at = lines.findIndex((l) => l.includes(':take_gil__return:'));
  const edited = [...lines];
  edited[at] = lines[at]!.replace(/ \d+\.(\d{9}):/, ' 99999999999999999999.$1:');
  writeFileSync(join(dir, 'huge.txt'), edited.join('\n'), 'latin1');
  const { records, problems } = await pipeline(join(dir, 'huge.txt'));
  t.equal(problems.length, 1, 'one malformed line');
  t.match(problems[0], new RegExp(`:${at + 1}: a time past the 2\\^63 ns a perf clock can reach`));
  t.notOk(records.some((r) => typeof r.ts === 'number' && r.ts > 2 ** 63), 'no record has it');
  t.notOk(records.some((r) => r.type === 'span' && r.ts + r.dur > 2 ** 63), 'no span reaches it');
  const capture = records.find((r) => r.type === 'capture')!;
  t.ok(capture.last_ts < 3000e9, `the capture ends where its events do (${capture.last_ts})`);
});
