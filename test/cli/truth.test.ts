// Figures that must be true whatever the input's format: checked against
// counts made independently from the raw probe lines, and against the
// invariants (a thread is in one state of a family at a time, within its life).
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin, corpus, hasCorpus } from '../helpers/run.js';
import { pipeline } from '../helpers/in-process.js';
import { gilLines } from '../helpers/raw-probes.js';
import { collectingContext } from '../../lib/filter.js';
import { GilStats } from '../../filters/gil-stats.js';
import type { GilStatsJSON } from '../../filters/gil-stats/summary.js';
import { narrow } from '../../filters/records.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Per thread, wait and hold from take_gil/drop_gil probe lines alone: entry to return, return to drop. */
function rawProbeTimes(path: string): Map<number, { wait: number; hold: number; ends: Set<number> }> {
  const out = new Map<number, { wait: number; hold: number; ends: Set<number> }>();
  const state = new Map<number, { phase: string; since: number }>();
  for (const { tid, ts, ev } of gilLines(path)) {
    const s = state.get(tid);
    const acc = out.get(tid) ?? { wait: 0, hold: 0, ends: new Set<number>() };
    out.set(tid, acc);
    if (ev === 'take_gil') state.set(tid, { phase: 'wait', since: ts });
    else if (ev === 'take_gil__return') {
      if (s?.phase === 'wait') {
        acc.wait += ts - s.since;
        acc.ends.add(ts);
      }
      state.set(tid, { phase: 'hold', since: ts });
    } else if (ev === 'drop_gil') {
      if (s?.phase === 'hold') {
        acc.hold += ts - s.since;
        acc.ends.add(ts);
      }
      state.set(tid, { phase: 'handoff', since: ts });
    } else state.delete(tid);
  }
  return out;
}

type Rec = Record<string, any>;
function gilTimes(records: Rec[], complete: boolean): Map<number, { wait: number; hold: number }> {
  const out = new Map<number, { wait: number; hold: number }>();
  for (const r of records) {
    if (r.type !== 'span' || r.family !== 'gil' || (complete && (r.partial || r.unknown || r.truncated))) continue;
    const acc = out.get(r.tid) ?? { wait: 0, hold: 0 };
    out.set(r.tid, acc);
    if (r.state === 'wait') acc.wait += r.dur;
    if (r.state === 'hold') acc.hold += r.dur;
  }
  return out;
}

t.test('two processes in perf script default format: per-thread figures are right and do not depend on the grouping', async (t) => {
  const def = await pipeline(fx + 'two_procs.default.perf.txt.gz');
  const withPid = await pipeline(fx + 'two_procs.perf.txt.gz');
  const truth = JSON.parse(readFileSync(fx + 'two_procs.default.truth.json', 'utf8'));
  const raw = rawProbeTimes(fx + 'two_procs.default.perf.txt.gz');
  // gil-state's spans that end where a probe pair ends; a hold that ends at the thread's exit is no pair.
  const paired = def.records.filter((r) => r.type !== 'span' || raw.get(r.tid)?.ends.has(r.ts + r.dur));
  const got = gilTimes(paired, true);
  const workers = truth.children.flatMap((c: any) => c.threads.map((x: any) => x.tid));
  t.equal(workers.length, 4);
  for (const [tid, r] of raw) {
    const g = got.get(tid) ?? { wait: 0, hold: 0 };
    // Complete spans are exactly what the raw probe pairs measure: within 1 %.
    t.ok(Math.abs(g.hold - r.hold) <= 0.01 * r.hold + 1000, `${tid}: hold ${g.hold} vs raw ${r.hold}`);
    t.ok(Math.abs(g.wait - r.wait) <= 0.01 * r.wait + 1000, `${tid}: wait ${g.wait} vs raw ${r.wait}`);
  }
  // All spans, partial ones too: the same per thread whether the pid column was there or not.
  const a = gilTimes(def.records, false);
  const b = gilTimes(withPid.records, false);
  for (const [tid, x] of b) {
    const y = a.get(tid)!;
    t.ok(Math.abs(x.hold - y.hold) <= 0.001 * x.hold + 2000 * 20, `${tid}: hold with pid ${x.hold}, without ${y.hold}`);
    t.ok(Math.abs(x.wait - y.wait) <= 0.001 * x.wait + 2000 * 20, `${tid}: wait with pid ${x.wait}, without ${y.wait}`);
  }
  const proc = def.records.filter((r) => r.type === 'process' && r.gil);
  t.ok(proc.some((p) => p.pids === 'inferred' && p.two_holders > 0), 'the guessed grouping is marked, with the conflicts it caused');
  t.ok(withPid.records.filter((r) => r.type === 'process').every((p) => p.pids === 'recorded' && p.two_holders === 0), 'with pids: recorded, no conflict');
});

