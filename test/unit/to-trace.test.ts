// to-trace's logic in-process, on hand-written records that follow
// docs/events.md. The expected values come from how each input was built
// (which spans overlap when) and from the Trace Event rules the viewers
// apply (see test/helpers/validate-trace.ts), not from to-trace's output.
import t from 'tap';
import fc from 'fast-check';
import { ToTrace, DEFAULTS, spanName, spanNameText, type ToTraceOptions, type Family } from '../../filters/to-trace.js';
import type { Span } from '../../filters/records.js';
import { narrow } from '../../filters/records.js';
import { collectingContext, connect, endAll } from '../../lib/filter.js';
import { NdjsonDecoder } from '../../lib/ndjson.js';
import { usText, secondsToNs } from '../../lib/trace-time.js';
import { validateTrace } from '../helpers/validate-trace.js';

type Ev = Record<string, any>;

/** The records as lines of NDJSON through the command's chain: decoded, narrowed, drawn. */
function build(records: object[], opts: Partial<ToTraceOptions> = {}): { text: string; events: Ev[]; malformed: string[]; b: ToTrace } {
  const ctx = collectingContext();
  let text = '';
  const b = new ToTrace((s) => (text += s), ctx, { ...DEFAULTS, version: '9.9.9', ...opts });
  const chain = connect((emit) => new NdjsonDecoder(emit, ctx, narrow), b);
  for (const r of records) chain.write(JSON.stringify(r));
  endAll(chain);
  const malformed = ctx.problems;
  const events = opts.format === 'ndjson' ? text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) : JSON.parse(text).traceEvents;
  return { text, events, malformed, b };
}

const span = (tid: number, family: Family, state: string, ts: number, dur: number, extra: object = {}) => ({
  type: 'span', pid: 100, tid, family, state, ts, dur, ...extra,
});
/** µs text back to integer ns as Perfetto reads it: llround(ts * 1000). */
const ns = (us: number) => Math.round(us * 1000);
const counter = (events: Ev[], name: string) => events.filter((e) => e.ph === 'C' && e.name === name).map((e) => [ns(e.ts), Object.values(e.args)[0]]);

t.test('times: integer ns to µs text with 3 decimals, and back exactly', async (t) => {
  t.equal(usText(0), '0.000');
  t.equal(usText(1), '0.001');
  t.equal(usText(999), '0.999');
  t.equal(usText(1000), '1.000');
  t.equal(usText(154053896361), '154053896.361');
  t.equal(usText(154053896060), '154053896.060');
  // Against exact integer division, across the 1 ms boundary and with the
  // printed millisecond changing back and forth.
  const exact = (n: number) => `${BigInt(n) / 1000n}.${String(BigInt(n) % 1000n).padStart(3, '0')}`;
  for (const n of [999_999, 1_000_000, 1_000_001, 1_999_999, 2_000_000, 154053896000000, 154053895999999, 154053896000999, 2 ** 53 - 1, 2 ** 53 - 1000]) {
    t.equal(usText(n), exact(n), `usText(${n})`);
  }
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 53 - 1 }), { minLength: 1, maxLength: 20 }), (xs) => xs.every((n) => usText(n) === exact(n))),
    { numRuns: 2000 },
  );
  t.equal(secondsToNs('154.053896361'), 154053896361);
  t.equal(secondsToNs('1.5'), 1_500_000_000);
  t.equal(secondsToNs('7'), 7_000_000_000);
  t.equal(secondsToNs('1.5s'), undefined);
  t.equal(secondsToNs('-1'), undefined);
  // Any capture up to 2^50 ns (13 days of uptime): Perfetto's llround(ts*1000)
  // gives back the nanosecond, so spans touching in ns touch in the viewer and
  // a child ending with its parent does not overrun it.
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 10 ** 12 }), (start, dur) => {
      const end = start + dur;
      return ns(Number(usText(start))) === start && ns(Number(usText(end))) === end && ns(Number(usText(dur))) === dur;
    }),
    { numRuns: 5000 },
  );
});

