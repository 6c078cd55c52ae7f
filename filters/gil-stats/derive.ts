// The derived figures of a summary: rates and percentages, recomputed from
// the raw sums, counts and histograms (after a run, and after a merge), with
// `null` wherever the input cannot say (no GIL data, waits-only sources, no
// scheduler events) rather than a misleading 0 or 100.
import { LogHistogram } from '../../lib/histogram.js';
import { HOGS_KEPT, byHarm, keepLongest, rowKey, type GilStatsJSON } from './summary.js';

const pct = (part: number, whole: number): number | null => (whole > 0 ? (100 * part) / whole : null);

/** Sorts, recomputes every `derived` block and the top-level flags from the raw figures. */
export function finish(s: GilStatsJSON): GilStatsJSON {
  const procGil = new Map<string, boolean>();
  const procHeld = new Map<string, boolean>();
  const procWhole = new Map<string, boolean>();
  for (const p of s.processes) {
    procGil.set(procKey(p), p.gil);
    procHeld.set(procKey(p), p.gil && p.holds_known);
    procWhole.set(procKey(p), whole(p));
  }
  s.gil_data = s.processes.some((p) => p.gil);
  s.processes.sort((a, b) => (a.pid ?? -1) - (b.pid ?? -1) || byOrigin(a, b));
  s.threads.sort((a, b) => (a.pid ?? -1) - (b.pid ?? -1) || byOrigin(a, b) || Number(b.main) - Number(a.main) || a.tid - b.tid);
  s.windows.sort((a, b) => (a.pid ?? -1) - (b.pid ?? -1) || byOrigin(a, b) || a.start_ns - b.start_ns);
  keepLongest(s.top.waits, s.options.top);
  keepLongest(s.top.holds, s.options.top);
  for (const p of s.processes) {
    const wh = LogHistogram.fromJSON(p.wait_hist);
    const hh = LogHistogram.fromJSON(p.hold_hist);
    keepLongest(p.hogs.longest, HOGS_KEPT);
    // Kept by length (so that merges agree), shown by harm.
    p.hogs.longest.sort(byHarm);
    for (const h of p.hogs.longest) {
      if (h.blamed_ns === 0) h.uncontended = true;
      else delete h.uncontended;
    }
    const waitOf = new Map<number, number>();
    for (const t of s.threads) if (t.pid === p.pid && t.origin === p.origin) waitOf.set(t.tid, t.wait_ns);
    let blamed = 0;
    // Threads of several processes grouped as one: who held while who waited
    // mixes GILs, so no figure of the process as a whole is told.
    const why = withheldWhy(p);
    const ok = why === null;
    if (!ok) p.blame = [];
    for (const b of p.blame) {
      blamed += b.ns;
      b.derived = { pct_of_wait: ok ? pct(b.ns, waitOf.get(b.waiter) ?? 0) : null };
    }
    p.blame.sort((x, y) => y.ns - x.ns || x.waiter - y.waiter || x.holder - y.holder);
    const gil = p.gil && ok;
    // Waits-only sources (cond_timedwait, stack) say nothing about holding.
    const held = gil && p.holds_known;
    p.derived = {
      withheld: why,
      held_pct: held ? pct(p.hold_ns, p.wall_ns) : null,
      contention_pct: gil ? pct(p.contended_ns, p.wall_ns) : null,
      mean_waiters: gil && p.contended_ns > 0 ? p.wait_ns / p.contended_ns : null,
      wait_per_s: gil && p.wall_ns > 0 ? p.wait_ns / p.wall_ns : null,
      forced_pct: held ? pct(p.forced_switches, p.holds) : null,
      held_offcpu_pct: held && p.sched ? pct(p.held_offcpu_ns, p.hold_ns) : null,
      no_holder_wait_ns: held ? Math.max(0, p.wait_ns - blamed) : null,
      wait_p50_ns: wh.percentile(0.5),
      wait_p90_ns: wh.percentile(0.9),
      wait_p99_ns: wh.percentile(0.99),
      wait_max_ns: p.wait_hist.max_ns,
      hold_p50_ns: hh.percentile(0.5),
      hold_p99_ns: hh.percentile(0.99),
      hold_max_ns: p.hold_hist.max_ns,
    };
  }
  const blamedOf = new Map<string, number>();
  for (const p of s.processes) {
    for (const b of p.blame) {
      const k = rowKey({ origin: p.origin, pid: p.pid, tid: b.waiter });
      blamedOf.set(k, (blamedOf.get(k) ?? 0) + b.ns);
    }
  }
  for (const t of s.threads) {
    const gil = procGil.get(procKey(t)) ?? false;
    const held = procHeld.get(procKey(t)) ?? false;
    const wh = LogHistogram.fromJSON(t.wait_hist);
    const hh = LogHistogram.fromJSON(t.hold_hist);
    const tot = t.total_ns;
    // A family's states that add up to more than the thread's life overlap
    // somewhere (spans given twice beyond what gil-stats could check): no
    // share of them is a fact.
    const gilFits = gilFit(t);
    const g = (x: number): number | null => (gil && gilFits ? pct(x, tot) : null);
    const h = (x: number): number | null => (held && gilFits ? pct(x, tot) : null);
    const sch = (x: number): number | null => (t.sched && schedFit(t) ? pct(x, tot) : null);
    const p4 = t.per4m;
    t.derived = {
      gil,
      no_gil_pct: h(Math.max(0, tot - t.wait_ns - t.hold_ns - t.handoff_ns)),
      has_gil_pct: h(t.hold_ns),
      handoff_pct: h(t.handoff_ns),
      wait_pct: g(t.wait_ns),
      running_pct: sch(t.running_ns),
      runnable_pct: sch(t.runnable_ns),
      sleeping_pct: sch(t.sleeping_ns),
      blocked_pct: sch(t.blocked_ns),
      wait_p50_ns: wh.percentile(0.5),
      wait_p90_ns: wh.percentile(0.9),
      wait_p99_ns: wh.percentile(0.99),
      wait_max_ns: t.wait_hist.max_ns,
      hold_p50_ns: hh.percentile(0.5),
      hold_max_ns: t.hold_hist.max_ns,
      no_holder_wait_ns: held && procWhole.get(procKey(t)) !== false ? Math.max(0, t.wait_ns - (blamedOf.get(rowKey(t)) ?? 0)) : null,
      per4m: {
        total_us: p4.total_ns / 1000,
        no_gil_pct: held && p4fits(p4) ? pct(Math.max(0, p4.total_ns - p4.hold_ns - p4.wait_ns), p4.total_ns) : null,
        has_gil_pct: held && p4fits(p4) ? pct(p4.hold_ns, p4.total_ns) : null,
        wait_pct: gil && p4fits(p4) ? pct(p4.wait_ns, p4.total_ns) : null,
      },
    };
  }
  const iv = s.options.interval_ns;
  if (iv) {
    for (const w of s.windows) {
      const ok = procWhole.get(procKey(w)) !== false;
      w.derived = {
        wait_per_s: ok ? w.wait_ns / iv : null,
        held_pct: ok && w.hold_ns <= iv ? (100 * w.hold_ns) / iv : null,
        contention_pct: ok && w.contended_ns <= iv ? (100 * w.contended_ns) / iv : null,
      };
    }
  }
  return s;
}

