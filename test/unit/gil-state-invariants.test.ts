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