t.test('an input with nothing to draw is still a valid, combinable trace', async (t) => {
  for (const records of [[], [{ type: 'sample', ts: 1, event: 'sched:sched_switch' }, { type: 'mine', x: 1 }]]) {
    const { text, events } = build(records);
    t.ok(text.startsWith('{"'), 'Perfetto detects JSON by its first bytes');
    const doc = JSON.parse(text);
    t.same(events, []);
    t.equal(doc.displayTimeUnit, 'ns');
    t.same(doc.viztracer_metadata, { overflow: false, version: '9.9.9' }, 'what viztracer --combine 0.15-0.17 reads unconditionally');
    t.same(validateTrace(text), []);
  }
});

t.test('GIL and scheduler spans: per4m names, async tracks keyed per thread and family', async (t) => {
  const { text, events } = build([
    span(101, 'gil', 'wait', 1_000, 500, { via: 'take_gil' }),
    span(101, 'sched', 'sleeping', 1_100, 300, { letter: 'S', gil: true }),
    span(101, 'gil', 'hold', 1_500, 2_000),
    span(101, 'gil', 'handoff', 3_500, 250),
    span(101, 'sched', 'running', 1_400, 2_600),
    span(101, 'sched', 'sleeping', 4_000, 1_000, { letter: 'S' }),
    span(101, 'sched', 'blocked', 5_000, 1_000, { letter: 'D' }),
    span(101, 'sched', 'runnable', 6_000, 10, { letter: 'R+' }),
    span(102, 'gil', 'wait', 2_000, 5_000, { via: 'cond_timedwait' }),
    { type: 'thread', pid: 100, tid: 100, comm: 'python3.11', main: true, first_ts: 0, last_ts: 9000 },
    { type: 'thread', pid: 100, tid: 101, comm: 'worker 1', main: false, first_ts: 0, last_ts: 9000 },
    { type: 'process', pid: 100, comm: 'python3.11', threads: 2, gil: true },
  ]);
  t.same(validateTrace(text), []);
  const begins = events.filter((e) => e.ph === 'b');
  t.same(
    begins.map((e) => `${e.tid} ${e.cat} ${e.name}`),
    [
      '101 gil GIL wait (take_gil)',
      '101 sched S(GIL)',
      '101 gil GIL held',
      '101 gil GIL handoff (drop_gil)',
      '101 sched running',
      '101 sched S',
      '101 sched D',
      '101 sched runnable',
      '102 gil GIL wait (cond_timedwait)',
    ],
  );
  for (const b of begins) {
    t.equal(b.id, b.tid, 'one async track per thread: id = tid, cat = family');
    const e = events.find((x) => x.ph === 'e' && x.cat === b.cat && x.id === b.id && x.name === b.name && ns(x.ts) >= ns(b.ts));
    t.ok(e, `${b.name} is closed by an e of the same name`);
  }
  const held = begins.find((e) => e.name === 'GIL held')!;
  t.equal(ns(held.ts), 1_500);
  t.equal(ns(events.find((e) => e.ph === 'e' && e.name === 'GIL held').ts), 3_500);
  t.same(events.find((e) => e.name === 'runnable' && e.ph === 'b').args, { letter: 'R+' });
  // Perfetto names a track after its earliest event: a naming instant comes first.
  const names = events.filter((e) => e.ph === 'n').map((e) => [e.cat, e.id, e.name, ns(e.ts)]);
  t.same(names, [
    ['gil', 101, 'GIL 101', 999],
    ['sched', 101, 'sched 101', 1_099],
    ['gil', 102, 'GIL 102', 1_999],
  ]);
  // Nothing of ours on a thread's own track but 0-length markers: VizTracer's slices go there.
  t.same(events.filter((e) => e.ph === 'X' && e.dur !== 0), []);
  const meta = events.filter((e) => e.ph === 'M' && /_name$/.test(e.name)).map((e) => [e.name, e.pid, e.tid, e.args.name]);
  t.same(meta, [
    ['process_name', 100, 100, 'python3.11'],
    ['thread_name', 100, 100, 'python3.11 (main thread)'],
    ['thread_name', 100, 101, 'worker 1'],
  ]);
  for (const e of events) {
    t.type(e.pid, 'number');
    if ('tid' in e) t.type(e.tid, 'number');
    if ('ts' in e) t.type(e.ts, 'number');
  }
});

