// Finding the code: on real recordings of examples/workloads/pool_hog.py
// (test/fixtures/pool_hog-py3XX, with DWARF callchains on the GIL probes and
// sched_switch), gil-stats names the thread, the Python function and the C
// code that made the pool wait, ranks holds by the wait they caused, and its
// folded stacks weigh the holder's code by that wait. Every expected name
// and number comes from how the workload is built and what it measured
// (the truth JSON): the hog's tid and name, parse_all, the workers' stall.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, runBin } from '../helpers/run.js';
import type { GilStatsJSON } from '../../filters/gil-stats.js';
import type { HogEntry } from '../../filters/gil-stats/summary.js';
import { fmtTs } from '../../filters/gil-stats/format.js';

const fixtures = join(root, 'test/fixtures/');

interface Truth {
  python: string;
  hog_tid: number;
  names: Record<string, string>;
  parse_all_start_ns: number;
  match_end_ns: number;
  tidy_up_start_ns: number;
  tidy_up_end_ns: number;
  stall_in_match_ns: number;
  set_comm: boolean;
}

function fixture(name: string): { capture: string; truth: Truth } | string {
  const capture = `${fixtures}${name}.perf.txt.gz`;
  if (!existsSync(capture)) return `${capture} has not been recorded (sudo test/fixtures/record.sh ${name})`;
  return { capture, truth: JSON.parse(readFileSync(`${fixtures}${name}.truth.json`, 'utf8')) as Truth };
}

async function stats(capture: string, ...args: string[]): Promise<string> {
  const r = await runBin('gil-stats', [capture, ...args]);
  if (r.exitCode !== 0) throw new Error(`gil-stats ${args.join(' ')}: ${String(r.stderr)}`);
  return String(r.stdout);
}

/** The verdict's sentences, one per line: the table wraps them at 120 columns, continuing under their text. */
function verdictLines(table: string): string[] {
  const out: string[] = [];
  for (const l of table.slice(0, table.indexOf('Threads (')).split('\n')) {
    if (/^ {5,}\S/.test(l) && out.length > 0) out[out.length - 1] += ` ${l.trim()}`;
    else out.push(l);
  }
  return out;
}

/** The hog entry that is the parse_all call: the hog's hold that overlaps the match. */
function parseAllHold(hogs: HogEntry[], truth: Truth): HogEntry | undefined {
  return hogs.find((h) => h.tid === truth.hog_tid && h.ts < truth.match_end_ns && h.ts + h.dur_ns > truth.parse_all_start_ns);
}

