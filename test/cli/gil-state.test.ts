// gil-state on real recordings of workloads whose GIL behaviour is designed
// (examples/workloads/, recorded by test/fixtures/record.sh). Each expected
// value comes from the workload's design or from what the workload measured
// about itself (its .truth.json), never from this code's output.
import t from 'tap';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { pipeline } from '../helpers/in-process.js';
import { schemaErrors } from '../helpers/schema.js';
import { runBin, corpus, hasCorpus } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const truth = (name: string) => JSON.parse(readFileSync(`${fx}${name}.truth.json`, 'utf8'));
const capture = (name: string) => `${fx}${name}.perf.txt.gz`;

type R = Record<string, any>;
const spans = (recs: R[], f: Partial<R>) =>
  recs.filter((r) => r.type === 'span' && Object.entries(f).every(([k, v]) => r[k] === v));
const total = (ss: R[]) => ss.reduce((n, s) => n + s.dur, 0);
const within = (got: number, want: number, frac: number) => Math.abs(got - want) <= want * frac;

/** Longest time during which two holds of the same pid overlap (0 when they never do). */
function holdOverlaps(recs: R[]): Map<number, number> {
  const byPid = new Map<number, R[]>();
  for (const s of spans(recs, { family: 'gil', state: 'hold' })) (byPid.get(s.pid) ?? byPid.set(s.pid, []).get(s.pid)!).push(s);
  const out = new Map<number, number>();
  for (const [pid, hs] of byPid) {
    hs.sort((a, b) => a.ts - b.ts);
    let worst = 0;
    let end = -Infinity;
    for (const h of hs) {
      if (h.ts < end) worst = Math.max(worst, Math.min(end, h.ts + h.dur) - h.ts);
      end = Math.max(end, h.ts + h.dur);
    }
    out.set(pid, worst);
  }
  return out;
}

const multiThread = ['two_cpu', 'gil_hog', 'numpy_release', 'io_cpu', 'two_procs', 'sleeper', 'lost', 'two_cpu.default'];

t.test('at most one holder per process at any instant, on every multi-thread fixture', async (t) => {
  for (const name of multiThread) {
    const { records, ndjson } = await pipeline(capture(name));
    t.same(schemaErrors(ndjson), [], `${name}: output valid against the schema`);
    const overlaps = holdOverlaps(records);
    t.ok(overlaps.size > 0, `${name}: holds were found`);
    for (const [pid, worst] of overlaps) t.equal(worst, 0, `${name}: pid ${pid} never has two holders`);
  }
});

t.test('two CPU-bound threads: each waits while the other holds', async (t) => {
  const tr = truth('two_cpu');
  const { records } = await pipeline(capture('two_cpu'));
  const [a, b] = tr.threads.map((x: R) => x.tid) as number[];
  // Count only the window in which both threads ran their loops.
  const from = Math.max(...tr.threads.map((x: R) => x.start_ns));
  const to = Math.min(...tr.threads.map((x: R) => x.end_ns));
  const inWindow = (tid: number, state: string) =>
    spans(records, { family: 'gil', tid, state }).reduce((n, s) => n + Math.max(0, Math.min(s.ts + s.dur, to) - Math.max(s.ts, from)), 0);
  for (const [me, other] of [[a!, b!], [b!, a!]]) {
    // A thread that released the GIL to the other first sits in drop_gil until
    // the other took it (handoff), then in take_gil (wait): together, the other's hold.
    const notHaving = inWindow(me, 'wait') + inWindow(me, 'handoff');
    const otherHold = inWindow(other, 'hold');
    t.ok(within(notHaving, otherHold, 0.1), `${me} waits ${notHaving / 1e6} ms while ${other} holds ${otherHold / 1e6} ms`);
    t.ok(inWindow(me, 'wait') > 0.1 * (to - from), `${me} waits for a real share of the time`);
  }
  // Two pure-Python threads: each holds the GIL for about half of the window.
  for (const tid of [a!, b!]) t.ok(within(inWindow(tid, 'hold'), (to - from) / 2, 0.25), `${tid} holds about half the time`);
});