t.test('counters: threads waiting and the holder, exact however the spans arrive', async (t) => {
  // Built: A waits [10, 30) then holds [30, 50); B waits [20, 60) then holds
  // [60, 80); C waits [25, 26). gil-state writes each span when it ends.
  const A = 1, B = 2, C = 3;
  const { events, text } = build([
    span(C, 'gil', 'wait', 25, 1),
    span(A, 'gil', 'wait', 10, 20),
    span(A, 'gil', 'hold', 30, 20),
    span(B, 'gil', 'wait', 20, 40),
    span(B, 'gil', 'hold', 60, 20),
  ]);
  t.same(validateTrace(text), []);
  t.same(counter(events, 'GIL waiting'), [
    [10, 1],
    [20, 2],
    [25, 3],
    [26, 2],
    [30, 1],
    [60, 0],
  ]);
  t.same(counter(events, 'GIL holder'), [
    [30, A],
    [50, 0],
    [60, B],
    [80, 0],
  ]);
  // One take right after another's release at the same ns: no 0 in between.
  const back = build([span(A, 'gil', 'hold', 100, 50), span(B, 'gil', 'hold', 150, 50)]);
  t.same(counter(back.events, 'GIL holder'), [
    [100, A],
    [150, B],
    [200, 0],
  ]);
});

t.test('counters: a wait longer than the window is counted from where the window had got to, and said so', async (t) => {
  const s = 1_000_000_000;
  const records: object[] = [];
  // Short waits every 100 ms for 10 s on thread 1, then one 9 s wait of thread 2 ends.
  for (let i = 0; i < 100; i++) records.push(span(1, 'gil', 'wait', i * s / 10, 1000));
  records.push(span(2, 'gil', 'wait', 1 * s, 9 * s));
  const { events, b } = build(records);
  t.ok(b.stats.lateCounters > 0, 'the late wait is reported');
  const w = counter(events, 'GIL waiting');
  const at = (ts: number) => w.filter(([x]) => (x as number) <= ts).at(-1)?.[1];
  t.equal(at(9.55 * s), 1, 'the long wait is counted once its changes can still be written');
  t.equal(w.at(-1)![1], 0);
});

t.test('handoff flows: from the releasing thread to the next holder', async (t) => {
  const { events, text } = build([
    span(1, 'gil', 'hold', 10, 20),
    span(1, 'gil', 'handoff', 30, 5),
    { type: 'handoff', pid: 100, ts: 40, from_tid: 1, to_tid: 2, released_ts: 30, gap: 10, waker_tid: 1, woken_ts: 33 },
    { type: 'handoff', pid: 100, ts: 5, from_tid: null, to_tid: 1 },
    span(2, 'gil', 'hold', 40, 20),
  ]);
  t.same(validateTrace(text), []);
  const out = events.filter((e) => e.flow_out);
  const inn = events.filter((e) => e.flow_in);
  t.equal(out.length, 1, 'no arrow for the first take (nobody released)');
  t.equal(inn.length, 1);
  t.equal(out[0].bind_id, inn[0].bind_id);
  t.match(out[0], { ph: 'X', dur: 0, tid: 1, name: 'GIL released' });
  t.match(inn[0], { ph: 'X', dur: 0, tid: 2, name: 'GIL taken', args: { from_tid: 1, gap_us: 0.01, waker_tid: 1 } });
  t.equal(ns(out[0].ts), 30);
  t.equal(ns(inn[0].ts), 40);
  t.same(build([{ type: 'handoff', pid: 100, ts: 40, from_tid: 1, to_tid: 2, released_ts: 30, gap: 10 }], { flows: false }).events, []);
});

