// The live intervals (filters/live.ts) against a reference worked out after
// the fact: real captures through the same in-process chain gil-record --live
// runs (LineSplitter → PerfParser → GilState → LiveIntervals), the spans
// gil-state wrote kept on the side, and each interval's waits and holds
// summed from those spans by brute force. The streaming side saw every
// stall while it was still open (counted then, not when its span came);
// both must agree to the nanosecond. Then the tick, late data and the end,
// on a view written by hand.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { collectingContext, connect, tee } from '../../lib/filter.js';
import { LineSplitter, PERF_TEXT } from '../../lib/lines.js';
import { PerfParser } from '../../filters/perf-parse.js';
import { DEFAULTS as GIL_STATE_DEFAULTS, GilState, type OpenGil } from '../../filters/gil-state.js';
import { LiveIntervals, type LiveRecord, liveScreen } from '../../filters/live.js';
import type { AnyRecord, GilSpan } from '../../filters/records.js';
import { root } from '../helpers/run.js';

const MS = 1_000_000;
const fixture = (name: string) => join(root, 'test/fixtures', name);

function runLive(path: string, everyNs: number) {
  const ctx = collectingContext(path);
  const spans: GilSpan[] = [];
  const recs: LiveRecord[] = [];
  let state!: GilState;
  const view = { openGil: () => state.openGil(), get latestTs() { return state.latestTs; }, threadName: (tid: number) => state.threadName(tid) };
  const live = new LiveIntervals((r) => recs.push(r), ctx, view, { everyNs, marginNs: 500 * MS, top: 100 });
  const keep = { write: (r: AnyRecord) => void (r.type === 'span' && r.family === 'gil' && (r.state === 'wait' || r.state === 'hold') && spans.push(r)), end: () => undefined };
  const head = connect(
    (emit) => new LineSplitter(emit, ctx, PERF_TEXT),
    connect((emit) => new PerfParser(emit, ctx), connect((emit) => (state = new GilState(emit, ctx, GIL_STATE_DEFAULTS)), tee([live, keep]))),
  );
  const bytes = gunzipSync(readFileSync(path));
  for (let i = 0; i < bytes.length; i += 65536) head.write(bytes.subarray(i, i + 65536));
  head.end();
  return { recs, spans, live };
}

for (const [name, every] of [
  ['gil_hog.perf.txt.gz', 100 * MS],
  ['two_cpu.perf.txt.gz', 50 * MS],
  ['two_procs.perf.txt.gz', 100 * MS],
  ['lost.perf.txt.gz', 100 * MS],
] as const) {
  t.test(`${name}, every ${every / MS} ms: each interval is what its spans add up to`, async (t) => {
    const { recs, spans, live } = runLive(fixture(name), every);
    t.ok(recs.length > 2, `${recs.length} intervals`);
    t.ok(recs.slice(1).every((r, i) => r.start_ts === recs[i]!.end_ts), 'back to back');
    t.ok(recs.slice(0, -1).every((r) => !r.partial && r.end_ts - r.start_ts === every), 'whole intervals but the last');
    t.equal(live.lateNs, 0, 'nothing late: the stream came in order');
    const origin = recs[0]!.start_ts;
    let mismatches = 0;
    let checked = 0;
    for (const r of recs) {
      // Brute force: each span clipped to the interval (and to the first interval's start).
      const want = new Map<string, { wait: number; hold: number }>();
      let worst: { tid: number; dur: number } | undefined;
      for (const s of spans) {
        const a = Math.max(s.ts, r.start_ts, origin);
        const b = Math.min(s.ts + s.dur, r.end_ts);
        if (b > a) {
          const k = `${s.pid}/${s.tid}`;
          const w = want.get(k) ?? { wait: 0, hold: 0 };
          w[s.state as 'wait' | 'hold'] += b - a;
          want.set(k, w);
        }
        const end = s.ts + s.dur;
        if (s.state === 'wait' && b > a && (!worst || Math.min(end, r.end_ts) - s.ts > worst.dur)) worst = { tid: s.tid, dur: Math.min(end, r.end_ts) - s.ts };
      }
      for (const p of r.processes) {
        t.ok(p.held_pct === null || (p.held_pct >= 0 && p.held_pct <= 100), 'held % in [0, 100]');
        for (const th of p.threads) {
          const w = want.get(`${p.pid}/${th.tid}`) ?? { wait: 0, hold: 0 };
          checked++;
          if (w.wait !== th.wait_ns || w.hold !== th.hold_ns) {
            mismatches++;
            if (mismatches < 5) t.fail(`[${r.start_ts}, ${r.end_ts}) ${p.pid}/${th.tid}: live ${th.wait_ns}/${th.hold_ns}, spans ${w.wait}/${w.hold}`);
          }
          want.delete(`${p.pid}/${th.tid}`);
        }
      }
      t.same([...want.keys()].filter((k) => want.get(k)!.wait + want.get(k)!.hold > 0), [], `[${r.start_ts - origin} ns]: no thread with GIL time left out`);
      // The worst wait: the longest wait overlapping the interval, as long as it had lasted by the interval's end.
      const got = r.processes.map((p) => p.worst_wait).filter((w) => w !== null);
      const longest = got.reduce((m, w) => Math.max(m, w!.dur), 0);
      if (worst) t.equal(longest, worst.dur, `[${r.start_ts - origin} ns]: worst wait ${worst.dur} ns`);
      else t.equal(got.length, 0, 'no wait, no worst wait');
    }
    t.equal(mismatches, 0, `${checked} thread-intervals equal the spans' sums`);
  });
}

