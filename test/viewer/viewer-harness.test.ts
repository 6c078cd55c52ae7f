// The headless Catapult viewer harness: a hand-made trace with one of each
// kind of event comes back from the real viewer exactly as built, and a broken
// one produces the viewer's own import warning.
import t from 'tap';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launchViewer, openInViewer, viewerAvailable, type ViewerSession } from '../helpers/viewer.js';
import { validateTrace } from '../helpers/validate-trace.js';

const skip = await viewerAvailable();
if (skip) console.log(`# viewer tests skipped: ${skip}`);
// Screenshots are kept for a person to look at (test/artifacts is ignored by git).
const artifacts = fileURLToPath(new URL('../artifacts/', import.meta.url));
// One browser for most of the file's traces; openInViewer (its own browser)
// is used once, where cleanup after a failure is checked.
let viewer: ViewerSession | undefined;
if (!skip) {
  viewer = await launchViewer();
  t.teardown(() => viewer?.close());
}

const P = 100, MAIN = 101, WORKER = 102;
const X = (tid: number, name: string, ts: number, dur: number) => ({ ph: 'X', pid: P, tid, ts, dur, name, cat: 'FEE' });
const trace = {
  traceEvents: [
    { ph: 'M', pid: P, tid: P, name: 'process_name', args: { name: 'python' } },
    { ph: 'M', pid: P, tid: MAIN, name: 'thread_name', args: { name: 'MainThread' } },
    { ph: 'M', pid: P, tid: WORKER, name: 'thread_name', args: { name: 'Thread-1' } },
    // Children first, as VizTracer writes them.
    X(MAIN, 'inner', 1020, 30),
    X(MAIN, 'inner', 1060, 20),
    X(MAIN, 'outer', 1000, 100),
    X(WORKER, 'work', 1040, 150),
    { ph: 'i', pid: P, tid: MAIN, ts: 1090, name: 'mark', s: 't' },
    { ph: 'i', pid: P, tid: MAIN, ts: 1110, name: 'gc', s: 'p' },
    { ph: 'i', pid: P, tid: MAIN, ts: 1120, name: 'sync', s: 'g' },
    // An async track with nested slices. Two of them: Catapult draws a
    // parent whose only child is within 1 ms of it as just the child.
    { ph: 'b', pid: P, tid: MAIN, ts: 1000, name: 'hold', cat: 'gil', id: 1 },
    { ph: 'b', pid: P, tid: MAIN, ts: 1010, name: 'contended', cat: 'gil', id: 1 },
    { ph: 'e', pid: P, tid: MAIN, ts: 1020, name: 'contended', cat: 'gil', id: 1 },
    { ph: 'b', pid: P, tid: MAIN, ts: 1025, name: 'contended', cat: 'gil', id: 1 },
    { ph: 'e', pid: P, tid: MAIN, ts: 1035, name: 'contended', cat: 'gil', id: 1 },
    { ph: 'e', pid: P, tid: MAIN, ts: 1045, name: 'hold', cat: 'gil', id: 1 },
    { ph: 'b', pid: P, tid: WORKER, ts: 1050, name: 'hold', cat: 'gil', id: 2 },
    { ph: 'e', pid: P, tid: WORKER, ts: 1180, name: 'hold', cat: 'gil', id: 2 },
    // A counter with two series and three samples.
    { ph: 'C', pid: P, tid: MAIN, ts: 1000, name: 'GIL', args: { held: 1, waiting: 0 } },
    { ph: 'C', pid: P, tid: MAIN, ts: 1045, name: 'GIL', args: { held: 1, waiting: 1 } },
    { ph: 'C', pid: P, tid: MAIN, ts: 1180, name: 'GIL', args: { held: 0, waiting: 0 } },
    // Two handoff arrows: main -> worker (the f binds to the next slice to
    // start on the worker), worker -> main (bp:e binds to the enclosing one).
    { ph: 's', pid: P, tid: MAIN, ts: 1030, name: 'handoff', cat: 'gil', id: 7 },
    { ph: 'f', pid: P, tid: WORKER, ts: 1035, name: 'handoff', cat: 'gil', id: 7 },
    { ph: 's', pid: P, tid: WORKER, ts: 1070, name: 'handoff', cat: 'gil', id: 8 },
    { ph: 'f', pid: P, tid: MAIN, ts: 1070, name: 'handoff', cat: 'gil', id: 8, bp: 'e' },
  ],
};