t.test('a GIL hog in C code: one hold of its measured length, the victim waits through it', async (t) => {
  const tr = truth('gil_hog');
  const { records } = await pipeline(capture('gil_hog'));
  const holds = spans(records, { family: 'gil', state: 'hold', tid: tr.hog_tid }).sort((x, y) => y.dur - x.dur);
  const hog = holds[0]!;
  // The workload measured the regex call from inside (start to after it got the GIL back),
  // and the victim measured the longest gap between two of its loop iterations.
  t.ok(within(hog.dur, tr.hog_ns, 0.03), `longest hold ${hog.dur / 1e6} ms vs the call's ${tr.hog_ns / 1e6} ms`);
  t.ok(within(hog.dur, tr.victim_longest_gap_ns, 0.03), `and vs the victim's longest gap ${tr.victim_longest_gap_ns / 1e6} ms`);
  t.ok(hog.ts >= tr.hog_start_ns - 1e6 && hog.ts <= tr.hog_start_ns + 1e6, 'starts when the call started');
  t.ok(holds[1]!.dur < hog.dur / 10, 'and is the only long hold');
  const waits = spans(records, { family: 'gil', state: 'wait', tid: tr.victim_tid }).sort((x, y) => y.dur - x.dur);
  const w = waits[0]!;
  t.ok(w.ts <= hog.ts + 10e6 && w.ts + w.dur >= hog.ts + hog.dur - 1e6, 'the victim waits through the hold');
  t.ok(within(w.dur, hog.dur, 0.03), `victim's wait ${w.dur / 1e6} ms`);
  const handoff = records.find((r) => r.type === 'handoff' && r.from_tid === tr.hog_tid && r.ts === w.ts + w.dur);
  t.ok(handoff, 'a handoff record links the hog to the victim');
  t.equal(handoff?.to_tid, tr.victim_tid);
  t.ok(handoff?.gap >= 0 && handoff.gap < 5e6, 'taken within 5 ms of the release');
});

t.test('a thread in time.sleep: sleeping for its sleep, not a GIL sleep', async (t) => {
  const tr = truth('sleeper');
  const { records } = await pipeline(capture('sleeper'));
  const sleeps = spans(records, { tid: tr.sleeper_tid, state: 'sleeping' }).sort((x, y) => y.dur - x.dur);
  t.ok(sleeps.length > 0);
  const s = sleeps[0]!;
  t.ok(within(s.dur, tr.sleep_end_ns - tr.sleep_start_ns, 0.02), `sleep ${s.dur / 1e6} ms`);
  t.equal(s.letter, 'S');
  t.notOk(s.gil, 'not a GIL sleep');
  t.equal(spans(records, { tid: tr.sleeper_tid, family: 'gil', state: 'hold' }).filter((x) => x.ts > s.ts && x.ts < s.ts + s.dur).length, 0, 'holds nothing while asleep');
});

t.test('numpy releasing the GIL: short holds, workers running beside the main thread', async (t) => {
  const tr = truth('numpy_release');
  const { records } = await pipeline(capture('numpy_release'));
  for (const w of tr.workers as R[]) {
    const holds = spans(records, { family: 'gil', state: 'hold', tid: w.tid });
    t.ok(holds.length > w.matmuls, `${w.tid}: at least one hold per matmul`);
    const longest = Math.max(...holds.map((h) => h.dur));
    // A 256x256 matmul runs without the GIL; the holds are the Python between them.
    t.ok(longest < 10e6, `${w.tid}: longest hold ${longest / 1e6} ms, under the 10 ms of one Python slice`);
    // Parallel: time this worker ran on a CPU while the main thread ran too.
    // How much there must have been follows from the CPU time each thread
    // measured for itself: on a window of W, CPU times a + b > W force an
    // overlap of at least a + b - W. (On a busy 2-CPU machine there may be none.)
    if (w.thread_cpu_ns === undefined || tr.main_cpu_ns === undefined) {
      t.skip(`${w.tid}: this fixture has no per-thread CPU times (regenerate it with test/fixtures/record.sh)`);
      continue;
    }
    // Running spans inside the window the thread measured its CPU time over.
    const clip = (ss: R[], from: number, to: number) =>
      ss.map((s) => ({ ts: Math.max(s.ts, from), dur: Math.min(s.ts + s.dur, to) - Math.max(s.ts, from) })).filter((s) => s.dur > 0);
    const mine = clip(spans(records, { family: 'sched', state: 'running', tid: w.tid }), w.start_ns, w.end_ns);
    const main = clip(spans(records, { family: 'sched', state: 'running', tid: tr.main_tid }), tr.start_ns, tr.main_end_ns);
    t.ok(within(total(mine), w.thread_cpu_ns, 0.1), `${w.tid}: running ${total(mine) / 1e6} ms vs its CPU time ${w.thread_cpu_ns / 1e6} ms`);
    let both = 0;
    for (const a of mine) for (const b of main) both += Math.max(0, Math.min(a.ts + a.dur, b.ts + b.dur) - Math.max(a.ts, b.ts));
    const window = Math.max(w.end_ns, tr.main_end_ns) - Math.min(w.start_ns, tr.start_ns);
    const forced = w.thread_cpu_ns + tr.main_cpu_ns - window;
    t.ok(both >= 0.9 * forced, `${w.tid}: ran beside the main thread for ${both / 1e6} ms (at least ${forced / 1e6} ms by CPU times)`);
  }
});