for (const name of ['pool_hog-py312', 'pool_hog-py313']) {
  const fx = fixture(name);
  t.test(`${name}: the verdict names the thread hog, parse_all and the regex's C code`, { skip: typeof fx === 'string' ? fx : false }, async (t) => {
    const { capture, truth } = fx as Exclude<typeof fx, string>;
    t.ok(truth.set_comm, 'the recording gave the threads their threading names');
    const s = JSON.parse(await stats(capture, '--format', 'json')) as GilStatsJSON;
    const p = s.processes.find((x) => x.hogs.count > 0)!;
    const first = p.hogs.longest[0]!;
    t.equal(first.tid, truth.hog_tid, 'the most harmful hold is the hog thread\'s');
    t.equal(first.comm, truth.names[String(truth.hog_tid)], 'named as the thread named itself');
    t.equal(first.python?.function, 'parse_all', 'in parse_all');
    t.match(first.python?.file, /pool_hog\.py$/, 'of pool_hog.py');
    t.match(first.native, /^sre_/, "calling _sre's match, the C code that keeps the GIL");
    t.same(parseAllHold(p.hogs.longest, truth), first, 'and it is the hold that spans the match');

    const table = await stats(capture, '--format', 'table');
    const cause = verdictLines(table).find((l) => /^\s*1\. /.test(l));
    t.ok(cause, 'the verdict lists a first cause');
    t.match(cause, new RegExp(`^\\s*1\\. hog \\(${truth.hog_tid}\\) made others wait`), 'naming the thread first');
    t.match(cause, /parse_all\(\)/, '... the Python function');
    t.match(cause, /sre_\w+/, '... and the C function below it');
    t.ok(table.indexOf(cause!) < table.indexOf('Threads ('), 'before the detailed tables');

    // Waits: the waiter's Python frame at take_gil.
    const workerTids = new Set(Object.entries(truth.names).filter(([, n]) => n.startsWith('ThreadPoolExecutor')).map(([tid]) => Number(tid)));
    const workerWaits = s.top.waits.filter((w) => workerTids.has(w.tid));
    t.ok(workerWaits.length > 0, 'workers are among the longest waits');
    t.ok(workerWaits.every((w) => w.python?.function !== undefined && w.stack!.length > 0), "each with the waiter's Python function and stack");
  });

  t.test(`${name}: the folded blame graph weighs parse_all by the workers' stall`, { skip: typeof fx === 'string' ? fx : false }, async (t) => {
    const { capture, truth } = fx as Exclude<typeof fx, string>;
    const folded = (await stats(capture, '--format', 'folded')).trimEnd().split('\n');
    const lines = folded.map((l) => {
      const cut = l.lastIndexOf(' ');
      return { frames: l.slice(0, cut).split(';'), us: Number(l.slice(cut + 1)) };
    });
    t.ok(lines.every((l) => Number.isInteger(l.us) && l.us > 0 && l.frames.length > 0), 'every line is frames and a weight');
    const heaviest = lines.reduce((a, b) => (b.us > a.us ? b : a));
    t.equal(heaviest.frames[0], 'hog', 'the heaviest holder stack is under the thread hog');
    t.ok(heaviest.frames.some((f) => f.startsWith('py::parse_all:')), 'and contains parse_all');
    const stall = truth.stall_in_match_ns / 1000;
    t.ok(Math.abs(heaviest.us - stall) <= 0.05 * stall, `its blame ${heaviest.us} µs is the workers' stall ${stall.toFixed(0)} µs within 5%`);
    const waits = await stats(capture, '--format', 'folded', '--weight', 'wait');
    t.match(waits, /^ThreadPoolExecu;/m, "the wait graph has the workers' stacks");
  });

  t.test(`${name}: a hold nobody waited for ranks below a contended shorter one`, { skip: typeof fx === 'string' ? fx : false }, async (t) => {
    const { capture, truth } = fx as Exclude<typeof fx, string>;
    const s = JSON.parse(await stats(capture, '--format', 'json')) as GilStatsJSON;
    const hogs = s.processes.find((x) => x.hogs.count > 0)!.hogs.longest;
    const parseAll = parseAllHold(hogs, truth)!;
    // tidy_up runs after every worker finished: the longest hold, harming (nearly) nobody.
    const tidy = hogs.find((h) => h.tid === truth.hog_tid && h.ts < truth.tidy_up_end_ns && h.ts + h.dur_ns > truth.tidy_up_start_ns);
    t.ok(tidy, 'the tidy_up hold is a hog');
    t.ok(tidy!.dur_ns > parseAll.dur_ns, 'longer than the parse_all hold');
    t.ok(hogs.indexOf(tidy!) > hogs.indexOf(parseAll), 'and ranked below it');
    t.ok((tidy!.blamed_ns ?? 0) < 0.01 * parseAll.blamed_ns!, 'it caused next to no waiting');
    const idle = hogs.filter((h) => h.uncontended);
    t.ok(idle.length > 0, 'holds with no waiter at all are marked uncontended');
    t.ok(idle.every((h) => h.blamed_ns === 0 && hogs.indexOf(h) > hogs.indexOf(parseAll)), 'and come after the harmful ones');
  });
}

const py311 = fixture('pool_hog-py311');
t.test('pool_hog-py311: the thread and the native frame, and why no Python frames', { skip: typeof py311 === 'string' ? py311 : false }, async (t) => {
  const { capture, truth } = py311 as Exclude<typeof py311, string>;
  t.match(truth.python, /^3\.11\./);
  const s = JSON.parse(await stats(capture, '--format', 'json')) as GilStatsJSON;
  const first = s.processes.find((x) => x.hogs.count > 0)!.hogs.longest[0]!;
  t.equal(first.tid, truth.hog_tid);
  t.equal(first.comm, 'hog');
  t.equal(first.python, null, 'no Python frame to name');
  t.match(first.native, /^sre_/, "the C function: _sre's match");
  const table = await stats(capture, '--format', 'table');
  const verdict = verdictLines(table).join('\n');
  t.match(verdict, new RegExp(`^\\s*1\\. hog \\(${truth.hog_tid}\\) .*in the C function sre_\\w+`, 'm'), 'the verdict names the thread and the C function');
  t.match(verdict, /No Python frames in the stacks: .*3\.12\+ .*-X perf/, 'and says why there are no Python frames');
});

const hostile = fixture('comm_names-hostile');
t.test('folded stacks: hostile thread names cannot split a line, a stack or drive a terminal', { skip: typeof hostile === 'string' ? hostile : false }, async (t) => {
  const { capture } = hostile as Exclude<typeof hostile, string>;
  for (const weight of ['blame', 'wait']) {
    const text = await stats(capture, '--format', 'folded', '--weight', weight);
    const lines = text.trimEnd().split('\n');
    t.ok(lines.length > 1, `${weight}: lines`);
    // eslint-disable-next-line no-control-regex
    t.notOk(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(text), `${weight}: no control character reaches the file`);
    t.ok(lines.every((l) => /^[^;]+;\[no stack recorded\] \d+$/.test(l)), `${weight}: each line is one name, one frame and a weight (no stacks in this capture)`);
    t.ok(lines.some((l) => l.startsWith('?[2Jclear;')), `${weight}: ESC became ?`);
  }
});