t.test('diagnostics and cut spans are instant events where they happened', async (t) => {
  const { events, text } = build([
    { type: 'diagnostic', code: 'lost_events', ts: 500, message: 'perf lost 12 events' },
    { type: 'diagnostic', code: 'two_holders', ts: 600, pid: 100, message: 'two holders' },
    { type: 'diagnostic', code: 'return_without_entry', ts: 700, pid: 100, tid: 101, message: 'x' },
    span(101, 'gil', 'hold', 100, 50, { partial: true }),
    span(101, 'sched', 'running', 800, 100, { truncated: true }),
    span(101, 'gil', 'wait', 200, 100, { unknown: true }),
    { type: 'capture', first_ts: 100, last_ts: 900, gil_source: 'take_gil', lost: 12, anomalies: 2 },
  ]);
  t.same(validateTrace(text), []);
  const inst = events.filter((e) => e.ph === 'i').map((e) => [e.name, e.s, ns(e.ts), e.s === 'g' ? null : e.tid]);
  t.same(inst, [
    ['lost_events', 'g', 500, null],
    ['two_holders', 'p', 600, 100],
    ['return_without_entry', 't', 700, 101],
    ['partial: GIL held', 't', 100, 101],
    ['truncated: running', 't', 900, 101],
    ['unknown: GIL wait (take_gil)', 't', 300, 101],
  ]);
  t.same(events.find((e) => e.name === 'GIL held' && e.ph === 'b').args, { partial: true });
  const none = build([{ type: 'capture', first_ts: 100, last_ts: 900, gil_source: 'none', lost: 0, anomalies: 0 }]);
  t.match(none.events, [{ ph: 'i', s: 'g', name: 'no GIL events' }]);
  t.equal(none.b.stats.gilSource, 'none');
  t.same(build([{ type: 'diagnostic', code: 'lost_events', ts: 500, message: 'm' }], { diagnostics: false }).events, []);
});

t.test('options: families, minimum length, pids, time window', async (t) => {
  const recs = [
    span(1, 'gil', 'wait', 1_000, 100),
    span(1, 'gil', 'hold', 1_100, 10_000),
    span(1, 'sched', 'running', 1_000, 20_000),
    { ...span(7, 'gil', 'hold', 1_000, 10_000), pid: 200 },
  ];
  const gilOnly = build(recs, { families: new Set<Family>(['gil']) });
  t.same(gilOnly.events.filter((e) => e.cat === 'sched'), []);
  t.ok(gilOnly.events.some((e) => e.name === 'GIL held'));

  const long = build(recs, { minDur: 1_000 });
  t.notOk(long.events.some((e) => e.name === 'GIL wait (take_gil)'), 'a 100 ns wait is under 1 µs');
  t.same(counter(long.events, 'GIL waiting').slice(0, 2), [[1_000, 1], [1_100, 0]], 'but the counter still counts it');

  const one = build(recs, { pids: new Set([200]) });
  t.same([...new Set(one.events.map((e) => e.pid))], [200]);

  const win = build(recs, { from: 5_000, to: 8_000 });
  t.same(validateTrace(win.text), []);
  for (const e of win.events) if ('ts' in e) t.ok(ns(e.ts) >= 4_999 && ns(e.ts) <= 8_000, `${e.ph} ${e.name} at ${e.ts} is in the window`);
  const held = win.events.filter((e) => e.name === 'GIL held' && e.pid === 100);
  t.same(held.map((e) => [e.ph, ns(e.ts)]), [['b', 5_000], ['e', 8_000]], 'clipped to the window');
  t.same(held[0].args, { clipped: true });
  t.same(counter(win.events, 'GIL holder').filter(([, v]) => v !== 0).map(([x]) => x), [5_000, 5_000], 'counters start at the window edge with the values in force');
});

