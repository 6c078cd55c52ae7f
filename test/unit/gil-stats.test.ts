// gil-stats' logic on hand-written gil-state records (docs/events.md), where
// every expected number is worked out from the definitions by hand or by a
// brute-force reference written here, independent of the streaming code.
import t from 'tap';
import fc from 'fast-check';
import { GilStats, type GilStatsJSON, type GilStatsOptions } from '../../filters/gil-stats.js';
import { merge } from '../../filters/gil-stats/merge.js';
import { formatTable, formatCsv, formatMarkdown, notes } from '../../filters/gil-stats/format.js';
import { narrow } from '../../filters/records.js';
import { collectingContext, connect } from '../../lib/filter.js';
import { LogHistogram } from '../../lib/histogram.js';
import { JSON_LINES, LineSplitter } from '../../lib/lines.js';
import { NdjsonDecoder } from '../../lib/ndjson.js';

const MS = 1_000_000;
const opts: GilStatsOptions = { switchIntervalNs: 5 * MS, hogNs: 10 * MS, top: 10 };

type R = Record<string, unknown> & { type: string };

/** The records as NDJSON files through the command's own chain: lines, narrowing, GilStats. */
function run(files: Array<[string, R[]]>, o: GilStatsOptions = opts): { s: GilStatsJSON; bad: string[] } {
  const ctx = collectingContext();
  let s: GilStatsJSON | undefined;
  const stats = new GilStats((x) => (s = x), ctx, o);
  const chain = connect((emit) => new LineSplitter(emit, ctx, JSON_LINES), connect((emit) => new NdjsonDecoder(emit, ctx, narrow), stats));
  for (const [name, recs] of files) {
    ctx.where.file = name;
    chain.write(Buffer.from(recs.map((r) => JSON.stringify(r) + '\n').join('')));
    chain.endInput!();
  }
  chain.end();
  return { s: s!, bad: ctx.problems };
}

const span = (tid: number, family: string, state: string, a: number, b: number, extra: object = {}, pid = 10): R => ({
  type: 'span',
  pid,
  tid,
  family,
  state,
  ts: a * MS,
  dur: (b - a) * MS,
  ...extra,
});

// The designed scenario (times in ms): 11 holds 0-100 while 12 waits 20-102
// and 10 waits 60-151; then 12 holds 102-150 and 10 holds 151-160.
function scenario(shift = 0, pid = 10): R[] {
  const s = (tid: number, f: string, st: string, a: number, b: number, x: object = {}) => span(tid + pid - 10, f, st, a + shift, b + shift, x, pid);
  const recs: R[] = [
    s(11, 'sched', 'running', 0, 30),
    s(11, 'sched', 'runnable', 30, 50),
    s(11, 'sched', 'running', 50, 100),
    s(11, 'gil', 'hold', 0, 100),
    s(11, 'gil', 'handoff', 100, 101),
    s(12, 'gil', 'wait', 20, 102),
    { type: 'my_own_record', note: 'passes through gil-state; gil-stats ignores it' },
    s(12, 'gil', 'hold', 102, 150),
    s(12, 'gil', 'handoff', 150, 150.5),
    s(10, 'gil', 'wait', 60, 151),
    s(10, 'gil', 'hold', 151, 160),
    s(10, 'gil', 'handoff', 160, 161),
    s(10, 'gil', 'hold', 190, 200, { truncated: true }),
    { type: 'thread', pid, tid: pid, comm: 'python', main: true, first_ts: (0 + shift) * MS, last_ts: (200 + shift) * MS },
    { type: 'thread', pid, tid: pid + 1, comm: 'worker', main: false, first_ts: (0 + shift) * MS, last_ts: (101 + shift) * MS },
    { type: 'thread', pid, tid: pid + 2, comm: 'worker', main: false, first_ts: (10 + shift) * MS, last_ts: (160 + shift) * MS },
    { type: 'process', pid, comm: 'python', threads: 3, gil: true },
    { type: 'capture', first_ts: shift * MS, last_ts: (200 + shift) * MS, gil_source: 'take_gil', lost: 0, anomalies: 0 },
  ];
  return recs;
}