t.test('the viewer shows exactly what the trace holds', { skip }, async (t) => {
  t.same(validateTrace(trace), [], 'the trace itself is valid');
  mkdirSync(artifacts, { recursive: true });
  const screenshot = `${artifacts}viewer-harness.png`;
  const started = Date.now();
  const s = await viewer!.open(JSON.stringify(trace), { screenshot });
  t.comment(`viewer: ${Date.now() - started} ms in all, ${s.loadMs} ms page load + import; screenshot ${screenshot}`);

  t.same(s.importWarnings, [], 'no import warnings');
  t.same(s.pageErrors, [], 'no errors in the page');
  t.equal(s.processes.length, 1);
  const p = s.processes[0]!;
  t.equal(p.pid, P);
  t.equal(p.name, 'python');
  const threads = Object.fromEntries(p.threads.map((th) => [th.tid, th]));
  t.same(Object.keys(threads).map(Number).sort(), [MAIN, WORKER]);
  const main = threads[MAIN]!, worker = threads[WORKER]!;
  t.equal(main.name, 'MainThread');
  t.equal(worker.name, 'Thread-1');
  // A thread-scoped instant is a zero-length slice on its thread.
  t.same(main.slices, { outer: 1, inner: 2, mark: 1 });
  t.same(worker.slices, { work: 1 });
  t.same(main.undrawn, [], 'every slice on MainThread has a drawn track');
  t.same(worker.undrawn, [], 'every slice on Thread-1 has a drawn track');
  t.same(main.asyncSlices, { hold: 1, contended: 2 });
  t.same(worker.asyncSlices, { hold: 1 });
  t.same(p.counters, [{
    name: 'GIL', category: '',
    series: [
      { name: 'held', samples: 3, values: [1, 1, 0] },
      { name: 'waiting', samples: 3, values: [0, 1, 0] },
    ],
  }]);
  t.same(p.instantEvents, { gc: 1 });
  t.same(s.globalInstantEvents, { sync: 1 });
  t.equal(s.flowEvents, 2);
  t.equal(s.flowEventsBound, 2, 'both arrows bind a slice at each end');

  const png = readFileSync(screenshot);
  t.same([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  t.same([png.readUInt32BE(16), png.readUInt32BE(20)], [1400, 900], 'screenshot size');
});

// Real VizTracer 1.1.1 output (merge-trace's fixtures): what the viewer shows
// is counted from the JSON itself, independently of the viewer.
t.test('a real VizTracer trace shows every function call and counter sample', { skip }, async (t) => {
  for (const f of ['events.json', 'threads.json']) {
    const path = fileURLToPath(new URL(`../fixtures/viztracer/${f}`, import.meta.url));
    type VEv = { ph: string; pid: number; tid: number; name: string; s?: string; args?: Record<string, unknown> | null };
    const events = (JSON.parse(readFileSync(path, 'utf8')) as { traceEvents: VEv[] }).traceEvents;
    const want = new Map<string, { name?: string; slices: Record<string, number> }>();
    const thread = (e: VEv) => {
      const k = `${e.pid}/${e.tid}`;
      if (!want.has(k)) want.set(k, { slices: {} });
      return want.get(k)!;
    };
    const counters: Record<string, number> = {};
    for (const e of events) {
      if (e.ph === 'X' || (e.ph === 'i' && (e.s ?? 't') === 't')) {
        const sl = thread(e).slices;
        sl[e.name] = (sl[e.name] ?? 0) + 1;
      } else if (e.ph === 'M' && e.name === 'thread_name') thread(e).name = e.args?.name as string;
      else if (e.ph === 'C') counters[e.name] = (counters[e.name] ?? 0) + 1;
    }
    const s = await viewer!.open({ file: path }, { screenshot: `${artifacts}viewer-${f.replace('.json', '')}.png` });
    t.same(s.importWarnings, [], `${f}: no import warnings`);
    const got = new Map<string, { name?: string; slices: Record<string, number> }>();
    const gotCounters: Record<string, number> = {};
    for (const p of s.processes) {
      for (const th of p.threads) {
        if (Object.keys(th.slices).length || th.name) got.set(`${p.pid}/${th.tid}`, { name: th.name, slices: th.slices });
        t.same(th.undrawn, [], `${f}: tid ${th.tid}: every slice drawn`);
      }
      for (const c of p.counters) for (const ser of c.series) gotCounters[c.name] = ser.samples;
    }
    t.same(Object.fromEntries(got), Object.fromEntries(want), `${f}: threads, names and slice counts`);
    t.same(gotCounters, counters, `${f}: counter samples`);
  }
});

t.test('an unmatched E comes back as an import warning', { skip }, async (t) => {
  const broken = {
    traceEvents: [
      X(MAIN, 'outer', 1000, 100),
      { ph: 'E', pid: P, tid: WORKER, ts: 1050 },
    ],
  };
  t.match(validateTrace(broken), [/E at ts 1050 .* has no open B/], 'the validator agrees');
  const s = await viewer!.open(JSON.stringify(broken), { screenshot: `${artifacts}viewer-harness-broken.png` });
  t.same(s.importWarnings, ['E phase event without a matching B phase event.']);
  t.same(s.processes[0]?.threads.find((th) => th.tid === MAIN)?.slices, { outer: 1 });
});

t.test('a truncated trace fails to import outright, and nothing is left behind', { skip }, async (t) => {
  const profiles = () => readdirSync(tmpdir()).filter((f) => f.startsWith('gilpipe-chromium-')).length;
  const before = profiles();
  const text = JSON.stringify(trace).slice(0, 300);
  await t.rejects(openInViewer(text), /could not import the trace/);
  t.equal(profiles(), before, 'the browser profile dir is deleted');
});