t.test('two Python processes: holds overlap across processes, never within one', async (t) => {
  const tr = truth('two_procs');
  const { records } = await pipeline(capture('two_procs'));
  const [p1, p2] = tr.child_pids as number[];
  for (const c of tr.children as R[]) for (const th of c.threads as R[]) {
    const th2 = records.find((r) => r.type === 'thread' && r.tid === th.tid);
    t.equal(th2?.pid, c.pid, `thread ${th.tid} belongs to process ${c.pid}`);
  }
  t.equal(holdOverlaps(records).get(p1!), 0);
  t.equal(holdOverlaps(records).get(p2!), 0);
  const h1 = spans(records, { family: 'gil', state: 'hold', pid: p1 });
  const h2 = spans(records, { family: 'gil', state: 'hold', pid: p2 });
  let across = 0;
  let i = 0;
  h1.sort((a, b) => a.ts - b.ts);
  h2.sort((a, b) => a.ts - b.ts);
  for (const a of h1) {
    while (i < h2.length && h2[i]!.ts + h2[i]!.dur < a.ts) i++;
    for (let j = i; j < h2.length && h2[j]!.ts < a.ts + a.dur; j++) across += Math.min(a.ts + a.dur, h2[j]!.ts + h2[j]!.dur) - Math.max(a.ts, h2[j]!.ts);
  }
  t.ok(across > 50e6, `the two processes held their GILs at the same time for ${across / 1e6} ms`);
});

t.test('lost events: spans closed as unknown, counted, no crash', async (t) => {
  const { records } = await pipeline(capture('lost'));
  const lost = records.filter((r) => r.type === 'lost');
  t.ok(lost.length > 0, 'the capture has LOST records');
  const diags = records.filter((r) => r.type === 'diagnostic' && r.code === 'lost_events');
  t.equal(diags.length, lost.length, 'one diagnostic per LOST record');
  t.ok(spans(records, { unknown: true }).length > 0, 'some spans were cut by the loss');
  const cap = records.find((r) => r.type === 'capture');
  t.equal(cap.lost, lost.reduce((n, r) => n + r.lost, 0));
});

t.test('the fallbacks: pthread_cond_timedwait probes and take_gil in switch-out stacks', async (t) => {
  for (const [name, via] of [['two_cpu-stripped-libc', 'cond_timedwait'], ['two_cpu-dwarf', 'stack']] as const) {
    const tr = truth(name);
    const { records } = await pipeline(capture(name));
    t.equal(records.find((r) => r.type === 'capture').gil_source, via, `${name}: source`);
    t.equal(spans(records, { family: 'gil', state: 'hold' }).length, 0, `${name}: no holds claimed`);
    for (const th of tr.threads as R[]) {
      const w = spans(records, { family: 'gil', state: 'wait', tid: th.tid });
      t.ok(w.length > 0 && w.every((s) => s.via === via), `${name}: ${th.tid} waits, marked ${via}`);
      // Two pure-Python threads: each spends a good share of the run waiting for the other.
      t.ok(total(w) > 0.1 * (th.end_ns - th.start_ns), `${name}: ${th.tid} waits ${total(w) / 1e6} ms`);
    }
    // CPython waits in 5 ms timed slices; one wait is merged from its slices.
    t.ok(spans(records, { family: 'gil', state: 'wait' }).some((s) => s.dur > 5.5e6), `${name}: slices merged into longer waits`);
  }
});