t.test('the designed scenario: every figure from the definitions', async (t) => {
  const { s, bad } = run([['a', scenario()]]);
  t.same(bad, []);
  t.equal(s.type, 'gil_stats');
  t.equal(s.gil_data, true);
  const p = s.processes[0]!;
  t.equal(p.wall_ns, 200 * MS, 'wall: first to last event of the process');
  t.equal(p.hold_ns, (100 + 48 + 9 + 10) * MS);
  t.equal(p.wait_ns, (82 + 91) * MS);
  t.equal(p.contended_ns, 131 * MS, 'union of 20-102 and 60-151');
  t.equal(p.max_waiters, 2);
  t.equal(p.forced_switches, 2, "11's and 12's holds ended with a waiter waiting >= 5 ms; 10's did not");
  t.equal(p.hogs.count, 2, 'holds of 100 and 48 ms');
  t.equal(p.hogs.hold_ns, 148 * MS);
  t.same(
    p.hogs.longest.map((h) => [h.tid, h.dur_ns]),
    [
      [11, 100 * MS],
      [12, 48 * MS],
    ],
  );
  t.equal(p.held_offcpu_ns, 20 * MS, '11 was runnable 30-50 while holding');
  const blame = Object.fromEntries(p.blame.map((b) => [`${b.waiter}<-${b.holder}`, b.ns / MS]));
  t.same(blame, { '12<-11': 80, '10<-11': 40, '10<-12': 48 });
  t.equal(p.blame[0]!.waiter, 12, 'largest pair first');
  t.equal(p.derived!.held_pct, 83.5);
  t.equal(p.derived!.contention_pct, 65.5);
  t.equal(p.derived!.wait_per_s, 173 / 200);
  t.equal(p.derived!.mean_waiters, 173 / 131);
  t.equal(p.derived!.no_holder_wait_ns, (173 - 168) * MS, 'waits while nobody held: handoff gaps');

  const th = Object.fromEntries(s.threads.map((x) => [x.tid, x]));
  t.same(
    s.threads.map((x) => x.tid),
    [10, 11, 12],
    'main thread first',
  );
  const w12 = th[12]!;
  t.equal(w12.total_ns, 150 * MS);
  t.equal(w12.derived!.has_gil_pct, (100 * 48) / 150);
  t.equal(w12.derived!.wait_pct, (100 * 82) / 150);
  t.equal(w12.derived!.handoff_pct, (100 * 0.5) / 150);
  t.equal(w12.derived!.no_gil_pct, (100 * (150 - 82 - 48 - 0.5)) / 150);
  t.equal(w12.acquisitions, 1);
  t.equal(w12.derived!.no_holder_wait_ns, 2 * MS, '100-102: 11 released, 12 not yet holding');
  t.equal(th[10]!.derived!.no_holder_wait_ns, 3 * MS, '100-102 and 150-151');
  t.equal(w12.derived!.wait_max_ns, 82 * MS);
  t.same(th[11]!.longest_hold, { ts: 0, dur_ns: 100 * MS, source: 'a' });
  t.equal(th[11]!.derived!.runnable_pct, 20 / 101 * 100);
  t.equal(th[11]!.held_offcpu_ns, 20 * MS);
  // per4m: holds run to drop_gil return; a hold still open at the end is not counted.
  t.same(th[12]!.per4m, { total_ns: 150 * MS, hold_ns: 48.5 * MS, wait_ns: 82 * MS });
  t.same(th[10]!.per4m, { total_ns: 200 * MS, hold_ns: 10 * MS, wait_ns: 91 * MS });
  t.equal(th[10]!.hold_ns, 19 * MS, 'while our own figures keep the truncated hold');
  t.equal(th[11]!.derived!.per4m.has_gil_pct, 100);
  t.equal(s.top.waits[0]!.tid, 10);
  t.equal(s.top.waits[0]!.holder, 12, "10's wait: 12 held longest during it (48 of the 91 ms)");
  t.equal(s.top.holds[0]!.dur_ns, 100 * MS);
});