/** The invariant of gil-state's spans: per thread and family, disjoint. */
function overlaps(records: Rec[]): string[] {
  const spans = new Map<string, Array<[number, number]>>();
  for (const r of records) {
    if (r.type !== 'span') continue;
    const k = `${r.tid} ${r.family}`;
    (spans.get(k) ?? spans.set(k, []).get(k)!).push([r.ts, r.ts + r.dur]);
  }
  const errors: string[] = [];
  for (const [k, list] of spans) {
    list.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < list.length; i++) if (list[i]![0] < list[i - 1]![1]) errors.push(`${k}: ${list[i - 1]} overlaps ${list[i]}`);
  }
  return errors;
}

/** The invariants of gil-stats' figures: every percentage in [0, 100], each thread's states adding up to at most 100. */
function impossible(s: GilStatsJSON): string[] {
  const errors: string[] = [];
  const within = (what: string, v: number | null | undefined): void => {
    if (v !== null && v !== undefined && !(v >= 0 && v <= 100 + 1e-9)) errors.push(`${what} = ${v}`);
  };
  for (const t of s.threads) {
    const d = t.derived!;
    for (const [k, v] of Object.entries(d)) if (k.endsWith('_pct')) within(`thread ${t.tid} ${k}`, v as number | null);
    within(`thread ${t.tid} scheduler states`, (d.running_pct ?? 0) + (d.runnable_pct ?? 0) + (d.sleeping_pct ?? 0) + (d.blocked_pct ?? 0));
    within(`thread ${t.tid} GIL states`, (d.no_gil_pct ?? 0) + (d.has_gil_pct ?? 0) + (d.handoff_pct ?? 0) + (d.wait_pct ?? 0));
    for (const [k, v] of Object.entries(d.per4m)) if (k.endsWith('_pct')) within(`thread ${t.tid} per4m ${k}`, v as number | null);
    within(`thread ${t.tid} per4m states`, (d.per4m.no_gil_pct ?? 0) + (d.per4m.has_gil_pct ?? 0) + (d.per4m.wait_pct ?? 0));
  }
  for (const p of s.processes) {
    const d = p.derived!;
    within(`process ${p.pid} held`, d.held_pct);
    within(`process ${p.pid} contended`, d.contention_pct);
    within(`process ${p.pid} forced`, d.forced_pct);
    within(`process ${p.pid} held off-CPU`, d.held_offcpu_pct);
    for (const b of p.blame) within(`process ${p.pid} blame ${b.waiter}/${b.holder}`, b.derived?.pct_of_wait);
  }
  return errors;
}

function summarise(records: Rec[]): GilStatsJSON {
  let summary: GilStatsJSON | undefined;
  const ctx = collectingContext();
  const stats = new GilStats((s) => (summary = s), ctx);
  for (const r of records) {
    const rec = narrow(r);
    if (typeof rec !== 'string') stats.write(rec);
  }
  stats.end();
  return summary!;
}

const captures = [
  ...readdirSync(fx).filter((n) => n.endsWith('.perf.txt.gz')).map((n) => fx + n),
  ...(hasCorpus ? readdirSync(corpus).filter((n) => n.endsWith('.perf.txt.gz')).map((n) => corpus + n) : []),
  // --deltatime prints gaps, not times: perf-parse says so, and no figure of it can be true.
  ...(hasCorpus ? readdirSync(corpus + 'variants').filter((n) => n.endsWith('.perf.txt.gz') && !n.includes('deltatime')).map((n) => corpus + 'variants/' + n) : []),
];
t.test('every capture: spans never overlap within a thread, and no figure is impossible', async (t) => {
  for (const path of captures) {
    const { records } = await pipeline(path);
    const name = path.split('/').slice(-1)[0]!;
    t.same(overlaps(records).slice(0, 3), [], `${name}: spans`);
    t.same(impossible(summarise(records)).slice(0, 3), [], `${name}: figures`);
  }
});

