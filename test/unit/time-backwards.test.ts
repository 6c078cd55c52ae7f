// An event that would end a GIL state before it began (events out of time
// order) is said as a diagnostic, never dropped in silence nor written as a
// span of negative length. The input: the gil_hog capture with one
// take_gil__return of the hog thread moved 1 µs before its take_gil.
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pipeline } from '../helpers/in-process.js';

const FIXTURE = new URL('../fixtures/gil_hog.perf.txt.gz', import.meta.url).pathname;
const truth = JSON.parse(readFileSync(new URL('../fixtures/gil_hog.truth.json', import.meta.url), 'utf8'));

t.test('a take_gil return stamped before its take_gil: one time_backwards diagnostic, one wait fewer', async (t) => {
  const lines = gunzipSync(readFileSync(FIXTURE)).toString('latin1').split('\n');
  const mine = (l: string) => l.includes(`/${truth.hog_tid} `);
  const at = lines.findIndex((l) => mine(l) && l.includes(':take_gil__return:'));
  const entry = lines.slice(0, at).findLastIndex((l) => mine(l) && l.includes(':take_gil:'));
  t.ok(at > 0 && entry >= 0, 'the hog thread has a take_gil and its return');
  const stamp = /(\d+)\.(\d{9}):/;
  const [, s, ns] = stamp.exec(lines[entry]!)!;
  const back = BigInt(s!) * 1_000_000_000n + BigInt(ns!) - 1000n;
  const edited = [...lines];
  edited[at] = lines[at]!.replace(stamp, `${back / 1_000_000_000n}.${String(back % 1_000_000_000n).padStart(9, '0')}:`);
  const dir = t.testdir();
  writeFileSync(join(dir, 'before.txt'), lines.join('\n'), 'latin1');
  writeFileSync(join(dir, 'after.txt'), edited.join('\n'), 'latin1');

  const before = (await pipeline(join(dir, 'before.txt'))).records;
  const after = (await pipeline(join(dir, 'after.txt'))).records;
  const diags = after.filter((r) => r.type === 'diagnostic' && r.code === 'time_backwards');
  t.equal(diags.length, 1, 'one diagnostic');
  t.equal(diags[0]?.tid, truth.hog_tid, 'of the hog thread');
  t.match(diags[0]?.message, /would end 1000 ns before it began/);
  t.equal(after.filter((r) => r.type === 'span' && r.dur < 0).length, 0, 'no span of negative length');
  const waits = (rs: typeof before) => rs.filter((r) => r.type === 'span' && r.state === 'wait' && r.tid === truth.hog_tid).length;
  t.equal(waits(after), waits(before) - 1, 'the one wait without a length is not written; the others are');
});