t.test('arrival order does not matter: blame, contention, waiters and forced switches against a brute-force reference', async (t) => {
  // Random waits (per thread, not overlapping themselves) and holds (one
  // holder at a time, none while its thread waits), fed in a random order.
  const arb = fc.record({
    waits: fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 15 })), { maxLength: 25 }),
    holds: fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 12 })), { maxLength: 15 }),
    seed: fc.integer(),
  });
  fc.assert(
    fc.property(arb, ({ waits, holds, seed }) => {
      const W: Array<[number, number, number]> = [];
      const busy = new Map<number, number>();
      for (const [tid, gap, len] of waits) {
        const a = (busy.get(tid) ?? 0) + gap;
        W.push([tid, a, a + len]);
        busy.set(tid, a + len);
      }
      const H: Array<[number, number, number]> = [];
      let at = 0;
      for (const [tid, gap, len] of holds) {
        const [a, b] = [at + gap, at + gap + len];
        at = b;
        // A thread is in one GIL state at a time: it does not hold while it waits.
        if (W.some(([wt, wa, wb]) => wt === tid && wa < b && a < wb)) continue;
        H.push([tid, a, b]);
      }
      const recs: R[] = [
        ...W.map(([tid, a, b]) => span(tid, 'gil', 'wait', a, b)),
        ...H.map(([tid, a, b]) => span(tid, 'gil', 'hold', a, b)),
      ];
      let x = seed >>> 0;
      for (let i = recs.length - 1; i > 0; i--) {
        x = (x * 1103515245 + 12345) >>> 0;
        const j = x % (i + 1);
        [recs[i], recs[j]] = [recs[j]!, recs[i]!];
      }
      const { s } = run([['x', recs]]);
      const p = s.processes[0];
      // Reference: straight from the definitions, on a 1 ms grid (all times are whole ms).
      const end = Math.max(1, ...W.map((w) => w[2]), ...H.map((h) => h[2]));
      let contended = 0;
      let maxW = 0;
      const blame: Record<string, number> = {};
      for (let m = 0; m < end; m++) {
        const waiting = W.filter(([, a, b]) => a <= m && m < b);
        if (waiting.length > 0) contended++;
        maxW = Math.max(maxW, waiting.length);
        for (const [wt] of waiting) {
          for (const [ht, a, b] of H) if (ht !== wt && a <= m && m < b) blame[`${wt}<-${ht}`] = (blame[`${wt}<-${ht}`] ?? 0) + 1;
        }
      }
      let forced = 0;
      for (const [ht, a, b] of H) {
        if (b <= a) continue;
        if (W.some(([wt, wa, wb]) => wt !== ht && wb >= b && wb > wa && b - Math.max(a, wa) >= 5)) forced++;
      }
      if (!p) return W.length + H.length === 0;
      const got: Record<string, number> = {};
      for (const b of p.blame) got[`${b.waiter}<-${b.holder}`] = b.ns / MS;
      return (
        p.contended_ns === contended * MS &&
        p.max_waiters === maxW &&
        p.forced_switches === forced &&
        JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(blame).sort())
      );
    }),
    { numRuns: 300 },
  );
  t.pass('300 random scenarios agree with the reference');
});

t.test('merge of per-capture summaries equals one run over both captures', async (t) => {
  const o = { ...opts, intervalNs: 25 * MS };
  const a = scenario(0);
  const b = scenario(1000, 20);
  const c = scenario(5000); // the same pid again, in another capture: another process
  const together = run(
    [
      ['a', a],
      ['b', b],
      ['c', c],
    ],
    o,
  ).s;
  const merged = merge([run([['a', a]], o).s, run([['b', b]], o).s, run([['c', c]], o).s]);
  t.same(merged, together);
  t.equal(together.captures, 3);
  const tens = together.processes.filter((p) => p.pid === 10);
  t.same(
    tens.map((p) => p.hold_ns),
    [167 * MS, 167 * MS],
    'pid 10 of two captures: two processes, each with its own holds (not one with both)',
  );
  t.not(tens[0]!.origin, tens[1]!.origin, 'told apart by their origin');
  t.equal(together.windows.reduce((n, w) => n + w.hold_ns, 0), 3 * 167 * MS, 'windows hold every hold ns');
  t.throws(() => merge([run([['a', a]], o).s, run([['a', a]], opts).s]), /different options: interval_ns/);
});

t.test('no GIL data: says so, never "100% no gil"', async (t) => {
  const recs: R[] = [
    span(5, 'sched', 'running', 0, 40, {}, 5),
    span(5, 'sched', 'sleeping', 40, 100, {}, 5),
    { type: 'thread', pid: 5, tid: 5, comm: 'python', main: true, first_ts: 0, last_ts: 100 * MS },
    { type: 'process', pid: 5, comm: 'python', threads: 1, gil: false },
    { type: 'capture', first_ts: 0, last_ts: 100 * MS, gil_source: 'none', lost: 0, anomalies: 0 },
  ];
  const { s } = run([['s', recs]]);
  t.equal(s.gil_data, false);
  t.equal(s.threads[0]!.derived!.no_gil_pct, null);
  t.equal(s.threads[0]!.derived!.running_pct, 40);
  for (const text of [formatTable(s, { per4m: false, top: 5 }), formatTable(s, { per4m: true, top: 5 }), formatMarkdown(s, { per4m: false, top: 5 })]) {
    t.match(text, /no GIL data/);
    t.notMatch(text, /100\.0/);
  }
  const csv = formatCsv(s, 'threads', true).trim().split('\n').map((l) => l.split(','));
  t.same(csv[1], ['5', '5', 'true', '100000', '', '', ''], 'per4m CSV: GIL columns empty');
});

