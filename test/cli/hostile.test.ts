// A real recording of threads named to attack what shows them (ESC
// sequences, BEL, C1, bidi, HTML, markdown, CSV formulas: comm_names.py
// --hostile): no raw control character reaches the table, markdown or CSV,
// and the JSON keeps every name exactly as the kernel had it.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { displayWidth } from '../../lib/escape.js';
import { runBin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const capture = fx + 'comm_names-hostile.perf.txt.gz';
const truth = JSON.parse(readFileSync(fx + 'comm_names-hostile.truth.json', 'utf8'));
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const names: string[] = truth.threads.map((x: { expected: string }) => x.expected);

t.test('the workload named its threads as designed', async (t) => {
  t.ok(names.some((n) => n.includes('\x1b')), 'ESC');
  t.ok(names.some((n) => n.includes('\u202e')), 'bidi override');
  t.ok(names.some((n) => n.includes('<script>')), 'HTML');
});

for (const [format, extra] of [
  ['table', []],
  ['markdown', []],
  ['csv', ['--table', 'threads']],
  ['csv', ['--table', 'hogs']],
] as const) {
  t.test(`gil-stats --format ${format} ${extra.join(' ')}: no raw control character`, async (t) => {
    const r = await runBin('gil-stats', [capture, '--format', format, ...extra]);
    t.equal(r.exitCode, 0, String(r.stderr));
    const out = String(r.stdout);
    const bad = out.split('\n').filter((l) => RAW.test(l));
    t.same(bad.slice(0, 3), [], 'no line with a raw control or format character');
    t.notOk(RAW.test(String(r.stderr)), 'stderr neither');
    if (format === 'markdown') t.notOk(out.includes('<script>'), 'no raw HTML in markdown');
    if (format === 'table') t.ok(out.includes('\\x1b[2Jclear'), 'the ESC name shown visibly');
    if (format === 'csv') {
      const formulas = out.split('\n').flatMap(csvCells).filter((c) => /^[=+@]/.test(c) || /^-[^0-9]/.test(c));
      t.same(formulas, [], 'no cell a spreadsheet would run as a formula');
    }
  });
}

t.test('JSON keeps the names exact', async (t) => {
  const r = await runBin('gil-stats', [capture, '--format', 'json']);
  const comms = new Set(JSON.parse(String(r.stdout)).threads.map((x: { comm: string }) => x.comm));
  for (const n of names) t.ok(comms.has(n), `the name ${JSON.stringify(n)} comes back exact`);
});

/** The cells of one CSV line (RFC 4180 quoting). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (line[i] === '"' && line[i + 1] === '"') (v += '"'), (i += 2);
        else if (line[i] === '"') {
          i++;
          break;
        } else v += line[i++];
      }
      cells.push(v);
      i++;
    } else {
      const j = line.indexOf(',', i);
      cells.push(line.slice(i, j === -1 ? line.length : j));
      i = j === -1 ? line.length + 1 : j + 1;
    }
  }
  return cells;
}

t.test('the threads table stays aligned when names take two columns a character (CJK)', async (t) => {
  const r = await runBin('gil-stats', [fx + 'comm_names.perf.txt.gz', '--format', 'table']);
  t.equal(r.exitCode, 0);
  const lines = String(r.stdout).split('\n');
  const at = lines.findIndex((l) => l.startsWith('Threads'));
  const block = lines.slice(at + 1, lines.indexOf('', at));
  const [, rule, ...rows] = block;
  t.ok(rows.some((l) => /线/.test(l)), 'a name with a wide character is in it');
  // The last column is right-aligned: every row ends where the rule under the header does.
  for (const row of rows) t.equal(displayWidth(row), displayWidth(rule!), `aligned: ${row.trim().slice(0, 30)}`);
});