/**
 * Why a process's figures cannot be told, or null: its threads are not one
 * process (the guess from fork records put two holders together), or its
 * sums say two threads held its GIL at once (holds, or time with a waiter,
 * longer than its wall time: spans out of time order, or given twice),
 * which no figure of it may then pass off as a fact.
 */
type Wholeness = { pids_inferred: boolean; two_holders: number; overlapping_holds: number; hold_ns: number; contended_ns: number; wall_ns: number };

function withheldWhy(p: Wholeness): string | null {
  if (p.pids_inferred && p.two_holders > 0) {
    return `its threads were grouped from fork records (no pid in the input), and ${p.two_holders} times two of them held the GIL at once: they belong to more than one process. Per-thread figures stand; record the pid (perf script -F +pid, or perf-parse -i perf.data) for the process figures`;
  }
  if (p.hold_ns > p.wall_ns || p.contended_ns > p.wall_ns) {
    const what = p.hold_ns > p.wall_ns ? `its holds add up to ${p.hold_ns} ns` : `its time with a waiter adds up to ${p.contended_ns} ns`;
    return `${what}, more than its wall time of ${p.wall_ns} ns: two of its threads held the GIL at once, which only spans out of time order or given twice can show. Per-thread figures stand`;
  }
  // With pids recorded gil-state ends a hold another thread's take cut short
  // (two_holders counts those): holds it wrote never overlap.
  if (!p.pids_inferred && p.overlapping_holds > 0) {
    return `${p.overlapping_holds} of its holds overlapped another thread's hold: two threads held the GIL at once, which only spans out of time order or mixed from two streams can show. Per-thread figures stand`;
  }
  return null;
}

/** Its threads are one process, and its sums fit its wall time. */
function whole(p: Wholeness): boolean {
  return withheldWhy(p) === null;
}

/** A row's process: its origin and pid. */
function procKey(r: { origin?: string; pid: number | null }): string {
  return rowKey({ origin: r.origin, pid: r.pid });
}

/** Rows of one pid from several captures, in the order of their origin keys. */
function byOrigin(a: { origin?: string }, b: { origin?: string }): number {
  const x = a.origin ?? '';
  const y = b.origin ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Its GIL states fit in its life. */
export function gilFit(t: { total_ns: number; wait_ns: number; hold_ns: number; handoff_ns: number }): boolean {
  return t.wait_ns + t.hold_ns + t.handoff_ns <= t.total_ns;
}

/** Its scheduler states fit in its life. */
export function schedFit(t: { total_ns: number; running_ns: number; runnable_ns: number; sleeping_ns: number; blocked_ns: number; other_ns: number }): boolean {
  return t.running_ns + t.runnable_ns + t.sleeping_ns + t.blocked_ns + t.other_ns <= t.total_ns;
}

/**
 * per4m's total is the span of the thread's own events, not its life, and its
 * hold runs from take_gil's return to drop_gil's: on events out of order the
 * hold and the wait can outgrow that total. Its percentages are then left
 * out (null), never printed above 100.
 */
export function p4fits(p4: { total_ns: number; hold_ns: number; wait_ns: number }): boolean {
  return p4.total_ns > 0 && p4.hold_ns + p4.wait_ns <= p4.total_ns;
}