t.test('unusable records are reported with file and line; pass-through records are not', async (t) => {
  const { bad } = run([
    [
      'in.ndjson',
      [
        { type: 'span', pid: 1, tid: 1, family: 'gil', state: 'hold', ts: 5 },
        { type: 'span', pid: 1, tid: 1, family: 'gil', state: 'napping', ts: 5, dur: 1 },
        { type: 'comm', ts: 5, pid: 1, tid: 1, comm: 'x', exec: false },
        { type: 'thread', pid: 1, tid: 1, first_ts: 9, last_ts: 3 },
        { type: 'thread', pid: 1, tid: 1, comm: 'x', main: true, first_ts: 9, last_ts: 3 },
        { type: 'my_own_record', note: 'not a gil-state record: not ours to judge' },
      ],
    ],
  ]);
  // Lines 1, 2 and 4 are not records of their type (narrow says why, then shows the line);
  // line 5 is a whole thread record whose lifetime runs backwards: gil-stats' own check.
  t.same(
    bad.map((b) => b.replace(/: "\{.*$/, '')),
    [
      'in.ndjson:1: span record: "dur" is missing an integer >= 0',
      'in.ndjson:2: span record: "state" is not one of wait, hold, handoff, running, runnable, sleeping, blocked, other',
      'in.ndjson:4: thread record: "comm" is missing a string',
      'in.ndjson:5: thread record without numeric first_ts <= last_ts',
    ],
  );
});

t.test('hog stacks come from the holder\'s samples during the hold', async (t) => {
  const frames = [
    { addr: 'ffff1', sym: 'sre_match', off: 16, dso: 'libpython3.11.so.1.0' },
    { addr: 'ffff2', sym: 'pattern_match', dso: 'libpython3.11.so.1.0' },
  ];
  const { s } = run([
    [
      'h',
      [
        { type: 'sample', ts: 5 * MS, tid: 11, event: 'cpu-clock', callchain: frames },
        { type: 'sample', ts: 50 * MS, tid: 12, event: 'cpu-clock', callchain: [{ addr: '1', sym: 'other', dso: null }] },
        ...scenario(),
      ],
    ],
  ]);
  const hog = s.processes[0]!.hogs.longest[0]!;
  t.equal(hog.tid, 11);
  t.same(hog.stack, ['sre_match+0x10 (libpython3.11.so.1.0)', 'pattern_match (libpython3.11.so.1.0)']);
  t.equal(s.processes[0]!.hogs.longest[1]!.stack, undefined, "12's sample was before its hold");
  t.same(
    s.threads.map((x) => x.tid),
    [10, 11, 12],
    'a thread seen only in samples is not listed',
  );
});

t.test('histogram percentiles are within the documented 4.4% of exact ones', async (t) => {
  const h = new LogHistogram();
  const values: number[] = [];
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const v = Math.round(Math.exp((x / 2 ** 32) * Math.log(1e9)) + 1);
    values.push(v);
    h.add(v);
  }
  values.sort((a, b) => a - b);
  for (const q of [0.5, 0.9, 0.99]) {
    const exact = values[Math.ceil(q * values.length) - 1]!;
    const got = h.percentile(q)!;
    t.ok(Math.abs(got - exact) / exact <= 0.045, `p${q * 100}: ${got} vs exact ${exact}`);
  }
  t.equal(h.percentile(1), values[values.length - 1], 'p100 is the exact max');
  const back = LogHistogram.fromJSON(JSON.parse(JSON.stringify(h.toJSON())));
  t.equal(back.percentile(0.9), h.percentile(0.9), 'survives JSON');
  t.equal(new LogHistogram().percentile(0.5), null, 'empty: no percentile');
});

t.test('a wait reaching back past the lookback: the unpairable part is counted, not taken as empty', async (t) => {
  const S = 1000; // ms
  const { s } = run([
    [
      'long',
      [
        span(11, 'gil', 'hold', 0, 1 * S),
        span(11, 'gil', 'hold', 69 * S, 69.5 * S),
        span(12, 'gil', 'wait', 0.5 * S, 70 * S),
      ],
    ],
  ]);
  const p = s.processes[0]!;
  t.equal(p.lookback_lost_ns, 0.5 * S * MS, 'the first hold (0-1 s) was dropped 60 s later: 0.5-1 s of the wait could not be paired');
  t.same(
    p.blame.map((b) => [b.waiter, b.holder, b.ns]),
    [[12, 11, 0.5 * S * MS]],
    'the recent hold is still paired',
  );
});

t.test('RecentIntervals: bounded by count, says what it forgot', async (t) => {
  const { RecentIntervals } = await import('../../lib/recent-intervals.js');
  const b = new RecentIntervals<{ start: number; end: number }>(3, 1e12);
  const add = (x: { start: number; end: number }) => b.add(x.start, x.end, x);
  for (let i = 0; i < 5; i++) add({ start: i * 10, end: i * 10 + 5 });
  t.equal(b.size, 3);
  t.equal(b.trimmedUpTo, 15);
  t.equal(b.forgotten(0, 100), 15);
  t.equal(b.forgotten(20, 100), 0);
  const seen: number[] = [];
  b.forOverlapping(0, 100, (x, start, end) => seen.push(x.start === start && x.end === end ? start : NaN));
  t.same(seen, [20, 30, 40]);
  add({ start: 0, end: 22 }); // arrives late and ends first: over the cap, it is the one dropped
  seen.length = 0;
  b.forOverlapping(21, 23, (x) => seen.push(x.start));
  t.same(seen, [20]);
  t.equal(b.forgotten(0, 100), 22);
  b.dropEndingBy(30);
  t.equal(b.size, 2, 'dropped exactly, not forgotten');
  t.equal(b.trimmedUpTo, 22);
});

t.test('RecentIntervals: the same answers as a plain sorted list, through growth, compaction and late arrivals', async (t) => {
  const { RecentIntervals } = await import('../../lib/recent-intervals.js');
  // The model: a list sorted by end (a late arrival goes after those ending no later), trimmed from the front.
  const cap = 300;
  const horizon = 5000;
  const b = new RecentIntervals<number>(cap, horizon);
  let model: Array<{ start: number; end: number; id: number }> = [];
  let trimmed = -Infinity;
  let latest = -Infinity;
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  let now = 0;
  let checks = 0;
  for (let id = 0; id < 20000; id++) {
    now += Math.floor(rnd() * 20);
    // Mostly in order of end; one in ten ends a little before the latest.
    const end = rnd() < 0.1 ? now - Math.floor(rnd() * 50) : now;
    const start = end - Math.floor(rnd() * 400);
    b.add(start, end, id);
    let i = model.length;
    while (i > 0 && model[i - 1]!.end > end) i--;
    model.splice(i, 0, { start, end, id });
    if (end > latest) latest = end;
    while (model.length > 0 && (model.length > cap || model[0]!.end < latest - horizon)) trimmed = Math.max(trimmed, model.shift()!.end);
    if (id % 997 === 0) {
      const t0 = now - 600;
      b.dropEndingBy(t0);
      model = model.filter((x, k) => !(model.slice(0, k + 1).every((y) => y.end <= t0)));
    }
    if (id % 13 === 0) {
      const a = now - Math.floor(rnd() * 800);
      const z = a + Math.floor(rnd() * 300);
      const got: string[] = [];
      b.forOverlapping(a, z, (x, s0, e0) => got.push(`${x}:${s0}-${e0}`));
      const want = model.filter((x) => x.end > a && x.start < z).map((x) => `${x.id}:${x.start}-${x.end}`);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.fail(`after ${id + 1} adds, (${a}, ${z}): ${got.length} intervals, the model has ${want.length}`);
        return;
      }
      checks++;
    }
  }
  t.equal(b.size, model.length, 'as many kept');
  t.equal(b.trimmedUpTo, trimmed, 'forgotten up to the same point');
  t.ok(checks > 1000, `${checks} overlap questions answered alike`);
});

