// gil-stats as a user runs it: perf-parse | gil-state | gil-stats on real
// captures. The numbers asserted come from per4m's own output on the shared
// captures (an independent tool) and from the workloads' inside view of what
// they did (test/fixtures/*.truth.json), never from what gil-stats printed.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, corpus, hasCorpus, root, runBin } from '../helpers/run.js';
import type { GilStatsJSON } from '../../filters/gil-stats.js';
import { fmtDur, fmtPct, fmtTs, threadLabel } from '../../filters/gil-stats/format.js';

const tmp = mkdtempSync(join(tmpdir(), 'gil-stats-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const noCorpus = hasCorpus ? false : 'the shared corpus (../shared/corpus) is not beside this checkout';
const fixtures = join(root, 'test/fixtures/');
const hogFixture = fixtures + 'gil_hog.perf.txt.gz';
const noHog = existsSync(hogFixture) ? false : 'test/fixtures/gil_hog.perf.txt.gz has not been recorded';

/** gil-state's output for a perf script capture, made once per file. */
const made = new Map<string, string>();
async function gilState(capture: string): Promise<string> {
  const have = made.get(capture);
  if (have) return have;
  const out = join(tmp, capture.replace(/.*\//, '').replace(/\.perf\.txt\.gz$/, '.gil.ndjson'));
  await execa('sh', ['-c', `node "$1" "$2" | node "$3" > "$4"`, 'sh', bin('perf-parse'), capture, bin('gil-state'), out]);
  made.set(capture, out);
  return out;
}

async function stats(args: string[]): Promise<string> {
  const r = await runBin('gil-stats', args);
  if (r.exitCode !== 0) throw new Error(`gil-stats ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout as string;
}

const json = async (args: string[]): Promise<GilStatsJSON> => JSON.parse(await stats([...args, '--format', 'json']));

function parseCsv(text: string): Array<Record<string, string>> {
  const [head, ...rows] = text.trim().split('\n');
  const cols = head!.split(',');
  return rows.map((r) => {
    // Our CSV quotes only fields with commas or quotes; the per-thread tables have none.
    const cells = r.split(',');
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}

// per4m's own table on the shared captures (notes/per4m.md), tid: [total us, no gil, has gil, wait].
const PER4M: Record<string, Record<number, [number, number, number, number]>> = {
  'ex1-uprobes': {
    2578: [253047.9, 84.9, 10.7, 4.4],
    2580: [41047.9, 0.1, 73.7, 26.2],
    2581: [50079.3, 0.1, 55.7, 44.3],
  },
  'ex3-uprobes': {
    2596: [904592.4, 83.1, 16.3, 0.6],
    2598: [864375.1, 100.0, 0.0, 0.0],
    2599: [100498.6, 89.0, 0.6, 10.5],
    2600: [98569.6, 87.5, 2.4, 10.1],
  },
};
const MAIN = { 'ex1-uprobes': 2578, 'ex3-uprobes': 2596 } as Record<string, number>;

t.test('--per4m agrees with per4m on the shared captures (0.2 points)', { skip: noCorpus }, async (t) => {
  for (const [name, want] of Object.entries(PER4M)) {
    const rows = parseCsv(await stats([await gilState(`${corpus}${name}.perf.txt.gz`), '--per4m', '--format', 'csv']));
    t.same(rows.map((r) => Number(r.tid)).sort(), Object.keys(want).map(Number).sort(), `${name}: the same threads`);
    for (const r of rows) {
      const [total, noGil, hasGil, wait] = want[Number(r.tid)]!;
      // per4m drops the last digit of each timestamp and prints 0.1 us.
      t.ok(Math.abs(Number(r.total_us) - total) < 0.15, `${name} ${r.tid}: total ${r.total_us} vs per4m ${total}`);
      t.ok(Math.abs(Number(r.no_gil_pct) - noGil) <= 0.2, `${name} ${r.tid}: no gil ${r.no_gil_pct} vs ${noGil}`);
      t.ok(Math.abs(Number(r.has_gil_pct) - hasGil) <= 0.2, `${name} ${r.tid}: has gil ${r.has_gil_pct} vs ${hasGil}`);
      t.ok(Math.abs(Number(r.wait_pct) - wait) <= 0.2, `${name} ${r.tid}: wait ${r.wait_pct} vs ${wait}`);
      t.equal(r.main, String(Number(r.tid) === MAIN[name]), `${name} ${r.tid}: main marker`);
    }
  }
  // The same check through the table a user reads.
  const table = await stats([await gilState(`${corpus}ex1-uprobes.perf.txt.gz`), '--per4m', '--format', 'table']);
  t.match(table, /^\s*2578\*\s+253048\.0\s+84\.9\s+10\.7\s+4\.4$/m);
  t.match(table, /^\s*2581\s+50079\.3\s+0\.1\s+55\.7\s+44\.3$/m);
});

t.test('--per4m on many-uprobes: workers 93.1-93.3 / 5.2-5.4 / 1.4-1.6, main 99.4 / 0.6 / 0.0', { skip: noCorpus }, async (t) => {
  const rows = parseCsv(await stats([await gilState(`${corpus}many-uprobes.perf.txt.gz`), '--per4m', '--format', 'csv']));
  t.equal(rows.length, 9, 'main and 8 workers');
  const within = (x: string, lo: number, hi: number) => Number(x) >= lo - 0.2 && Number(x) <= hi + 0.2;
  for (const r of rows) {
    if (r.tid === '2667') {
      t.equal(r.main, 'true');
      t.ok(within(r.no_gil_pct!, 99.4, 99.4) && within(r.has_gil_pct!, 0.6, 0.6) && within(r.wait_pct!, 0, 0), `main: ${JSON.stringify(r)}`);
    } else {
      t.ok(
        within(r.no_gil_pct!, 93.1, 93.3) && within(r.has_gil_pct!, 5.2, 5.4) && within(r.wait_pct!, 1.4, 1.6),
        `worker ${r.tid}: ${r.no_gil_pct} / ${r.has_gil_pct} / ${r.wait_pct}`,
      );
    }
  }
});

t.test('the GIL hog: top blame pair, hold and wait within a few percent of what the workload measured', { skip: noHog }, async (t) => {
  const truth = JSON.parse(readFileSync(fixtures + 'gil_hog.truth.json', 'utf8'));
  const s = await json([await gilState(hogFixture)]);
  const p = s.processes.find((x) => x.pid === truth.pid)!;
  t.ok(p, 'the workload process is there');
  t.same([p.blame[0]!.waiter, p.blame[0]!.holder], [truth.victim_tid, truth.hog_tid], 'top pair: the victim waited while the hog held');
  const hog = s.threads.find((x) => x.tid === truth.hog_tid)!;
  const victim = s.threads.find((x) => x.tid === truth.victim_tid)!;
  const near = (got: number, want: number, what: string) => t.ok(Math.abs(got - want) / want < 0.05, `${what}: ${got} vs ${want} (${((100 * (got - want)) / want).toFixed(1)}%)`);
  near(hog.longest_hold!.dur_ns, truth.hog_ns, "the hog's longest hold vs the regex call it timed");
  near(victim.derived!.wait_max_ns!, truth.victim_longest_gap_ns, "the victim's longest wait vs its longest gap between iterations");
  t.ok(hog.longest_hold!.ts >= truth.hog_start_ns - 1e6 && hog.longest_hold!.ts <= truth.hog_end_ns, 'the hold starts with the regex call');
  t.equal(p.hogs.longest[0]!.tid, truth.hog_tid, 'first in the hogs list');
  t.ok(p.blame[0]!.ns / truth.hog_ns > 0.95, 'nearly all of the hog call is blamed on the hog');
  t.equal(s.top.waits[0]!.tid, truth.victim_tid, 'the longest wait is the victim');
  t.equal(s.top.waits[0]!.holder, truth.hog_tid, '... and names the hog');
  const table = await stats([await gilState(hogFixture), '--format', 'table']);
  t.match(table, new RegExp(`^\\s*${truth.victim_tid}\\s+${truth.hog_tid}\\s`, 'm'), 'the table shows the pair');
});

t.test('table, markdown, CSV and NDJSON show the figures of the JSON', { skip: noHog }, async (t) => {
  const input = await gilState(hogFixture);
  const s = await json([input]);
  const csv = parseCsv(await stats([input, '--format', 'csv']));
  const table = await stats([input, '--format', 'table']);
  const wide = await stats([input, '--format', 'table', '--wide']);
  const md = await stats([input, '--format', 'markdown']);
  t.ok(table.split('\n').every((l) => l.length <= 120), 'the default table fits 120 columns');
  t.ok(wide.split('\n').some((l) => l.length > 120), '--wide does not');
  t.ok(s.first_ts! <= Math.min(...s.threads.map((x) => x.longest_hold?.ts ?? Infinity)), 'first_ts is the earliest time');
  const nd = (await stats([input, '--format', 'ndjson'])).trim().split('\n').map((l) => JSON.parse(l));
  t.equal(csv.length, s.threads.length);
  for (const th of s.threads) {
    const d = th.derived!;
    const row = csv.find((r) => Number(r.tid) === th.tid)!;
    const num = (x: number | null | undefined) => (x === null || x === undefined ? '' : String(x));
    for (const [col, v] of Object.entries({
      total_ns: th.total_ns,
      no_gil_pct: d.no_gil_pct,
      has_gil_pct: d.has_gil_pct,
      handoff_pct: d.handoff_pct,
      wait_pct: d.wait_pct,
      running_pct: d.running_pct,
      runnable_pct: d.runnable_pct,
      sleeping_pct: d.sleeping_pct,
      blocked_pct: d.blocked_pct,
      acquisitions: th.acquisitions,
      wait_p50_ns: d.wait_p50_ns,
      wait_p99_ns: d.wait_p99_ns,
      wait_max_ns: d.wait_max_ns,
      longest_hold_ns: th.longest_hold?.dur_ns,
      longest_hold_ts: th.longest_hold?.ts,
      gil_sleeps: th.gil_sleeps,
    })) {
      t.equal(row[col], num(v), `csv ${th.tid} ${col}`);
    }
    // The --wide table row: every figure, rounded, in column order; its time from the first event of the input.
    const wideCells = [
      threadLabel(th),
      th.comm ?? '',
      fmtDur(th.total_ns),
      fmtPct(d.no_gil_pct),
      fmtPct(d.has_gil_pct),
      fmtPct(d.handoff_pct),
      fmtPct(d.wait_pct),
      fmtPct(d.running_pct),
      fmtPct(d.runnable_pct),
      fmtPct(d.sleeping_pct),
      fmtPct(d.blocked_pct),
      String(th.acquisitions),
      fmtDur(d.wait_p50_ns),
      fmtDur(d.wait_p90_ns),
      fmtDur(d.wait_p99_ns),
      fmtDur(d.wait_max_ns),
      fmtDur(th.longest_hold?.dur_ns),
      fmtTs(th.longest_hold ? th.longest_hold.ts - s.first_ts! : undefined),
      String(th.gil_sleeps),
    ];
    // The default table (120 columns) leaves out no gil, handoff, acq, p90, p99, at and GIL sleeps.
    const cells = wideCells.filter((_, i) => ![3, 5, 11, 13, 14, 17, 18].includes(i));
    const esc = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    t.match(table, new RegExp(`^\\s*${cells.map(esc).join('\\s+')}$`, 'm'), `table row of ${th.tid}`);
    t.match(wide, new RegExp(`^\\s*${wideCells.map(esc).join('\\s+')}$`, 'm'), `--wide table row of ${th.tid}`);
    t.match(md, new RegExp(`^\\| ${cells.map(esc).join(' \\| ')} \\|$`, 'm'), `markdown row of ${th.tid}`);
    const ndRow = nd.find((r) => r.type === 'gil_stats_thread' && r.tid === th.tid);
    t.equal(ndRow.has_gil_pct, d.has_gil_pct, `ndjson ${th.tid}`);
    t.equal(ndRow.wait_max_ns, d.wait_max_ns, `ndjson ${th.tid}`);
  }
  const p = s.processes[0]!;
  t.match(table, `GIL held ${fmtPct(p.derived!.held_pct)}% of it; contended ${fmtPct(p.derived!.contention_pct)}%`);
  const pcsv = parseCsv(await stats([input, '--format', 'csv', '--table', 'processes']))[0]!;
  t.equal(pcsv.held_pct, String(p.derived!.held_pct));
  t.equal(pcsv.forced_switches, String(p.forced_switches));
  t.equal(pcsv.wait_per_s, String(p.derived!.wait_per_s));
});

t.test('no GIL events: says there is no GIL data, never "100% no gil"', { skip: noCorpus }, async (t) => {
  const input = await gilState(`${corpus}ex0-sched.perf.txt.gz`);
  for (const extra of [[], ['--per4m']]) {
    const r = await runBin('gil-stats', [input, '--format', 'table', ...extra]);
    t.equal(r.exitCode, 0);
    t.match(r.stdout, /no GIL data/);
    t.notMatch(r.stdout, /no gil|has gil|gil wait|wait p50/, 'no GIL columns at all');
    t.match(r.stdout, /running %/, 'the scheduler states it does know');
  }
  const s = await json([input]);
  t.equal(s.gil_data, false);
  t.ok(s.threads.every((x) => x.derived!.no_gil_pct === null && x.derived!.per4m.no_gil_pct === null));
  const r = await runBin('gil-stats', [input, '--format', 'json']);
  t.match(r.stderr, /^gil-stats: .*: no GIL data/m, 'and on stderr when the output is for machines, naming its input');
});

t.test('--merge of per-capture summaries equals one run over all the captures', { skip: noHog || noCorpus }, async (t) => {
  const a = await gilState(hogFixture);
  const b = await gilState(`${corpus}ex1-uprobes.perf.txt.gz`);
  const c = await gilState(`${corpus}ex3-uprobes.perf.txt.gz`);
  const opt = ['--interval', '50ms', '--hog', '5ms'];
  for (const [f, out] of [
    [a, 'a.json'],
    [b, 'b.json'],
    [c, 'c.json.gz'],
  ]) {
    const r = await runBin('gil-stats', [f!, ...opt, '-o', join(tmp, out!)]);
    t.equal(r.exitCode, 0, `${out}: ${r.stderr}`);
  }
  const merged = await json(['--merge', join(tmp, 'a.json'), join(tmp, 'b.json'), join(tmp, 'c.json.gz')]);
  const together = await json([a, b, c, ...opt]);
  t.same(merged, together);
  t.equal(merged.captures, 3);
  t.ok(merged.windows.length > 10, 'windows came along');
  const bad = await runBin('gil-stats', ['--merge', join(tmp, 'a.json'), a]);
  t.equal(bad.exitCode, 1, 'an NDJSON file is not a summary');
  t.match(bad.stderr, /^gil-stats: .*gil\.ndjson:1: not JSON/m);
  const mixed = await runBin('gil-stats', ['--merge', join(tmp, 'a.json'), join(tmp, 'b2.json')]);
  t.equal(mixed.exitCode, 2, 'a missing file is a usage error');
  await runBin('gil-stats', [b, '-o', join(tmp, 'b3.json')]);
  const opts = await runBin('gil-stats', ['--merge', join(tmp, 'a.json'), join(tmp, 'b3.json')]);
  t.equal(opts.exitCode, 1);
  t.match(opts.stderr, /different options/);
  // The summaries were counted with their options: one given to --merge would be ignored, so it is refused.
  for (const flag of [['--hog', '50ms'], ['--switch-interval=2ms']]) {
    const r = await runBin('gil-stats', ['--merge', join(tmp, 'a.json'), ...flag]);
    t.equal(r.exitCode, 2, `${flag[0]}: a usage error with --merge`);
    t.match(r.stderr, /--merge takes the options the summaries were made with; drop --(hog|switch-interval)/);
    t.equal(r.stdout, '', 'and no summary');
  }
  const twice = await runBin('gil-stats', ['--merge', '-', '-'], { input: readFileSync(join(tmp, 'a.json')) });
  t.equal(twice.exitCode, 2, 'stdin twice: a usage error, not "-:1: not JSON"');
  t.match(twice.stderr, /stdin \(-\) can be given only once/);
});

t.test('--interval: windows add up to the totals; CSV for plotting', { skip: noHog }, async (t) => {
  const input = await gilState(hogFixture);
  const s = await json([input, '--interval', '100ms']);
  for (const p of s.processes.filter((x) => x.gil)) {
    const ws = s.windows.filter((w) => w.pid === p.pid);
    t.equal(ws.reduce((n, w) => n + w.hold_ns, 0), p.hold_ns, 'hold');
    t.equal(ws.reduce((n, w) => n + w.wait_ns, 0), p.wait_ns, 'wait');
    t.equal(ws.reduce((n, w) => n + w.contended_ns, 0), p.contended_ns, 'contention');
    t.ok(ws.every((w) => w.start_ns % 100_000_000 === 0 && w.hold_ns <= 100_000_000), 'aligned windows, at most one holder at a time');
  }
  const csv = parseCsv(await stats([input, '--interval', '100ms', '--format', 'csv']));
  t.same(Object.keys(csv[0]!), ['pid', 'start_ns', 'wait_ns', 'hold_ns', 'contended_ns', 'wait_per_s', 'held_pct', 'contention_pct']);
  t.equal(csv.length, s.windows.length);
});

t.test('bad input and bad usage: messages and exit codes', async (t) => {
  const f = join(tmp, 'bad.ndjson');
  writeFileSync(
    f,
    [
      '{"type":"span","pid":1,"tid":1,"family":"gil","state":"hold","ts":0,"dur":5}',
      'not json at all',
      '{"type":"span","pid":1,"tid":1,"family":"gil","state":"hold","ts":10}',
      '{"type":"capture","first_ts":0,"last_ts":20,"gil_source":"take_gil","lost":0,"anomalies":0}',
    ].join('\n') + '\n',
  );
  const lenient = await runBin('gil-stats', [f, '--format', 'json']);
  t.equal(lenient.exitCode, 0);
  t.match(lenient.stderr, `gil-stats: skipped 2 unusable records (first: ${f}:2: not JSON`);
  t.equal(JSON.parse(lenient.stdout as string).processes[0].hold_ns, 5, 'the good record counted');
  const strict = await runBin('gil-stats', [f, '--strict']);
  t.equal(strict.exitCode, 1);
  t.match(strict.stderr, `gil-stats: ${f}:2: not JSON`);
  t.notMatch(strict.stderr, /at .*\.js:\d+/, 'no stack trace');
  t.equal((await runBin('gil-stats', [f, '--hog', 'soon'])).exitCode, 2);
  t.equal((await runBin('gil-stats', [join(tmp, 'nope.ndjson')])).exitCode, 2);
  t.equal((await runBin('gil-stats', ['--merge'])).exitCode, 2);
  const gz = join(tmp, 'in.ndjson.gz');
  writeFileSync(gz, gzipSync(readFileSync(f)));
  const out = join(tmp, 'out.csv');
  const r = await runBin('gil-stats', [gz, '-o', out]);
  t.equal(r.exitCode, 0);
  t.match(readFileSync(out, 'utf8'), /^pid,tid,comm,main,total_ns,/, '-o x.csv writes CSV');
  const piped = await runBin('gil-stats', ['--format', 'json'], { input: readFileSync(f) });
  t.equal(JSON.parse(piped.stdout as string).sources[0], 'stdin');
});

t.test('two processes, two GILs: blame never crosses a process', { skip: existsSync(fixtures + 'two_procs.perf.txt.gz') ? false : 'no two_procs fixture' }, async (t) => {
  const truth = JSON.parse(readFileSync(fixtures + 'two_procs.truth.json', 'utf8'));
  const s = await json([await gilState(fixtures + 'two_procs.perf.txt.gz')]);
  for (const child of truth.children as Array<{ pid: number; main_tid: number; threads: Array<{ tid: number }> }>) {
    const p = s.processes.find((x) => x.pid === child.pid);
    t.ok(p?.gil, `child ${child.pid} has its own GIL figures`);
    const mine = new Set([child.main_tid, ...child.threads.map((x) => x.tid)]);
    t.ok(p!.blame.length > 0, `child ${child.pid}: its threads waited for each other`);
    t.ok(
      p!.blame.every((b) => mine.has(b.waiter) && mine.has(b.holder)),
      `child ${child.pid}: every blame pair is two of its own threads`,
    );
    t.ok(p!.derived!.held_pct! <= 100, 'at most one holder at a time');
  }
});

t.test('a stripped interpreter (libc cond_timedwait): waits, and no word about holding', { skip: existsSync(fixtures + 'two_cpu-stripped-libc.perf.txt.gz') ? false : 'no stripped-libc fixture' }, async (t) => {
  const s = await json([await gilState(fixtures + 'two_cpu-stripped-libc.perf.txt.gz')]);
  const p = s.processes.find((x) => x.gil)!;
  t.equal(p.holds_known, false);
  t.equal(p.derived!.held_pct, null);
  t.ok(s.threads.every((x) => x.derived!.no_gil_pct === null && x.derived!.has_gil_pct === null), 'no has gil / no gil for any thread');
  t.ok(p.wait_ns > 0 && p.derived!.wait_p50_ns! > 0, 'waits measured');
});

t.test('every span given twice: the copies are refused by line, the figures are the single run\'s', { skip: noHog }, async (t) => {
  const once = await gilState(hogFixture);
  const lines = readFileSync(once, 'utf8').split('\n').filter(Boolean);
  const spans = lines.filter((l) => JSON.parse(l).type === 'span').length;
  const twice = join(tmp, 'hog-twice.ndjson');
  writeFileSync(twice, lines.flatMap((l) => (JSON.parse(l).type === 'span' ? [l, l] : [l])).join('\n') + '\n');
  const r = await runBin('gil-stats', [twice, '--format', 'json']);
  t.equal(r.exitCode, 0);
  // The first copy is line 2 of the doubled file when line 1 is a span.
  t.match(r.stderr, new RegExp(`skipped ${spans} unusable records \\(first: ${twice}:\\d+: a (gil|sched) \\w+ span of thread \\d+ at \\d+ that overlaps one of its spans before it`));
  const a: GilStatsJSON = JSON.parse(await stats([once, '--format', 'json']));
  const b: GilStatsJSON = JSON.parse(r.stdout as string);
  const bare = (s: GilStatsJSON) => JSON.stringify({ threads: s.threads, processes: s.processes, top: s.top }).replaceAll(JSON.stringify(twice), JSON.stringify(once));
  t.equal(bare(b), bare(a), 'the same threads, processes and longest lists as from the spans given once');
  for (const x of b.threads) t.ok(x.derived!.has_gil_pct === null || x.derived!.has_gil_pct <= 100, `thread ${x.tid}: has gil within 100 %`);
});

t.test('a stream given again after itself, its capture record cut off: every record of the copy refused, the figures the single run\'s', { skip: noHog }, async (t) => {
  // Without the capture record, nothing names the copy as the same capture:
  // only the records themselves can. The copy's spans start long before
  // the latest span, so the check against the span just before is not enough.
  const once = await gilState(hogFixture);
  const lines = readFileSync(once, 'utf8')
    .split('\n')
    .filter((l) => l !== '' && JSON.parse(l).type !== 'capture');
  const cut = join(tmp, 'hog-cut.ndjson');
  const again = join(tmp, 'hog-again.ndjson');
  writeFileSync(cut, lines.join('\n') + '\n');
  writeFileSync(again, [...lines, ...lines].join('\n') + '\n');
  const r = await runBin('gil-stats', [again, '--format', 'json']);
  t.equal(r.exitCode, 0);
  t.match(r.stderr, new RegExp(`skipped ${lines.length} unusable records \\(first: ${again}:${lines.length + 1}: `), 'each line of the copy, the first of them named');
  const a: GilStatsJSON = JSON.parse(await stats([cut, '--format', 'json']));
  const b: GilStatsJSON = JSON.parse(r.stdout as string);
  const bare = (s: GilStatsJSON) => JSON.stringify({ threads: s.threads, processes: s.processes, top: s.top }).replaceAll(again, cut);
  t.equal(bare(b), bare(a), 'the same threads, processes and longest lists as from the stream given once');

  // The spans alone first, then the whole stream: its thread records are
  // not the second, yet no percentage may pass 100.
  const spansFirst = join(tmp, 'hog-spans-first.ndjson');
  writeFileSync(spansFirst, [...lines.filter((l) => JSON.parse(l).type === 'span'), ...lines].join('\n') + '\n');
  const c: GilStatsJSON = JSON.parse(await stats([spansFirst, '--format', 'json']));
  const pcts = c.threads.flatMap((x) => Object.entries(x.derived!).filter(([k, v]) => k.endsWith('_pct') && v !== null).map(([k, v]) => [x.tid, k, v as number] as const));
  t.ok(pcts.length > 0 && pcts.every(([, , v]) => v >= 0 && v <= 100), 'every thread percentage within [0, 100]');
  t.same(c.threads.map((x) => [x.tid, x.hold_ns, x.wait_ns, x.running_ns]), a.threads.map((x) => [x.tid, x.hold_ns, x.wait_ns, x.running_ns]), 'and the sums are the single run\'s');
});
