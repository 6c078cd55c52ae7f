// Two small rules with sharp edges: a note names its input unless it already
// does (as `FILE:`), and a line perf did not cut is never taken as half of a
// thread name with a newline.
import t from 'tap';
import { Reporter } from '../../lib/cli.js';
import { collectingContext } from '../../lib/filter.js';
import { PerfParser } from '../../filters/perf-parse.js';
import type { PerfParseRecord } from '../../filters/records.js';

function said(input: string, msg: string): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((s: string) => ((out += s), true)) as typeof process.stderr.write;
  try {
    new Reporter('gil-state', [input]).say(msg);
  } finally {
    process.stderr.write = write;
  }
  return out;
}

t.test('a note names its input, unless it names it as FILE: already', async (t) => {
  t.equal(said('a', '3 malformed lines (in data)'), 'gil-state: a: 3 malformed lines (in data)\n', 'an input called a, a message with an a in it: still named');
  t.equal(said('a', 'skipped 1 (first: a:3: x)'), 'gil-state: skipped 1 (first: a:3: x)\n', 'FILE:LINE after a parenthesis names it');
  t.equal(said('host-a/1.data', 'host-a/1.data: truncated'), 'gil-state: host-a/1.data: truncated\n');
});

t.test('a stray line before an event line in column 0 is malformed, not the start of a name', async (t) => {
  const parse = (lines: string[]) => {
    const ctx = collectingContext('x');
    const out: PerfParseRecord[] = [];
    const p = new PerfParser((r) => out.push(r), ctx);
    for (const l of lines) {
      ctx.where.line++;
      p.write(l);
    }
    p.end();
    return { out, problems: ctx.problems };
  };
  const ev = 'line   406/431   [001]  2751.131695926:          gilfix:take_gil: (7f864fe4f7b0)';
  const cut = parse(['        new', ev]);
  t.equal(cut.out.length, 1);
  t.equal((cut.out[0] as { comm?: string }).comm, 'new\nline', "a padded half (perf's %16s) and the rest: one name");
  const stray = parse(['junk', ev]);
  t.equal((stray.out[0] as { comm?: string }).comm, 'line', 'an unpadded stray line is no half of a name');
  t.equal(stray.problems.length, 1, 'it is malformed');
  t.match(stray.problems[0], /x:1: not a perf script line: "junk"/, 'under its own line number');
});