t.test('waits-only GIL sources (cond_timedwait, stack): no claims about holding', async (t) => {
  const recs: R[] = [
    span(11, 'gil', 'wait', 10, 20, { via: 'cond_timedwait' }),
    span(12, 'gil', 'wait', 15, 30, { via: 'cond_timedwait' }),
    { type: 'thread', pid: 10, tid: 11, comm: 'w', main: false, first_ts: 0, last_ts: 100 * MS },
    { type: 'thread', pid: 10, tid: 12, comm: 'w', main: false, first_ts: 0, last_ts: 100 * MS },
    { type: 'process', pid: 10, comm: 'python', threads: 2, gil: true },
    { type: 'capture', first_ts: 0, last_ts: 100 * MS, gil_source: 'cond_timedwait', lost: 0, anomalies: 0 },
  ];
  const { s } = run([['c', recs]]);
  const p = s.processes[0]!;
  t.equal(p.holds_known, false);
  t.equal(p.derived!.held_pct, null, 'not "0% held"');
  t.equal(p.derived!.no_holder_wait_ns, null);
  t.equal(p.derived!.contention_pct, 20, 'waits are still measured: 10-30 ms of 100');
  for (const x of s.threads) {
    t.equal(x.derived!.no_gil_pct, null, 'not "100% no gil"');
    t.equal(x.derived!.has_gil_pct, null);
    t.equal(x.derived!.per4m.no_gil_pct, null);
    t.ok(x.derived!.wait_pct! > 0);
  }
  const text = formatTable(s, { per4m: false, top: 5 });
  t.match(text, /shows waits only/);
  t.notMatch(text, /GIL held|nobody/);
});

// ------------------------------------------------------------ finding the code (docs/finding-code.md)

