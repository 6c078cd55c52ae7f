// gil-state's invariants on any sequence of events, however broken
// (fast-check): per thread and family, spans are disjoint and never
// negative; per process with its pids recorded, at most one thread holds the
// GIL at any instant; nothing is NaN.
import t from 'tap';
import fc from 'fast-check';
import { collectingContext } from '../../lib/filter.js';
import { GilState, DEFAULTS } from '../../filters/gil-state.js';
import type { AnyRecord, Sample } from '../../filters/records.js';

// Two processes, pids 100 and 200, of three threads each.
const TIDS = [100, 101, 102, 200, 201, 202];
const pidOf = (tid: number) => (tid < 200 ? 100 : 200);

type Step =
  | { kind: 'probe'; tid: number; fn: 'take_gil' | 'drop_gil'; ret: boolean }
  | { kind: 'switch'; prev: number; next: number; state: 'R' | 'S' | 'D' | 'X' }
  | { kind: 'wake'; waker: number; tid: number }
  | { kind: 'lost' }
  | { kind: 'repeat' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('probe' as const), tid: fc.constantFrom(...TIDS), fn: fc.constantFrom('take_gil' as const, 'drop_gil' as const), ret: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('switch' as const), prev: fc.constantFrom(0, ...TIDS), next: fc.constantFrom(0, ...TIDS), state: fc.constantFrom('R' as const, 'S' as const, 'D' as const, 'X' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wake' as const), waker: fc.constantFrom(...TIDS), tid: fc.constantFrom(...TIDS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lost' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const) }) },
);

function records(steps: Step[], gaps: number[]): AnyRecord[] {
  const out: AnyRecord[] = [];
  let ts = 1_000_000;
  steps.forEach((s, i) => {
    ts += gaps[i % gaps.length]!;
    const base = (tid: number, event: string): Sample => ({ type: 'sample', ts, pid: pidOf(tid), tid, cpu: 0, event });
    switch (s.kind) {
      case 'probe':
        out.push({ ...base(s.tid, `p:${s.fn}${s.ret ? '__return' : ''}`), probe: s.ret ? { func: 'aa', ret: 'bb' } : { func: 'aa' } });
        break;
      case 'switch': {
        const who = s.prev === 0 ? TIDS[0]! : s.prev;
        out.push({ ...base(who, 'sched:sched_switch'), fields: { prev_comm: 'x', prev_pid: s.prev, prev_prio: 120, prev_state: s.state, next_comm: 'y', next_pid: s.next, next_prio: 120 } });
        break;
      }
      case 'wake':
        out.push({ ...base(s.waker, 'sched:sched_waking'), fields: { comm: 'x', pid: s.tid, prio: 120, target_cpu: 0 } });
        break;
      case 'lost':
        out.push({ type: 'lost', ts, cpu: 0, lost: 3 });
        break;
      case 'repeat':
        if (out.length > 0) out.push(out[out.length - 1]!);
        break;
    }
  });
  return out;
}

function problems(recs: AnyRecord[]): string[] {
  const p: string[] = [];
  const byThread = new Map<string, Array<[number, number]>>();
  const holds = new Map<number, Array<[number, number, number]>>();
  for (const r of recs) {
    if (r.type !== 'span') continue;
    if (!Number.isInteger(r.ts) || !Number.isInteger(r.dur) || r.dur < 0 || r.ts < 0) p.push(`bad span ${JSON.stringify(r)}`);
    const k = `${r.tid} ${r.family}`;
    (byThread.get(k) ?? byThread.set(k, []).get(k)!).push([r.ts, r.ts + r.dur]);
    if (r.family === 'gil' && r.state === 'hold' && r.dur > 0 && r.pid !== null) (holds.get(r.pid) ?? holds.set(r.pid, []).get(r.pid)!).push([r.ts, r.ts + r.dur, r.tid]);
  }
  for (const [k, list] of byThread) {
    list.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < list.length; i++) if (list[i]![0] < list[i - 1]![1]) p.push(`${k}: ${list[i - 1]} overlaps ${list[i]}`);
  }
  for (const [pid, list] of holds) {
    list.sort((a, b) => a[0] - b[0]);
    let end = -Infinity;
    let who = -1;
    for (const [s, e, tid] of list) {
      if (s < end && tid !== who) p.push(`process ${pid}: ${who} and ${tid} hold at once at ${s}`);
      if (e > end) {
        end = e;
        who = tid;
      }
    }
  }
  return p;
}

t.test('random event sequences: spans disjoint per thread; one holder per process', async (t) => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 120 }), fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 8 }), (steps, gaps) => {
      const out: AnyRecord[] = [];
      const g = new GilState((r) => out.push(r), collectingContext(), DEFAULTS);
      for (const r of records(steps, gaps)) g.write(r);
      g.end();
      const errors = problems(out);
      if (errors.length > 0) throw new Error(errors.slice(0, 3).join('; '));
    }),
    { numRuns: 500 },
  );
  t.pass('500 runs');
});