t.test('no GIL events: said loudly, no verdicts', { skip: hasCorpus ? false : 'no shared corpus' }, async (t) => {
  const r = await runBin('perf-parse', [corpus + 'ex0-sched.perf.txt.gz']);
  const s = await runBin('gil-state', [], { input: r.stdout });
  t.equal(s.exitCode, 0);
  t.match(s.stderr, /NO GIL EVENTS/);
  t.notMatch(s.stdout, /"family":"gil"/, 'no GIL spans');
  t.match(s.stdout, /"gil_source":"none"/);
});

t.test("probes that are not the GIL's are named as not used; --take-gil takes one in", { skip: hasCorpus ? false : 'no shared corpus' }, async (t) => {
  // Recorded (the corpus's INDEX.md) with python:take_gil and its return, and two
  // probes of its own: perfparse:take_args (take_gil again, with arguments) and perfparse:getenv.
  const input = corpus + 'variants/probe-args.ns.perf.txt.gz';
  const s = await runBin('gil-state', [input]);
  t.equal(s.exitCode, 0);
  const unused = (stderr: string) => /probes not used, since their names are none of take_gil, drop_gil or pthread_cond_timedwait: ([^\n]*?)\. If one/.exec(stderr)?.[1];
  t.same(unused(s.stderr)?.split(', ').sort(), ['perfparse:getenv', 'perfparse:take_args'], s.stderr);
  t.match(s.stdout, /"gil_source":"take_gil"/, 'the GIL probes are read');
  const m = await runBin('gil-state', ['--take-gil', '^take_(gil|args)$', input]);
  t.equal(unused(m.stderr), 'perfparse:getenv', 'take_args taken as take_gil: only getenv is left');
  // 25 more names (the capture's first getenv line, renamed): 20 are named, and that there were more.
  const text = gunzipSync(readFileSync(input)).toString('latin1');
  const getenv = text.split('\n').find((l) => l.includes(' perfparse:getenv: '))!;
  const extra = Array.from({ length: 25 }, (_x, k) => getenv.replace('perfparse:getenv:', `perfparse:getenv_${k}:`)).join('\n');
  const many = await runBin('gil-state', [], { input: Buffer.from(`${text.trimEnd()}\n${extra}\n`, 'latin1') });
  const listed = unused(many.stderr)?.split(', ') ?? [];
  t.equal(listed.length, 21, `20 names and "and more": ${listed.join(', ')}`);
  t.equal(listed[20], 'and more');
  // gil-record adds only GIL probes: its recordings get no such note.
  for (const name of ['gil_hog', 'copied']) t.equal(unused((await runBin('gil-state', [capture(name)])).stderr), undefined, `${name}: none`);
});

t.test('agrees with per4m on its own capture (independent tool)', { skip: hasCorpus ? false : 'no shared corpus' }, async (t) => {
  // per4m on ex1-uprobes: wait 4.4 / 26.2 / 44.3 % and has-gil (take_gil return to drop_gil
  // return) 73.7 / 55.7 % for the workers, of each thread's first-to-last event.
  const { records } = await pipeline(corpus + 'ex1-uprobes.perf.txt.gz');
  const expect: Record<number, [number, number | undefined]> = { 2578: [4.4, undefined], 2580: [26.2, 73.7], 2581: [44.3, 55.7] };
  for (const [tid, [wait, has]] of Object.entries(expect)) {
    const th = records.find((r) => r.type === 'thread' && r.tid === Number(tid));
    const tot = th.last_ts - th.first_ts;
    const pct = (state: string) => (100 * total(spans(records, { family: 'gil', tid: Number(tid), state }))) / tot;
    t.ok(Math.abs(pct('wait') - wait) < 0.2, `${tid} wait ${pct('wait').toFixed(2)} vs ${wait}`);
    if (has !== undefined) t.ok(Math.abs(pct('hold') + pct('handoff') - has) < 0.2, `${tid} has-gil ${(pct('hold') + pct('handoff')).toFixed(2)} vs ${has}`);
  }
});