t.test('hogs by harm: the wait they caused, summed over waiters; an uncontended longer hold comes last', async (t) => {
  // 11 holds 0-50 (py::parse_all) while 12 waits 10-50 and 13 waits 20-50: harm 40 + 30 = 70 ms.
  // 11 holds 100-300 (py::tidy_up) with nobody waiting: longer, harm 0.
  const where = (fn: string) => [`sre_ucs1_match (libpython3.12.so.1.0)`, `_PyEval_EvalFrameDefault (libpython3.12.so.1.0)`, `py::${fn}:/w/pool_hog.py`];
  const { s, bad } = run(
    [
      [
        'h',
        [
          span(12, 'gil', 'wait', 10, 50, { stack: ['take_gil (libpython3.12.so.1.0)', 'py::parse_task:/w/pool_hog.py'] }),
          span(11, 'gil', 'hold', 0, 50, { stack: ['PyEval_RestoreThread (libpython3.12.so.1.0)', 'py::hog:/w/pool_hog.py'], sampled_stack: where('parse_all'), samples: 9 }),
          span(13, 'gil', 'wait', 20, 50),
          span(12, 'gil', 'hold', 50, 55),
          span(13, 'gil', 'hold', 55, 60),
          span(11, 'gil', 'hold', 100, 300, { sampled_stack: where('tidy_up'), samples: 20 }),
          { type: 'thread', pid: 10, tid: 11, comm: 'hog', main: false, first_ts: 0, last_ts: 300 * MS },
          { type: 'thread', pid: 10, tid: 12, comm: 'ThreadPoolExecu', main: false, first_ts: 0, last_ts: 60 * MS },
          { type: 'thread', pid: 10, tid: 13, comm: 'ThreadPoolExecu', main: false, first_ts: 0, last_ts: 60 * MS },
        ],
      ],
    ],
    { ...opts, folded: true },
  );
  t.same(bad, []);
  const hogs = s.processes[0]!.hogs.longest;
  t.same(hogs.map((h) => [h.dur_ns / MS, (h.blamed_ns ?? -1) / MS, h.waiters, h.uncontended ?? false]), [
    [50, 70, 2, false],
    [200, 0, 0, true],
  ]);
  t.same(hogs[0]!.python, { function: 'parse_all', file: '/w/pool_hog.py' }, 'the function it spent the hold in, not where it began');
  t.equal(hogs[0]!.native, 'sre_ucs1_match');
  t.same(hogs[0]!.began, ['PyEval_RestoreThread (libpython3.12.so.1.0)', 'py::hog:/w/pool_hog.py']);
  t.equal(hogs[0]!.comm, 'hog');
  t.equal(s.top.waits[0]!.python?.function, 'parse_task', "a wait has the waiter's Python function");
  // The blame graph: the holder's stack, root first, under its name, weighted by the waiting.
  const blame = s.folded!.blame;
  t.same(blame[0], { stack: ['hog', ...[...where('parse_all')].reverse()], ns: 70 * MS });
  t.notOk(blame.some((l) => l.stack.includes('py::tidy_up:/w/pool_hog.py')), 'an uncontended hold weighs nothing');
  const waits = s.folded!.wait;
  t.same(
    waits.map((l) => [l.stack.join(';'), l.ns / MS]),
    [
      ['ThreadPoolExecu;py::parse_task:/w/pool_hog.py;take_gil (libpython3.12.so.1.0)', 40],
      ['ThreadPoolExecu;[no stack recorded]', 30],
    ],
    "the wait graph: waiters' stacks by their wait, the two pool threads' lines one name",
  );
  const table = formatTable(s, { per4m: false, top: 10 });
  t.match(table, /1\. hog \(11\) made others wait 70\.0 ms \(100% of all GIL waiting\), in parse_all\(\) \(pool_hog\.py\), calling the C function/);
  t.match(table, /1 long hold had nobody waiting \(the longest 200 ms by hog \(11\) in tidy_up\(\)\)/);
});