interface FsyncTruth {
  journal_tid: number;
  fsyncs: Array<{ start_ns: number; end_ns: number }>;
}
const fsyncHog = (() => {
  const capture = `${fixtures}fsync_hog-py312.perf.txt.gz`;
  if (!existsSync(capture)) return 'test/fixtures/fsync_hog-py312.perf.txt.gz has not been recorded (sudo test/fixtures/record.sh fsync_hog-py312)';
  return { capture, truth: JSON.parse(readFileSync(`${fixtures}fsync_hog-py312.truth.json`, 'utf8')) as FsyncTruth };
})();
t.test('fsync_hog-py312: a holder blocked in fsync is explained as blocked, in the kernel path of fsync', { skip: typeof fsyncHog === 'string' ? fsyncHog : false }, async (t) => {
  const { capture, truth } = fsyncHog as Exclude<typeof fsyncHog, string>;
  // Each fsync here takes a few ms (a VM disk with a write cache): hogs from 1 ms.
  const s = JSON.parse(await stats(capture, '--format', 'json', '--hog', '1ms')) as GilStatsJSON;
  const hogs = s.processes.find((x) => x.hogs.count > 0)!.hogs.longest;
  const calls = truth.fsyncs.filter((c) => c.end_ns - c.start_ns > 2_000_000);
  t.ok(calls.length >= 3, `the workload made ${calls.length} fsync calls over 2 ms`);
  let explained = 0;
  for (const c of calls) {
    // The GIL is held through the whole call (ctypes.PyDLL): a hold of the journal thread covers it.
    const h = hogs.find((x) => x.tid === truth.journal_tid && x.ts <= c.start_ns && x.ts + x.dur_ns >= c.end_ns);
    if (!h) continue;
    explained++;
    const asleep = h.sched!.sleeping_ns + h.sched!.blocked_ns;
    t.ok(asleep >= 0.5 * (c.end_ns - c.start_ns) && asleep <= h.dur_ns, `a hold of ${(h.dur_ns / 1e6).toFixed(1)} ms over an fsync of ${((c.end_ns - c.start_ns) / 1e6).toFixed(1)} ms: asleep or blocked ${(asleep / 1e6).toFixed(1)} ms of it`);
    t.match(h.sched!.blocked_in, / in fsync$/, `blocked in the kernel under fsync (${h.sched!.blocked_in})`);
    t.equal(h.native, 'fsync', 'the C function is libc\'s fsync');
    t.equal(h.python?.function, 'journal', 'called from journal()');
  }
  t.ok(explained >= calls.length / 2, `${explained} of the ${calls.length} calls are within a recorded hold`);
  const table = await stats(capture, '--format', 'table', '--hog', '1ms');
  const line = verdictLines(table).find((l) => /^\s*\d\. journal \(/.test(l));
  t.match(line, /off a CPU \d+% of that hold: asleep or blocked .* in fsync\)/, 'the verdict says the holder was blocked, in fsync');
  t.match(verdictLines(table).join('\n'), /Try: release the GIL around the blocking call/, 'and what to do');
  // A long wait of the cpu thread while journal held: the waits table says what the holder was doing.
  const w = s.top.waits.find((x) => x.holder === truth.journal_tid && truth.fsyncs.some((c) => c.start_ns < x.ts + x.dur_ns && c.end_ns > x.ts));
  t.ok(w, 'a longest wait is for a journal hold over an fsync');
  const row = table.split('\n').find((l) => new RegExp(`^\\s*${w!.tid}\\s+\\S+ \\S+\\s+${fmtTs(w!.ts - s.first_ts!).replace('.', '\\.')}\\s`).test(l));
  t.match(row, new RegExp(`\\s${truth.journal_tid}\\s+running \\d+%.*asleep \\d+% \\(\\w+ in fsync\\)`), `its row says the holder was asleep, in fsync: ${row?.trim()}`);
});

t.test('--merge --format folded is a usage error: summaries keep no stacks', async (t) => {
  const r = await runBin('gil-stats', ['--merge', 'a.json', 'b.json', '--format', 'folded']);
  t.equal(r.exitCode, 2);
  t.match(String(r.stderr), /folded stacks \(--format folded, -o FILE.folded\) need the recordings/);
});