t.test('pass-through: records gil-state does not consume come out unchanged and in order', async (t) => {
  const input = [
    { type: 'my_marker', n: 1, nested: { a: [1, 2] } },
    { type: 'sample', ts: 10, comm: 'x', tid: 5, cpu: 0, event: 'cpu-clock', ip: { addr: 'ff' } },
    { type: 'header', meta: { a: 'b' }, events: [] },
    // A switch perf cut with a newline in a name: kept raw by perf-parse, so not usable here.
    { type: 'sample', ts: 11, comm: 'x', tid: 5, cpu: 0, event: 'sched:sched_switch', payload: 'prev_comm=new' },
    { type: 'my_marker', n: 2 },
  ];
  const r = await runBin('gil-state', [], { input: input.map((x) => JSON.stringify(x)).join('\n') + '\n' });
  const out = (r.stdout as string).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.same(out.filter((x) => x.type === 'my_marker' || x.type === 'header' || x.type === 'sample'), input);
  t.match(r.stderr, /1 scheduler samples had no readable fields/, 'and says so');
  // Beside a usable record: an input with none is the wrong input, exit 1 (inputs.test.ts).
  const bad = await runBin('gil-state', [], { input: '{"type":"sample","ts":1}\nnot json\n[1,2]\n{"type":"sample","ts":2,"tid":1,"event":"x:y"}\n' });
  t.equal(bad.exitCode, 0);
  // A sample without its event is not a sample: the contract (filters/records.ts) makes it malformed.
  t.match(bad.stderr, /skipped 3 malformed lines \(first: stdin:1: sample record: "event" is missing/);
  const strict = await runBin('gil-state', ['--strict'], { input: 'not json\n' });
  t.equal(strict.exitCode, 1);
});

t.test('fixtures exist (regenerate with test/fixtures/record.sh)', async (t) => {
  for (const n of multiThread) t.ok(existsSync(capture(n)), n);
});

t.test('several files are several captures: a pid of one recording does not run on through the next', async (t) => {
  // The same workload recorded twice on one machine can reuse its pids. Here
  // the second recording is the first one 500 s later (every time moved, as
  // a later run would have them). Read as one stream, its threads lived from
  // the first recording into the second: 500 s each, most of it in no state.
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-captures-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const text = gunzipSync(readFileSync(capture('two_cpu-short'))).toString();
  const later = text.replace(/ (\d+)\.(\d{9}):/g, (m, s: string, ns: string) => (Number(s) === 0 ? m : ` ${Number(s) + 500}.${ns}:`));
  const a = join(dir, 'first.txt');
  const b = join(dir, 'later.txt');
  writeFileSync(a, text);
  writeFileSync(b, later);
  // Each file's own span of time, from its lines: no thread lives longer.
  const lifeOf = (s: string) => {
    const ts = [...s.matchAll(/ (\d+)\.(\d{9}):/g)].map((m) => Number(m[1]) * 1e9 + Number(m[2])).filter((x) => x > 0);
    return Math.max(...ts) - Math.min(...ts);
  };
  const longest = Math.max(lifeOf(text), lifeOf(later));
  const state = await runBin('gil-state', [a, b]);
  t.equal(state.exitCode, 0, String(state.stderr));
  const recs: R[] = String(state.stdout).trim().split('\n').map((l) => JSON.parse(l));
  t.equal(recs.filter((r) => r.type === 'capture').length, 2, 'a capture record for each file');
  const stats = await runBin('gil-stats', ['--format', 'json'], { input: String(state.stdout) });
  t.equal(stats.exitCode, 0, String(stats.stderr));
  const s = JSON.parse(String(stats.stdout));
  t.equal(s.captures, 2);
  t.ok(s.threads.length > 0);
  for (const th of s.threads) t.ok(th.total_ns <= longest, `thread ${th.tid}: ${th.total_ns} ns, within its recording's ${longest}`);
  // And the same threads as gil-stats reading the two files itself.
  const direct = JSON.parse(String((await runBin('gil-stats', ['--format', 'json', a, b])).stdout));
  t.same(s.threads.map((th: R) => [th.tid, th.total_ns, th.hold_ns]), direct.threads.map((th: R) => [th.tid, th.total_ns, th.hold_ns]), 'as gil-stats FILE FILE counts them');
});