t.test("a hog's hold split by the holder's scheduler state, and what it blocked in", async (t) => {
  const fsync = [
    '__schedule ([kernel.kallsyms])',
    'schedule ([kernel.kallsyms])',
    'io_schedule ([kernel.kallsyms])',
    'folio_wait_bit ([kernel.kallsyms])',
    'folio_wait_writeback ([kernel.kallsyms])',
    'do_fsync ([kernel.kallsyms])',
    '__x64_sys_fsync ([kernel.kallsyms])',
    'do_syscall_64 ([kernel.kallsyms])',
    'fsync (libc.so.6)',
    'py::journal:/w/fsync_hog.py',
  ];
  // 11 holds 0-40: running 0-10, blocked 10-30 (in fsync; the span arrives before the hold), runnable 30-35, running 35-40.
  // The sched spans after the hold's own arrive after it: both orders are paired.
  const { s } = run([
    [
      'f',
      [
        span(11, 'sched', 'running', 0, 10),
        span(11, 'sched', 'blocked', 10, 30, { letter: 'D', stack: fsync }),
        span(12, 'gil', 'wait', 5, 40),
        span(11, 'gil', 'hold', 0, 40, { sampled_stack: fsync.slice(8) }),
        span(11, 'sched', 'runnable', 30, 35),
        span(11, 'sched', 'running', 35, 40),
        { type: 'thread', pid: 10, tid: 11, comm: 'journal', main: false, first_ts: 0, last_ts: 40 * MS },
        { type: 'thread', pid: 10, tid: 12, comm: 'cpu', main: false, first_ts: 0, last_ts: 40 * MS },
      ],
    ],
  ], { ...opts, folded: true });
  const h = s.processes[0]!.hogs.longest[0]!;
  t.same(h.sched, { running_ns: 15 * MS, runnable_ns: 5 * MS, sleeping_ns: 0, blocked_ns: 20 * MS, blocked_in: 'folio_wait_writeback in fsync', blocked_in_ns: 20 * MS });
  t.equal(h.native, 'fsync');
  t.same(
    s.folded!.offcpu.map((l) => [l.stack.at(-1), l.ns / MS]),
    [
      ['__schedule ([kernel.kallsyms])', 20],
      ['[runnable]', 5],
    ],
    'the off-CPU graph: the switch-out stack of the block, the hold\'s stack for the runnable time',
  );
  const table = formatTable(s, { per4m: false, top: 10 });
  t.match(table.replace(/\n {5,}/g, ' '), /journal \(11\) made others wait 35\.0 ms .* it held the GIL off a CPU 63% of that hold: asleep or blocked 20\.0 ms \(in folio_wait_writeback in fsync\)/);
});

