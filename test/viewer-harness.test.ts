// The headless Catapult viewer harness: a hand-made trace with one of each
// kind of event comes back from the real viewer exactly as built, and a broken
// one produces the viewer's own import warning.
import t from 'tap';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openInViewer, viewerAvailable } from './helpers/viewer.js';
import { validateTrace } from './helpers/validate-trace.js';

const skip = await viewerAvailable();
if (skip) console.log(`# viewer tests skipped: ${skip}`);
// Screenshots are kept for a person to look at (test/artifacts is ignored by git).
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url));

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
  const s = await openInViewer(JSON.stringify(trace), { screenshot });
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

t.test('an unmatched E comes back as an import warning', { skip }, async (t) => {
  const broken = {
    traceEvents: [
      X(MAIN, 'outer', 1000, 100),
      { ph: 'E', pid: P, tid: WORKER, ts: 1050 },
    ],
  };
  t.match(validateTrace(broken), [/E at ts 1050 .* has no open B/], 'the validator agrees');
  const s = await openInViewer(JSON.stringify(broken), { screenshot: `${artifacts}viewer-harness-broken.png` });
  t.same(s.importWarnings, ['E phase event without a matching B phase event.']);
  t.same(s.processes[0]?.threads.find((th) => th.tid === MAIN)?.slices, { outer: 1 });
});

t.test('a truncated trace fails to import outright', { skip }, async (t) => {
  const text = JSON.stringify(trace).slice(0, 300);
  await t.rejects(openInViewer(text), /could not import the trace/);
});