t.test('an exited thread switched in once more to finish dying stays dead: it does not run to the end', async (t) => {
  const sample = (ts: number, tid: number, event: string, fields?: Record<string, unknown>): Sample =>
    ({ type: 'sample', ts, pid: 100, tid, cpu: 0, event, ...(fields ? { fields } : {}) }) as Sample;
  const sw = (ts: number, prev: number, state: string, next: number) =>
    sample(ts, prev, 'sched:sched_switch', { prev_comm: 'p', prev_pid: prev, prev_prio: 120, prev_state: state, next_comm: 'n', next_pid: next, next_prio: 120 });
  const input: AnyRecord[] = [
    sw(1_000, 100, 'R', 101),
    sample(2_000, 101, 'sched:sched_process_exit', { comm: 'shim', pid: 101, prio: 120 }),
    // perf's events of 101 are gone: its last switch-in is seen (from 100's side), its switch-out is not.
    sw(3_000, 100, 'S', 101),
    sample(1_000_000, 100, 'sched:sched_waking', { comm: 'x', pid: 100, prio: 120, target_cpu: 0 }),
    sw(1_000_001, 0, 'R', 100),
  ];
  const out: AnyRecord[] = [];
  const gs = new GilState((r) => out.push(r), collectingContext(), DEFAULTS);
  for (const r of input) gs.write(r);
  gs.end();
  const spans = out.filter((r): r is AnyRecord & { tid: number; ts: number; dur: number } => r.type === 'span' && (r as { tid?: number }).tid === 101);
  const end = Math.max(...spans.map((s) => s.ts + s.dur));
  t.ok(end <= 3_000, `its last span ends by its final switch-in (${end}), not at the end of the recording`);
  // A fork of the same tid is a new thread: that one runs again.
  const again: AnyRecord[] = [...input.slice(0, 3), { type: 'fork', ts: 4_000, pid: 100, tid: 101, ppid: 100, ptid: 100 }, sw(5_000, 100, 'S', 101), ...input.slice(3)];
  const out2: AnyRecord[] = [];
  const gs2 = new GilState((r) => out2.push(r), collectingContext(), DEFAULTS);
  for (const r of again) gs2.write(r);
  gs2.end();
  const running = out2.filter((r) => r.type === 'span' && (r as { tid?: number }).tid === 101 && (r as { state?: string }).state === 'running' && (r as { ts: number }).ts >= 5_000);
  t.equal(running.length, 1, 'a reused tid, forked again, runs again');
  // Without fork records (plain perf script prints none), sched_wakeup_new says the same.
  const woken: AnyRecord[] = [...input.slice(0, 3), sample(4_000, 100, 'sched:sched_wakeup_new', { comm: 'new', pid: 101, prio: 120, target_cpu: 0 }), sw(5_000, 100, 'S', 101), ...input.slice(3)];
  const out3: AnyRecord[] = [];
  const gs3 = new GilState((r) => out3.push(r), collectingContext(), DEFAULTS);
  for (const r of woken) gs3.write(r);
  gs3.end();
  const states = out3.filter((r) => r.type === 'span' && (r as { tid?: number }).tid === 101 && (r as { ts: number }).ts >= 4_000).map((r) => [(r as { state?: string }).state, (r as { ts: number }).ts]);
  t.same(states.slice(0, 2), [['runnable', 4_000], ['running', 5_000]], 'a reused tid, woken new, is runnable then runs again');
});

t.test('a preempted thread: its runnable span names the task that got its CPU; a woken one names none', async (t) => {
  const sample = (ts: number, tid: number, event: string, fields?: Record<string, unknown>): Sample =>
    ({ type: 'sample', ts, pid: 100, tid, cpu: 0, event, ...(fields ? { fields } : {}) }) as Sample;
  const sw = (ts: number, prev: number, state: string, next: number, nextComm: string) =>
    sample(ts, prev, 'sched:sched_switch', { prev_comm: 'p', prev_pid: prev, prev_prio: 120, prev_state: state, next_comm: nextComm, next_pid: next, next_prio: 120 });
  const input: AnyRecord[] = [
    sw(1_000, 0, 'R', 101, 'py'),
    sw(2_000, 101, 'R', 900, 'make'), // preempted: make gets the CPU
    sw(3_000, 900, 'S', 101, 'py'),
    sw(4_000, 101, 'S', 0, 'swapper/0'), // asleep
    sample(5_000, 0, 'sched:sched_wakeup', { comm: 'py', pid: 101, prio: 120, target_cpu: 0 }),
    sw(6_000, 0, 'R', 101, 'py'),
    sample(7_000, 101, 'sched:sched_waking', { comm: 'x', pid: 102, prio: 120, target_cpu: 0 }),
  ];
  const out: AnyRecord[] = [];
  const gs = new GilState((r) => out.push(r), collectingContext(), DEFAULTS);
  for (const r of input) gs.write(r);
  gs.end();
  const runnable = out.filter((r) => r.type === 'span' && (r as { tid?: number }).tid === 101 && (r as { state?: string }).state === 'runnable') as Array<AnyRecord & { ts: number; preempted_by?: unknown }>;
  t.same(
    runnable.map((r) => [r.ts, r.preempted_by]),
    [
      [2_000, { tid: 900, comm: 'make' }],
      [5_000, undefined],
    ],
    'preempted at 2 µs by make; runnable after a wakeup at 5 µs: nobody took its CPU',
  );
});