t.test('the table fits 120 columns; the verdict says when there are no stacks', async (t) => {
  const { s } = run([['a', scenario()]]);
  const table = formatTable(s, { per4m: false, top: 10 });
  t.ok(table.split('\n').every((l) => l.length <= 120));
  t.match(table, /No stacks were recorded/);
  t.match(table, /times \("at"\) in seconds from the first event/);
  t.equal(s.processes[0]!.callchains, 0);
  // Stacks on sched_switch only (gil-record --stacks), none in the holds: the verdict says where they are.
  const switchStack = { type: 'sample', pid: 10, tid: 11, ts: 120 * MS, event: 'sched:sched_switch', callchain: [{ addr: 'ffffffff81000000', sym: '__schedule', dso: '[kernel.kallsyms]' }] };
  const empty = { ...switchStack, ts: 121 * MS, callchain: [] };
  const elsewhere = { ...switchStack, pid: 77, tid: 77 };
  // Before the capture record, which ends the capture.
  const withSwitch = run([['a', [switchStack, empty, elsewhere, ...scenario()]]]).s;
  t.equal(withSwitch.processes[0]!.callchains, 1, 'the sample with a stack; an empty callchain is none');
  t.notOk(withSwitch.processes.some((p) => p.pid === 77), 'a sample makes no process row of its own');
  const said = formatTable(withSwitch, { per4m: false, top: 10 }).replace(/\s*\n\s*/g, ' ');
  t.notMatch(said, /No stacks were recorded/);
  t.match(said, /No stacks fell in the long holds: this recording's stacks are on other events \(sched_switch, with gil-record --stacks\)/);
  // Merged with a capture without stacks (another host): each process's verdict is its own.
  const other = run([['b', scenario(0, 20)]]).s;
  const merged = merge([withSwitch, other]);
  t.same(merged.processes.map((p) => [p.pid, p.callchains]), [[10, 1], [20, 0]]);
  const mergedSaid = formatTable(merged, { per4m: false, top: 10 }).replace(/\s*\n\s*/g, ' ');
  t.match(mergedSaid, /Process 20 .*No stacks were recorded/, 'the process without stacks is told so');
  t.equal(merge([withSwitch, withSwitch]).processes[0]!.callchains, 2, '--merge adds them up');
});

t.test('a hog preempted while it holds: whose task had its CPU, summed per task', async (t) => {
  // 11 holds 0-100 ms while 12 waits; 11 is preempted 10-40 by task 900, 50-60 by 901, 70-85 by 900 again.
  const recs: R[] = [
    span(11, 'sched', 'running', 0, 10),
    span(11, 'sched', 'runnable', 10, 40, { letter: 'R', preempted_by: { tid: 900, comm: 'make' } }),
    span(11, 'sched', 'running', 40, 50),
    span(11, 'sched', 'runnable', 50, 60, { letter: 'R', preempted_by: { tid: 901, comm: 'cc1' } }),
    span(11, 'sched', 'running', 60, 70),
    span(11, 'sched', 'runnable', 70, 85, { letter: 'R', preempted_by: { tid: 900, comm: 'make' } }),
    span(11, 'sched', 'running', 85, 100),
    span(11, 'gil', 'hold', 0, 100),
    span(12, 'gil', 'wait', 5, 100),
  ];
  const { s } = run([['a', recs]]);
  const hog = s.processes[0]!.hogs.longest[0]!;
  t.equal(hog.sched!.runnable_ns, 55 * MS, 'runnable 55 ms of the hold');
  t.same(hog.sched!.preempted_by, { tid: 900, comm: 'make' }, 'the task that had its CPU longest');
  t.equal(hog.sched!.preempted_by_ns, 45 * MS, 'for 30 + 15 ms');
});

t.test('a wait given again after what the buffers keep: counted, but no percentage of its thread passes 100', async (t) => {
  // 11 waits 0-50 ms, then holds to 61 s: past the buffers' 60 s the wait is
  // forgotten, and the same wait again cannot be told from a new one. Its
  // GIL states then add up to 61.05 s in a life of 61 s.
  // (12's wait at the end is what makes the waits' buffer let go of 0-50.)
  const recs: R[] = [span(11, 'gil', 'wait', 0, 50), span(11, 'gil', 'hold', 50, 61_000), span(12, 'gil', 'wait', 60_950, 61_000), span(11, 'gil', 'wait', 0, 50)];
  const { s, bad } = run([['a', recs]]);
  t.same(bad, [], 'not refused: nothing kept says it was given before');
  const th = s.threads[0]!;
  t.equal(th.tid, 11);
  t.equal(th.wait_ns + th.hold_ns, 61_050 * MS);
  t.equal(th.total_ns, 61_000 * MS);
  t.same([th.derived!.has_gil_pct, th.derived!.wait_pct, th.derived!.no_gil_pct, th.derived!.handoff_pct], [null, null, null, null], 'the GIL family left out');
  t.match(notes(s, 'json').join('\n'), /thread \(11\): states that add up to more than the thread's life/);
  // Inside what is kept, the same wait is refused and the figures stand.
  const near = run([['a', [span(11, 'gil', 'wait', 0, 50), span(11, 'gil', 'hold', 50, 1000), span(11, 'gil', 'wait', 0, 50)]]]);
  t.match(near.bad, [/a gil wait span of thread 11 at 0 that overlaps one of its spans before it/]);
  t.equal(near.s.threads[0]!.derived!.wait_pct, 5);
});

t.test('scheduler spans, handoff, thread and process records given again: refused, whatever lies between', async (t) => {
  const once: R[] = [
    span(11, 'sched', 'running', 0, 30),
    span(11, 'sched', 'sleeping', 30, 60),
    span(11, 'gil', 'hold', 0, 20),
    span(11, 'gil', 'handoff', 20, 21),
    { type: 'handoff', pid: 10, ts: 20 * MS, from_tid: 11, to_tid: 12 },
    span(12, 'gil', 'wait', 5, 21),
    span(12, 'gil', 'hold', 21, 60),
    { type: 'thread', pid: 10, tid: 11, comm: 'a', main: false, first_ts: 0, last_ts: 60 * MS },
    { type: 'thread', pid: 10, tid: 12, comm: 'b', main: false, first_ts: 0, last_ts: 60 * MS },
    { type: 'process', pid: 10, comm: 'p', threads: 2, gil: true },
  ];
  const a = run([['a', once]]);
  const b = run([['a', [...once, ...once]]]);
  t.equal(b.bad.length, once.length, 'every record of the copy');
  t.match(b.bad.at(-1), /a second process record of process 10/);
  t.same(b.s.threads, a.s.threads);
  t.same(b.s.processes, a.s.processes, 'switches counted once');
  t.equal(a.s.processes[0]!.switches, 1);
});

t.test('two threads holding at once, their sums within the wall time: the process figures withheld all the same', async (t) => {
  // 11 holds 0-50 ms, 12 holds 40-60 ms: 70 ms of holds in 100 ms, so no
  // sum passes the wall time, yet 40-50 had two holders.
  const recs: R[] = [span(11, 'gil', 'hold', 0, 50), span(12, 'gil', 'hold', 40, 60), span(10, 'gil', 'wait', 0, 100)];
  const p = run([['a', recs]]).s.processes[0]!;
  t.equal(p.overlapping_holds, 1);
  t.match(p.derived!.withheld, /^1 of its holds overlapped another thread's hold/);
  t.equal(p.derived!.held_pct, null);
  const apart = run([['a', [span(11, 'gil', 'hold', 0, 50), span(12, 'gil', 'hold', 50, 60), span(10, 'gil', 'wait', 0, 100)]]]).s.processes[0]!;
  t.equal(apart.overlapping_holds, 0, 'holds that touch are one holder after the other');
  t.equal(apart.derived!.withheld, null);
});