t.test('records it cannot use are reported, pid-less threads stand alone', async (t) => {
  const { events, malformed, b } = build([
    { type: 'span', tid: 1, family: 'gil', state: 'hold', ts: 1.5, dur: 3 },
    { type: 'span', tid: 1, family: 'nope', state: 'hold', ts: 1, dur: 3 },
    { type: 'span', pid: null, tid: 5, family: 'gil', state: 'hold', ts: 10, dur: 3 },
    { type: 'handoff', pid: 1, ts: 'x', to_tid: 2 },
  ]);
  t.equal(malformed.length, 3);
  t.equal(b.stats.noPid, 1);
  t.same([...new Set(events.filter((e) => e.ph === 'b').map((e) => `${e.pid}/${e.tid}`))], ['5/5']);
});

t.test('ndjson: one trace event per line, the same events', async (t) => {
  const recs = [span(1, 'gil', 'hold', 10, 20), { type: 'thread', pid: 100, tid: 1, comm: 'w', main: false, first_ts: 0, last_ts: 1 }];
  const a = build(recs);
  const n = build(recs, { format: 'ndjson' });
  t.same(n.events, a.events);
  t.notOk(n.text.includes('traceEvents'));
  t.equal(n.text.split('\n').filter(Boolean).length, n.events.length);
});

t.test('processes: GIL data first, most contended on top; short ones without GIL events folded, none of their events lost', async (t) => {
  const S = 1e9;
  const at = (pid: number, tid: number, family: Family, state: string, ts: number, dur: number) => ({ type: 'span', pid, tid, family, state, ts, dur });
  // Built: two shim processes (bash 10, readlink 11) living 5 ms each before
  // the Pythons; python 50 waits 1 ms for the GIL, python 60 waits 40 ms;
  // a daemon 70 without GIL events lives 3 s (it must stay itself).
  const recs = [
    at(10, 10, 'sched', 'running', 0, 5e6),
    at(11, 11, 'sched', 'running', 5e6, 2e6),
    at(11, 11, 'sched', 'sleeping', 7e6, 3e6),
    at(70, 70, 'sched', 'running', 1e6, 1e6),
    at(50, 50, 'gil', 'wait', 20e6, 1e6),
    at(50, 50, 'gil', 'hold', 21e6, 9e6),
    at(60, 61, 'gil', 'wait', 20e6, 40e6),
    at(60, 60, 'gil', 'hold', 20e6, 40e6),
    at(70, 70, 'sched', 'sleeping', 2e6, 3 * S),
    { type: 'thread', pid: 10, tid: 10, comm: 'bash', main: true, first_ts: 0, last_ts: 5e6 },
    { type: 'thread', pid: 11, tid: 11, comm: 'readlink', main: true, first_ts: 5e6, last_ts: 10e6 },
    { type: 'thread', pid: 50, tid: 50, comm: 'python3.12', main: true, first_ts: 20e6, last_ts: 30e6 },
    { type: 'thread', pid: 60, tid: 60, comm: 'python3.12', main: true, first_ts: 20e6, last_ts: 60e6 },
    { type: 'thread', pid: 60, tid: 61, comm: 'hog', main: false, first_ts: 20e6, last_ts: 60e6 },
    { type: 'thread', pid: 70, tid: 70, comm: 'daemon', main: true, first_ts: 1e6, last_ts: 3 * S },
    { type: 'process', pid: 10, comm: 'bash', threads: 1, gil: false },
    { type: 'process', pid: 11, comm: 'readlink', threads: 1, gil: false },
    { type: 'process', pid: 50, comm: 'python3.12', threads: 1, gil: true },
    { type: 'process', pid: 60, comm: 'python3.12', threads: 2, gil: true },
    { type: 'process', pid: 70, comm: 'daemon', threads: 1, gil: false },
  ];
  // A window that shows only a little of the daemon: it lived 3 s (its thread record), so it is no short process.
  const clipped = build(recs, { from: 1.5 * S, to: 1.55 * S }).events;
  const clippedNames = Object.fromEntries(clipped.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args.name]));
  t.equal(clippedNames[70], 'daemon', 'with --from/--to the daemon, drawn for 50 ms of its 3 s, stays itself');
  const { text, events, b } = build(recs);
  t.same(validateTrace(text), [], 'a valid trace');
  const sortIndex = Object.fromEntries(events.filter((e) => e.name === 'process_sort_index').map((e) => [e.pid, e.args.sort_index]));
  const order = Object.keys(sortIndex).map(Number).sort((x, y) => sortIndex[x] - sortIndex[y]);
  t.same(order, [60, 50, 70, 10], 'the most contended Python on top, then the other, the long-lived daemon, the folded group last');
  const pname = Object.fromEntries(events.filter((e) => e.name === 'process_name').map((e) => [e.pid, e.args.name]));
  t.same(pname, { 10: '2 short processes without GIL events', 50: 'python3.12', 60: 'python3.12', 70: 'daemon' });
  // Every span drawn: one b and one e per input span, the folded ones under the group's pid.
  const bs = events.filter((e) => e.ph === 'b');
  t.equal(bs.length, recs.filter((r) => r.type === 'span').length, 'no span lost');
  t.same(bs.filter((e) => e.tid === 11).map((e) => e.pid), [10, 10], "readlink's spans are in the group");
  t.same(bs.filter((e) => e.tid === 70).map((e) => e.pid), [70, 70], 'the daemon keeps its pid');
  const tname = Object.fromEntries(events.filter((e) => e.name === 'thread_name').map((e) => [`${e.pid}/${e.tid}`, e.args.name]));
  t.equal(tname['10/11'], 'readlink (pid 11)', 'a folded row says whose it is');
  t.equal(tname['60/61'], 'hog');
  const tsort = Object.fromEntries(events.filter((e) => e.name === 'thread_sort_index' && e.pid === 60).map((e) => [e.tid, e.args.sort_index]));
  t.ok(tsort[60] < tsort[61], 'the main thread first');
  t.match(b.notes().join('\n'), /2 short processes without GIL events .* folded into one process row, pid 10/);
});