t.test('events in a shuffled order: every figure still possible, per4m\'s too (they are left out, and said)', async (t) => {
  // A seeded shuffle (mulberry32) of perf-parse's records after the header.
  let seed = 2;
  const rand = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const dir = mkdtempSync(join(tmpdir(), 'truth-shuffle-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lines = String((await execa('node', [bin('perf-parse'), fx + 'gil_hog.perf.txt.gz'])).stdout).split('\n');
  const rest = lines.slice(1);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  const shuffled = join(dir, 'shuffled.ndjson');
  writeFileSync(shuffled, [lines[0], ...rest].join('\n') + '\n');
  const r = await execa('node', [bin('gil-stats'), shuffled, '--format', 'json', '--per4m'], { reject: false });
  const s = JSON.parse(String(r.stdout)) as GilStatsJSON;
  t.same(impossible(s), [], 'no percentage outside [0, 100]');
  const left = s.threads.filter((x) => x.derived!.gil && x.derived!.per4m.has_gil_pct === null).length;
  t.ok(left > 0, `per4m's figures left out for ${left} thread(s) whose GIL time outgrew their events' span`);
  t.match(r.stderr, /--per4m: \d+ threads?'? GIL time outgrew the span of (its|their) own events/, 'and said');
});

t.test('two processes without pids: the process figures are withheld with the reason, the threads figures stand', async (t) => {
  const s = summarise((await pipeline(fx + 'two_procs.default.perf.txt.gz')).records);
  const p = s.processes.find((x) => x.gil)!;
  t.match(p.derived!.withheld, /grouped from fork records \(no pid in the input\), and \d+ times two of them held the GIL at once/);
  t.equal(p.derived!.held_pct, null);
  t.equal(p.derived!.contention_pct, null);
  t.same(p.blame, []);
  t.ok(s.threads.filter((x) => x.derived!.gil).every((x) => x.derived!.has_gil_pct !== null), 'each thread keeps its has-gil figure');
  const withPid = summarise((await pipeline(fx + 'two_procs.perf.txt.gz')).records);
  t.ok(withPid.processes.filter((x) => x.gil).every((x) => x.derived!.withheld === null && x.derived!.held_pct !== null), 'with pids: all told');
});

t.test('a capture given twice in one stream counts once, with a note; in two files it is refused', async (t) => {
  const f = fx + 'gil_hog.perf.txt.gz';
  const once = await execa('sh', ['-c', `node ${bin('perf-parse')} "$1" | node ${bin('gil-state')}`, 'sh', f], { stripFinalNewline: false });
  const catted = await execa('sh', ['-c', `zcat "$1" "$1" | node ${bin('perf-parse')} | node ${bin('gil-state')}`, 'sh', f], { stripFinalNewline: false, reject: false });
  t.ok(catted.stdout === once.stdout, 'cat a a | perf-parse | gil-state: the same records as once');
  t.match(catted.stderr, /gil-state: dropped \d+ events seen before \(the input started over 1 time: the same capture given twice\?\)/);
  const parsed = await execa('node', [bin('perf-parse'), f], { stripFinalNewline: false });
  const dir = mkdtempSync(join(tmpdir(), 'truth-twice-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Two files are two captures: the same one in both is refused, as gil-stats and to-trace refuse it, before any of the second is written.
  const twice = await execa('sh', ['-c', `node ${bin('perf-parse')} "$1" > "$2" && node ${bin('gil-state')} "$2" "$2"`, 'sh', f, join(dir, 'records.ndjson')], { stripFinalNewline: false, reject: false });
  t.equal(twice.exitCode, 1, 'gil-state a a: exit 1');
  t.match(twice.stderr, /^gil-state: \S*records\.ndjson:\d+: the same capture as in \S*records\.ndjson \(capture id [0-9a-f]{16}\): give each capture once$/m);
  t.ok(twice.stdout === once.stdout, 'gil-state a a: the records of the first, and nothing of the second');
  t.ok(parsed.stdout.length > 0);
});

t.test('records perf record wrote twice count once: the lost events too, and the note reconciles the counts', async (t) => {
  // Recorded with a one-page buffer and DWARF stacks; perf record wrote a few
  // records twice (the same line to the nanosecond, PERF_RECORD_LOST among them).
  const f = fx + 'copied.perf.txt.gz';
  const seen = new Set<string>();
  let repeated = 0;
  let lostOnce = 0;
  let lostRepeated = 0;
  for (const line of gunzipSync(readFileSync(f)).toString('utf8').split('\n')) {
    const m = / PERF_RECORD_LOST lost (\d+)$/.exec(line);
    if (seen.has(line)) {
      repeated++;
      if (m) lostRepeated += Number(m[1]);
    } else if (m) lostOnce += Number(m[1]);
    seen.add(line);
  }
  t.ok(repeated > 0 && lostRepeated > 0, `the capture has ${repeated} lines written twice, ${lostRepeated} lost events among them`);
  const r = await execa('sh', ['-c', `node ${bin('perf-parse')} "$1" | node ${bin('gil-state')} | node ${bin('gil-stats')} --format json`, 'sh', f], { reject: false });
  t.equal(r.exitCode, 0, r.stderr);
  t.equal(JSON.parse(r.stdout).lost, lostOnce, `perf lost ${lostOnce} events, each LOST line counted once`);
  t.match(r.stderr, `gil-state: dropped ${repeated} events seen before, among them PERF_RECORD_LOST records of ${lostRepeated} lost event${lostRepeated === 1 ? '' : 's'}, so ${lostOnce} are counted lost: each counts once`);
  t.match(r.stderr, new RegExp(`perf-parse: .*copied.perf.txt.gz: perf lost ${lostOnce + lostRepeated} events while recording`), 'the reader counts every LOST record it read');
});

t.test('the same capture twice is refused by gil-stats, to-trace and --merge, under any name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'truth-capture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const states = (await execa('node', [bin('gil-state'), fx + 'gil_hog.perf.txt.gz'], { stripFinalNewline: false })).stdout as string;
  writeFileSync(join(dir, 'a.ndjson'), states);
  writeFileSync(join(dir, 'copy.ndjson'), states);
  const twice = await execa('node', [bin('gil-stats'), join(dir, 'a.ndjson'), join(dir, 'copy.ndjson'), '--format', 'json'], { reject: false });
  t.equal(twice.exitCode, 1);
  t.match(twice.stderr, /copy\.ndjson:\d+: the same capture as in .*a\.ndjson \(capture id [0-9a-f]{16}\): give each capture once/);
  t.equal(twice.stdout, '', 'no summary that would count it twice');
  // to-trace would draw every span twice: refused alike, and -o writes nothing.
  const trace = join(dir, 'twice.json');
  const drawn = await execa('node', [bin('to-trace'), join(dir, 'a.ndjson'), join(dir, 'copy.ndjson'), '-o', trace], { reject: false });
  t.equal(drawn.exitCode, 1, 'to-trace: exit 1');
  t.match(drawn.stderr, /to-trace: .*copy\.ndjson:\d+: the same capture as in .*a\.ndjson \(capture id [0-9a-f]{16}\): give each capture once/);
  t.notOk(existsSync(trace), 'no trace that would draw it twice');
  const summary = join(dir, 'a.json');
  await execa('node', [bin('gil-stats'), join(dir, 'a.ndjson'), '-o', summary]);
  const merged = await execa('node', [bin('gil-stats'), '--merge', summary, summary], { reject: false });
  t.equal(merged.exitCode, 1);
  t.match(merged.stderr, /cannot merge: .*a\.json and .*a\.json hold the same capture/);
  const other = join(dir, 'b.json');
  await execa('sh', ['-c', `node ${bin('gil-state')} "$1" | node ${bin('gil-stats')} -o "$2"`, 'sh', fx + 'two_cpu.perf.txt.gz', other]);
  const ok = await execa('node', [bin('gil-stats'), '--merge', summary, other, '--format', 'json']);
  t.equal(JSON.parse(ok.stdout as string).captures, 2, 'two different captures merge');
});

t.test('probes and switch-out stacks together: a wait counts once, from the probes', async (t) => {
  const path = fx + 'two_cpu-probes-dwarf.perf.txt.gz';
  const { records } = await pipeline(path);
  t.equal(records.filter((r) => r.type === 'span' && r.via === 'stack').length, 0, 'no wait inferred from stacks where probes fire');
  const text = gunzipSync(readFileSync(path)).toString('latin1');
  t.ok(/\n\t *[0-9a-f]+ take_gil/.test(text), 'the switch-out stacks show take_gil: without probes they would be waits');
  const raw = rawProbeTimes(path);
  const paired = records.filter((r) => r.type !== 'span' || raw.get(r.tid)?.ends.has(r.ts + r.dur));
  const got = gilTimes(paired, true);
  for (const [tid, r] of raw) {
    if (r.wait === 0) continue;
    const g = got.get(tid)!;
    t.ok(Math.abs(g.wait - r.wait) <= 0.01 * r.wait + 1000, `${tid}: wait ${g.wait} vs raw ${r.wait}`);
  }
  const s = summarise(records);
  t.same(impossible(s), [], 'no wait % above 100');
});

t.test('a thread name with a newline: perf cuts its lines in two, gilpipe joins them, and its figures stay right', async (t) => {
  const file = fx + 'comm_names-newline.perf.txt.gz';
  const truth = JSON.parse(readFileSync(fx + 'comm_names-newline.truth.json', 'utf8'));
  const named = truth.threads.find((x: any) => x.expected.includes('\n'));
  t.ok(named, 'the workload named a thread with a newline');
  const { records } = await pipeline(file);
  const run = await execa('node', [bin('gil-stats'), '--format', 'json', file], { reject: false });
  t.equal(run.exitCode, 0);
  const stderr = String(run.stderr);
  const summary = JSON.parse(String(run.stdout)) as GilStatsJSON;
  t.notMatch(stderr, /malformed|no readable fields/, 'no line is left over, no switch unread');
  const th = summary.threads.find((x) => x.tid === named.tid)!;
  t.equal(th.comm, named.expected, `its name is exactly ${JSON.stringify(named.expected)}`);
  // GIL: the probe pairs read from the raw text (the halves after the newline carry the pid/tid column).
  const raw = rawProbeTimes(file).get(named.tid)!;
  const got = gilTimes(records, true).get(named.tid)!;
  t.ok(Math.abs(got.hold - raw.hold) <= 0.01 * raw.hold + 1000, `hold ${got.hold} vs raw ${raw.hold}`);
  t.ok(Math.abs(got.wait - raw.wait) <= 0.01 * raw.wait + 1000, `wait ${got.wait} vs raw ${raw.wait}`);
  // Scheduler: off-CPU time from the raw lines. This per-process recording
  // sees the thread leave a CPU (its own sched_switch line) but not always
  // come back (a switch from another process's task is not recorded): it is
  // off-CPU from a switch-out to its next line of its own, as gil-state
  // counts it without --switch-events (docs/events.md).
  const own = new RegExp(` ${truth.pid}/${named.tid} +\\[\\d+\\] +(\\d+)\\.(\\d{9}): +(\\S+):`);
  let off = 0;
  let out: number | undefined;
  for (const line of gunzipSync(readFileSync(file)).toString('utf8').split('\n')) {
    const m = own.exec(line);
    if (!m) continue;
    const ts = Number(m[1]) * 1e9 + Number(m[2]);
    if (out !== undefined) off += ts - out;
    out = m[3] === 'sched:sched_switch' ? ts : undefined;
  }
  t.ok(off > 0.5 * (named.end_ns - named.renamed_ns), `the raw switches have it off-CPU most of the time (${(off / 1e6).toFixed(1)} ms): it sleeps 2 ms a round`);
  const notRunning = th.runnable_ns + th.sleeping_ns + th.blocked_ns;
  t.ok(Math.abs(notRunning - off) <= 0.03 * off, `off-CPU ${notRunning} vs raw ${off}`);
});