t.test('a stall seen while open: counted at each close, its span adds only the rest; late data is said, not counted', async (t) => {
  const open: OpenGil[] = [];
  const view = { openGil: () => open, latestTs: -Infinity, threadName: (tid: number) => (tid === 2 ? 'victim\x1b[31m' : 'hog') };
  const recs: LiveRecord[] = [];
  const live = new LiveIntervals((r) => recs.push(r), collectingContext(), view, { everyNs: 1000, marginNs: 100, top: 5, originNs: 0 });
  const span = (tid: number, state: 'wait' | 'hold', ts: number, dur: number): AnyRecord => ({ type: 'span', family: 'gil', pid: 1, tid, state, ts, dur });
  // 0..500 the victim (2) holds; then the hog (3) holds from 500 to 2600 while the victim waits.
  view.latestTs = 500;
  live.write(span(2, 'hold', 0, 500));
  open.push({ pid: 1, tid: 3, state: 'hold', since: 500 }, { pid: 1, tid: 2, state: 'wait', since: 500 });
  view.latestTs = 1200; // an event past 1000: the first interval closes with the stall open
  live.write({ type: 'perf_record', ts: 1200, name: 'SWITCH', body: '' } as AnyRecord);
  t.equal(recs.length, 1, 'the first interval closed by the stream passing its end');
  const p0 = recs[0]!.processes[0]!;
  t.equal(p0.wait_ns, 500, 'the open wait counted up to the end');
  t.equal(p0.hold_ns, 1000, 'holds tile the interval');
  t.equal(p0.held_pct, 100);
  t.same(p0.worst_wait, { tid: 2, name: 'victim\x1b[31m', dur: 500, ongoing: true }, 'the worst wait still going');
  // No events at all: the wall-clock tick closes the second interval, the stall still open.
  live.tick(2050);
  t.equal(recs.length, 1, 'not before the margin');
  live.tick(2100);
  t.equal(recs.length, 2, 'the tick closes an interval nobody ended');
  t.equal(recs[1]!.processes[0]!.wait_ns, 1000);
  t.equal(recs[1]!.processes[0]!.holder!.tid, 3, 'the hog holds all of it');
  // The stall ends at 2600: its spans come, only their rest is new.
  open.length = 0;
  view.latestTs = 2600;
  live.write(span(3, 'hold', 500, 2100));
  live.write(span(2, 'wait', 500, 2100));
  // A span that began before 2000 and was never seen open: late.
  live.write(span(4, 'wait', 1900, 300));
  // One whose start perf never saw (going on when it attached): unseen, not late.
  live.write({ type: 'span', family: 'gil', pid: 2, tid: 5, state: 'hold', ts: 1800, dur: 400, partial: true });
  view.latestTs = 2700;
  live.end();
  t.equal(recs.length, 3, 'the end writes the last interval');
  const last = recs[2]!;
  t.equal(last.partial, true, 'cut short');
  t.equal(last.end_ts, 2700);
  const p2 = last.processes[0]!;
  t.equal(p2.threads.find((x) => x.tid === 2)!.wait_ns, 600, 'the victim: 2000..2600');
  t.equal(p2.threads.find((x) => x.tid === 4)!.wait_ns, 200, 'the late span: its part after 2000');
  t.equal(last.late_ns, 100, 'and its part before, said late');
  t.equal(live.lateNs, 100);
  t.equal(live.unseenNs, 200, 'the partial span: its part before 2000 unseen');
  t.equal(last.processes.find((p) => p.pid === 2)?.hold_ns, 200, 'and its rest counted');
  t.same(p2.worst_wait, { tid: 2, name: 'victim\x1b[31m', dur: 2100, ongoing: false }, 'the whole stall where it ended');
  const screen = liveScreen(last, 'head').join('\n');
  t.notOk(screen.includes('\x1b'), 'names escaped on the screen');
  t.match(screen, /worst wait: victim\\x1b\[31m \(2\) 2\.1\d* µs\n/, 'the worst wait on the screen');
});

t.test('holds that overlap make no held %', async (t) => {
  const view = { openGil: () => [], latestTs: 900, threadName: () => 'x' };
  const recs: LiveRecord[] = [];
  const live = new LiveIntervals((r) => recs.push(r), collectingContext(), view, { everyNs: 1000, marginNs: 100, top: 5, originNs: 0 });
  live.write({ type: 'span', family: 'gil', pid: 1, tid: 2, state: 'hold', ts: 0, dur: 800 });
  live.write({ type: 'span', family: 'gil', pid: 1, tid: 3, state: 'hold', ts: 200, dur: 800 });
  view.latestTs = 1000;
  live.end();
  t.equal(recs[0]!.processes[0]!.hold_ns, 1600);
  t.equal(recs[0]!.processes[0]!.held_pct, null, 'null, not 160 %');
});

t.test('an idle program: no events at all, the tick still writes an interval a second from the start', async (t) => {
  const view = { openGil: () => [], latestTs: -Infinity, threadName: () => undefined };
  const recs: LiveRecord[] = [];
  const live = new LiveIntervals((r) => recs.push(r), collectingContext(), view, { everyNs: 1000, marginNs: 100, top: 5 });
  live.tick(5000);
  t.equal(recs.length, 0, 'nothing before the recording started');
  live.start(10_000);
  live.tick(11_050);
  t.equal(recs.length, 0, 'not before the margin');
  live.tick(12_100);
  t.same(
    recs.map((r) => [r.start_ts, r.end_ts, r.processes.length]),
    [
      [10_000, 11_000, 0],
      [11_000, 12_000, 0],
    ],
    'empty intervals from the start',
  );
  live.end();
  t.equal(recs.length, 2, 'no events: no last interval to cut short');
});