t.test('processes: a process without GIL events is held back only until it has lived a second', async (t) => {
  const ctx = collectingContext();
  let text = '';
  const b = new ToTrace((s) => (text += s), ctx, { ...DEFAULTS, version: '9.9.9' });
  const rec = (ts: number, dur: number) => narrow({ type: 'span', pid: 70, tid: 70, family: 'sched', state: 'running', ts, dur }) as never;
  b.write(rec(0, 1e6));
  t.notOk(text.includes('"pid":70'), 'held while it may still be short');
  b.write(rec(999e6, 2e6));
  t.ok(text.includes('"pid":70'), 'written once it has lived a second');
  const before = text.length;
  b.write(rec(1.5e9, 1e6));
  t.ok(text.length > before, 'and from then on as it comes');
  b.end();
});

t.test('processes: a short process busier than what is held back is drawn as itself, with every event', async (t) => {
  const { HOLD_MAX } = await import('../../filters/to-trace/processes.js');
  // Built: HOLD_MAX running spans of 1 µs in 0.2 s, no GIL event.
  const recs = Array.from({ length: HOLD_MAX }, (_, i) => ({ type: 'span', pid: 80, tid: 80, family: 'sched', state: 'running', ts: i * 2000, dur: 1000 }));
  const { events, b } = build([...recs, { type: 'thread', pid: 80, tid: 80, comm: 'busy', main: true, first_ts: 0, last_ts: 2e8 }]);
  const bs = events.filter((e) => e.ph === 'b');
  t.equal(bs.length, HOLD_MAX, 'every span drawn');
  t.ok(bs.every((e) => e.pid === 80), 'under its own pid');
  t.notMatch(b.notes().join('\n'), /folded/, 'nothing folded');
});

t.test("the end in parts: the last counters come 64 K characters at a time, so a runner writes each before the next is made", async (t) => {
  // 20,000 waits of thread 2 in one second, none overlapping: the counter
  // window (two seconds) holds every change until the end. Each wait is two
  // changes of "GIL waiting" (1, then 0).
  const n = 20_000;
  const records: object[] = [];
  for (let i = 0; i < n; i++) records.push(span(2, 'gil', 'wait', 1e9 + i * 50_000, 20_000));
  const ctx = collectingContext();
  const parts: string[] = [];
  const b = new ToTrace((s) => parts.push(s), ctx, { ...DEFAULTS, version: '9.9.9' });
  const chain = connect((emit) => new NdjsonDecoder(emit, ctx, narrow), b);
  for (const r of records) chain.write(JSON.stringify(r));
  const before = parts.length;
  chain.end();
  const atEnd = parts.length;
  let calls = 0;
  while (chain.more?.() === true) calls++;
  t.ok(atEnd - before === 1 && calls >= 2, `end() made one part, more() ${calls} more`);
  const endParts = parts.slice(before);
  t.ok(endParts.every((p) => p.length <= (1 << 16) + 200), `each part at most about 64 K characters (largest ${Math.max(...endParts.map((p) => p.length))} characters)`);
  t.equal(chain.more?.(), false, 'nothing left once it said so');
  const text = parts.join('');
  t.same(validateTrace(text), [], 'the parts make one valid trace');
  const waiting = counter(JSON.parse(text).traceEvents, 'GIL waiting');
  t.equal(waiting.length, 2 * n, 'every change of the counter, none lost between the parts');
  t.same(waiting.slice(0, 2), [[1e9, 1], [1e9 + 20_000, 0]], 'in time order from the first wait');
});

t.test("a span's name as JSON text: the constants are the names, quoted, for every state", async (t) => {
  const base = { type: 'span', pid: 1, tid: 1, ts: 0, dur: 1 };
  const spans: object[] = [];
  for (const state of ['wait', 'hold', 'handoff']) for (const via of [undefined, 'take_gil', 'cond_timedwait', 'stack']) spans.push({ ...base, family: 'gil', state, ...(via ? { via } : {}) });
  for (const state of ['running', 'runnable', 'sleeping', 'blocked', 'other']) {
    for (const gil of [undefined, true, false]) for (const letter of [undefined, 'R+', 'I', 'X"<']) spans.push({ ...base, family: 'sched', state, ...(gil !== undefined ? { gil } : {}), ...(letter ? { letter } : {}) });
  }
  const names = new Set<string>();
  for (const sp of spans) {
    const rec = sp as Span;
    t.equal(spanNameText(rec), JSON.stringify(spanName(rec)), JSON.stringify(sp));
    names.add(spanName(rec));
  }
  t.ok(names.has('GIL wait (cond_timedwait)') && names.has('S(GIL)') && names.has('other (X"<)'), 'the cases differ where the names do');
});


t.test('a record given again after itself, or a span out of order on its track: refused by line, the trace the one of the records given once', async (t) => {
  const once = [
    span(1, 'gil', 'wait', 1_000, 500),
    span(2, 'gil', 'hold', 0, 1_500),
    { type: 'handoff', pid: 100, ts: 1_500, from_tid: 2, to_tid: 1, released_ts: 1_500 },
    span(2, 'gil', 'handoff', 1_500, 10),
    span(1, 'gil', 'hold', 1_500, 1_000),
    span(1, 'sched', 'running', 0, 2_500),
  ];
  const a = build(once);
  const b = build([...once, ...once]);
  t.equal(b.malformed.length, once.length, 'every record of the copy');
  t.match(b.malformed[0], /a gil wait span of thread 1 at 1000 that begins before its span before it ended, at 2500/);
  t.match(b.malformed[2], /a handoff of process 100 at 1500, not after the one at 1500/);
  t.equal(b.text, a.text, 'the same trace, byte for byte');
  t.same(counter(b.events, 'GIL waiting'), counter(a.events, 'GIL waiting'), 'one waiter at a time, not two');
  // A capture record ends a capture: the next may start earlier on its own clock.
  const c = build([...once, { type: 'capture', id: 'a', gil_source: 'take_gil', first_ts: 0, last_ts: 2_500, lost: 0, anomalies: 0 }, ...once]);
  t.same(c.malformed, [], 'after a capture record the same times are a new capture, not a copy');
});
