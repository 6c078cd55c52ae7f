// gil-stats' logic: gil-state records in, one `gil_stats` summary out
// (docs/gil-stats.md documents the summary; docs/events.md the input).
//
// Everything a summary holds is either a sum, a count, a maximum, a histogram
// or a bounded "longest N" list: figures that add up across captures. Rates
// and percentages are derived from them at the end (`finish`), so `merge`
// of two summaries equals one run over both inputs.
//
// Questions about two threads at once (who held while X waited, how many
// waited at once, was the holder forced out) are answered as spans arrive,
// against a bounded buffer of recent spans (lib/recent-intervals.ts): memory
// depends on the number of threads and on the spans of the last minute at
// most, never on the length of the input.
import { HISTOGRAM_SCHEME, LogHistogram, type HistogramJSON } from '../lib/histogram.js';
import { RecentIntervals } from '../lib/recent-intervals.js';
import type { Rec } from '../lib/stage.js';

export const GIL_STATS_VERSION = 1;

export interface StatsOptions {
  /** sys.setswitchinterval, in ns: a waiter that waited this long forces the holder out. */
  switchIntervalNs: number;
  /** Holds at least this long are GIL hogs. */
  hogNs: number;
  /** Length of the longest-waits / longest-holds lists. */
  top: number;
  /** Window length for per-window rows; undefined: no windows. */
  intervalNs?: number;
}

export const DEFAULT_OPTIONS: StatsOptions = { switchIntervalNs: 5_000_000, hogNs: 10_000_000, top: 10 };

/** How many hogs each process keeps with timestamps (the longest); all are counted. */
export const HOGS_KEPT = 100;
const STACK_FRAMES = 32;
const STACK_RING = 64;

// ---------------------------------------------------------------------------
// The summary: the JSON form, versioned. Raw figures first; `derived` blocks
// are recomputed from them by `finish` and ignored by `merge`.

export interface TopEntry {
  pid: number | null;
  tid: number;
  ts: number;
  dur_ns: number;
  source: string;
  /** waits: the thread that held the GIL longest during the wait, as far as seen when the wait ended. */
  holder?: number | null;
}

export interface HogEntry extends TopEntry {
  /** The holder's native stack during the hold, leaf first, when samples with callchains were recorded. */
  stack?: string[];
}

export interface ThreadJSON {
  pid: number | null;
  tid: number;
  comm: string | null;
  main: boolean;
  total_ns: number;
  wait_ns: number;
  hold_ns: number;
  handoff_ns: number;
  running_ns: number;
  runnable_ns: number;
  sleeping_ns: number;
  blocked_ns: number;
  other_ns: number;
  sched: boolean;
  waits: number;
  acquisitions: number;
  gil_sleeps: number;
  gil_sleep_ns: number;
  held_offcpu_ns: number;
  longest_hold: { ts: number; dur_ns: number; source: string } | null;
  wait_hist: HistogramJSON;
  hold_hist: HistogramJSON;
  per4m: { total_ns: number; hold_ns: number; wait_ns: number };
  derived?: ThreadDerived;
}

export interface ThreadDerived {
  gil: boolean;
  no_gil_pct: number | null;
  has_gil_pct: number | null;
  handoff_pct: number | null;
  wait_pct: number | null;
  running_pct: number | null;
  runnable_pct: number | null;
  sleeping_pct: number | null;
  blocked_pct: number | null;
  wait_p50_ns: number | null;
  wait_p90_ns: number | null;
  wait_p99_ns: number | null;
  wait_max_ns: number | null;
  hold_p50_ns: number | null;
  hold_max_ns: number | null;
  /** Wait while no other thread held the GIL: released but not yet taken (the waiter waking up, or a handoff). */
  no_holder_wait_ns: number | null;
  per4m: { total_us: number; no_gil_pct: number | null; has_gil_pct: number | null; wait_pct: number | null };
}

export interface BlameEntry {
  waiter: number;
  holder: number;
  ns: number;
  derived?: { pct_of_wait: number | null };
}

export interface ProcessJSON {
  pid: number | null;
  comm: string | null;
  gil: boolean;
  /** Holds were observed (take_gil/drop_gil probes); false when the GIL source shows waits only. */
  holds_known: boolean;
  sched: boolean;
  wall_ns: number;
  hold_ns: number;
  wait_ns: number;
  handoff_ns: number;
  contended_ns: number;
  max_waiters: number;
  holds: number;
  waits: number;
  switches: number;
  forced_switches: number;
  held_offcpu_ns: number;
  lookback_lost_ns: number;
  hogs: { count: number; hold_ns: number; longest: HogEntry[] };
  blame: BlameEntry[];
  wait_hist: HistogramJSON;
  hold_hist: HistogramJSON;
  derived?: ProcessDerived;
}

export interface ProcessDerived {
  held_pct: number | null;
  contention_pct: number | null;
  mean_waiters: number | null;
  wait_per_s: number | null;
  forced_pct: number | null;
  held_offcpu_pct: number | null;
  no_holder_wait_ns: number | null;
  wait_p50_ns: number | null;
  wait_p90_ns: number | null;
  wait_p99_ns: number | null;
  wait_max_ns: number | null;
  hold_p50_ns: number | null;
  hold_p99_ns: number | null;
  hold_max_ns: number | null;
}

export interface WindowJSON {
  pid: number | null;
  start_ns: number;
  wait_ns: number;
  hold_ns: number;
  contended_ns: number;
  derived?: { wait_per_s: number; held_pct: number; contention_pct: number };
}

export interface GilStatsJSON {
  type: 'gil_stats';
  version: number;
  options: { switch_interval_ns: number; hog_ns: number; top: number; interval_ns: number | null };
  histogram: typeof HISTOGRAM_SCHEME;
  sources: string[];
  captures: number;
  gil_sources: string[];
  gil_data: boolean;
  lost: number;
  anomalies: number;
  /** Spans gil-state closed early (`unknown`: lost events, impossible sequences). */
  unknown_spans: number;
  diagnostics: Record<string, number>;
  processes: ProcessJSON[];
  threads: ThreadJSON[];
  top: { waits: TopEntry[]; holds: TopEntry[] };
  windows: WindowJSON[];
}

// ---------------------------------------------------------------------------
// Accumulators.

interface HoldIv {
  start: number;
  end: number;
  tid: number;
  forced: boolean;
}
interface WaitIv {
  start: number;
  end: number;
  tid: number;
  /** Waiters at this wait's start, counting itself (raised as later arrivals reveal more). */
  depth: number;
}

class ThreadAcc {
  comm: string | null = null;
  main = false;
  totalNs = 0;
  waitNs = 0;
  holdNs = 0;
  handoffNs = 0;
  sched = { running: 0, runnable: 0, sleeping: 0, blocked: 0, other: 0 };
  schedSeen = false;
  waits = 0;
  acquisitions = 0;
  gilSleeps = 0;
  gilSleepNs = 0;
  heldOffcpuNs = 0;
  longestHold: { ts: number; dur_ns: number; source: string } | null = null;
  waitHist = new LogHistogram();
  holdHist = new LogHistogram();
  per4m = { total_ns: 0, hold_ns: 0, wait_ns: 0 };
  // Per capture (reset at its end):
  seenFirst = Infinity;
  seenLast = -Infinity;
  hadThreadRecord = false;
  /** Named by a span or a thread record (a thread seen only in samples is not listed). */
  mentioned = false;
  /** per4m counts a hold only once drop_gil returns: the hold waiting for its handoff. */
  pendingHold: number | undefined;
  holdsForOffcpu = new RecentIntervals<{ start: number; end: number }>(20_000);
  offcpu = new RecentIntervals<{ start: number; end: number }>(20_000);

  constructor(
    readonly pid: number | null,
    readonly tid: number,
  ) {
    this.main = pid !== null && pid === tid;
  }

  resetCapture(): void {
    this.seenFirst = Infinity;
    this.seenLast = -Infinity;
    this.hadThreadRecord = false;
    this.pendingHold = undefined;
    this.holdsForOffcpu.clear();
    this.offcpu.clear();
  }
}

class ProcessAcc {
  comm: string | null = null;
  gil = false;
  holdsKnown = false;
  sched = false;
  wallNs = 0;
  holdNs = 0;
  waitNs = 0;
  handoffNs = 0;
  contendedNs = 0;
  maxWaiters = 0;
  holds = 0;
  waits = 0;
  switches = 0;
  forced = 0;
  heldOffcpuNs = 0;
  lookbackLostNs = 0;
  hogCount = 0;
  hogNs = 0;
  hogs: HogEntry[] = [];
  blame = new Map<string, BlameEntry>();
  waitHist = new LogHistogram();
  holdHist = new LogHistogram();
  // Per capture:
  holdBuf = new RecentIntervals<HoldIv>();
  waitBuf = new RecentIntervals<WaitIv>();
  capFirst = Infinity;
  capLast = -Infinity;
  spanFirst = Infinity;
  spanLast = -Infinity;

  constructor(readonly pid: number | null) {}

  addBlame(waiter: number, holder: number, ns: number): void {
    const k = `${waiter}:${holder}`;
    const b = this.blame.get(k);
    if (b) b.ns += ns;
    else this.blame.set(k, { waiter, holder, ns });
  }

  resetCapture(): void {
    this.holdBuf.clear();
    this.waitBuf.clear();
    this.capFirst = Infinity;
    this.capLast = -Infinity;
    this.spanFirst = Infinity;
    this.spanLast = -Infinity;
  }
}

/** Keeps the `n` longest entries (ties: earlier first), for top lists that merge. */
export function keepLongest<T extends TopEntry>(list: T[], n: number): T[] {
  list.sort(byLongest);
  if (list.length > n) list.length = n;
  return list;
}

function byLongest(a: TopEntry, b: TopEntry): number {
  return b.dur_ns - a.dur_ns || a.ts - b.ts || a.tid - b.tid || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0);
}

function pushTop<T extends TopEntry>(list: T[], n: number, e: T): void {
  if (n <= 0) return;
  if (list.length >= n && byLongest(e, list[list.length - 1]!) >= 0) return;
  list.push(e);
  list.sort(byLongest);
  if (list.length > n) list.length = n;
}

const SCHED_STATES = new Set(['running', 'runnable', 'sleeping', 'blocked', 'other']);
const GIL_STATES = new Set(['wait', 'hold', 'handoff']);

export type MalformedFn = (file: string, line: number, why: string) => void;

/**
 * Feed it gil-state's records (`record`), end each input (`endFile`), then
 * ask for the `summary`.
 */
export class GilStats {
  private readonly threads = new Map<string, ThreadAcc>();
  /** Recent callchain samples per tid, for the stacks of hogs (reset per capture). */
  private readonly stacks = new Map<number, { seen: number; stride: number; kept: Array<{ ts: number; chain: unknown[] }> }>();
  private readonly procs = new Map<string, ProcessAcc>();
  private readonly windows = new Map<string, WindowJSON>();
  private readonly topWaits: TopEntry[] = [];
  private readonly topHolds: TopEntry[] = [];
  private readonly sources: string[] = [];
  private readonly gilSources = new Set<string>();
  private readonly diagnostics: Record<string, number> = {};
  private captures = 0;
  private lost = 0;
  private anomalies = 0;
  private gilSpans = 0;
  private unknownSpans = 0;
  private inCapture = false;

  constructor(
    readonly opts: StatsOptions,
    private readonly malformed: MalformedFn,
  ) {}

  record(rec: Rec, file: string, lineno: number): void {
    if (!this.sources.includes(file)) this.sources.push(file);
    switch (rec.type) {
      case 'span':
        return this.span(rec, file, lineno);
      case 'handoff':
        return this.handoff(rec, file, lineno);
      case 'thread':
        return this.thread(rec, file, lineno);
      case 'process':
        return this.process(rec, file, lineno);
      case 'capture':
        return this.capture(rec, file, lineno);
      case 'diagnostic':
        if (typeof rec.code === 'string') this.diagnostics[rec.code] = (this.diagnostics[rec.code] ?? 0) + 1;
        return;
      case 'sample':
        return this.sample(rec);
      default:
      // Pass-through records of other stages or of users: not ours to judge.
    }
  }

  /** End of one input: a capture without a `capture` record ends here. */
  endFile(_file: string): void {
    if (this.inCapture) this.endCapture();
  }

  private thr(pid: number | null, tid: number): ThreadAcc {
    const k = `${pid}:${tid}`;
    let t = this.threads.get(k);
    if (!t) {
      t = new ThreadAcc(pid, tid);
      this.threads.set(k, t);
    }
    return t;
  }

  private proc(pid: number | null): ProcessAcc {
    const k = String(pid);
    let p = this.procs.get(k);
    if (!p) {
      p = new ProcessAcc(pid);
      this.procs.set(k, p);
    }
    return p;
  }

  private span(rec: Rec, file: string, lineno: number): void {
    const { ts, dur, tid, family, state } = rec as Record<string, unknown>;
    const pid = rec.pid === undefined ? null : rec.pid;
    if (typeof ts !== 'number' || typeof dur !== 'number' || !(dur >= 0) || !Number.isFinite(ts)) {
      return this.malformed(file, lineno, 'span without a numeric ts and a non-negative dur');
    }
    if (typeof tid !== 'number' || (pid !== null && typeof pid !== 'number')) {
      return this.malformed(file, lineno, 'span without a numeric tid (and pid or null)');
    }
    const isGil = family === 'gil' && GIL_STATES.has(state as string);
    const isSched = family === 'sched' && SCHED_STATES.has(state as string);
    if (!isGil && !isSched) {
      return this.malformed(file, lineno, `span of unknown family/state ${JSON.stringify(family)}/${JSON.stringify(state)}`);
    }
    this.inCapture = true;
    if (rec.unknown === true) this.unknownSpans++;
    const t = this.thr(pid, tid);
    t.mentioned = true;
    const p = this.proc(pid);
    const end = ts + dur;
    if (ts < t.seenFirst) t.seenFirst = ts;
    if (end > t.seenLast) t.seenLast = end;
    if (ts < p.spanFirst) p.spanFirst = ts;
    if (end > p.spanLast) p.spanLast = end;
    if (isSched) return this.schedSpan(t, p, state as keyof ThreadAcc['sched'], rec, ts, dur);
    this.gilSpans++;
    p.gil = true;
    if (state !== 'wait') p.holdsKnown = true;
    if (state === 'wait') this.waitSpan(t, p, ts, dur, rec, file);
    else if (state === 'hold') this.holdSpan(t, p, ts, dur, rec, file);
    else {
      t.handoffNs += dur;
      p.handoffNs += dur;
      // per4m: "has gil" runs from take_gil return to drop_gil return.
      if (t.pendingHold !== undefined && rec.truncated !== true) t.per4m.hold_ns += t.pendingHold + dur;
      t.pendingHold = undefined;
    }
    this.forgetStacks(tid);
  }

  private schedSpan(t: ThreadAcc, p: ProcessAcc, state: keyof ThreadAcc['sched'], rec: Rec, ts: number, dur: number): void {
    t.sched[state] += dur;
    t.schedSeen = true;
    p.sched = true;
    if (rec.gil === true && (state === 'sleeping' || state === 'blocked')) {
      t.gilSleeps++;
      t.gilSleepNs += dur;
    }
    // One scheduler state at a time: the thread's later states start after this one.
    t.holdsForOffcpu.dropEndingBy(ts);
    if (state === 'running' || dur <= 0) return;
    const end = ts + dur;
    t.holdsForOffcpu.forOverlapping(ts, end, (h) => {
      const ov = Math.min(end, h.end) - Math.max(ts, h.start);
      t.heldOffcpuNs += ov;
      p.heldOffcpuNs += ov;
    });
    t.offcpu.add({ start: ts, end });
  }

  private waitSpan(t: ThreadAcc, p: ProcessAcc, a: number, dur: number, rec: Rec, source: string): void {
    const b = a + dur;
    t.waitNs += dur;
    t.waits++;
    t.waitHist.add(dur);
    p.waitNs += dur;
    p.waits++;
    p.waitHist.add(dur);
    if (rec.truncated !== true) t.per4m.wait_ns += dur;
    this.toWindows(p.pid, a, b, 'wait_ns');
    let holder: number | null = null;
    if (dur > 0) {
      // Who held while this thread waited, and whose hold it outlasted.
      let best = 0;
      const byHolder = new Map<number, number>();
      p.holdBuf.forOverlapping(a, b, (h) => {
        if (h.tid === t.tid) return;
        const ov = Math.min(b, h.end) - Math.max(a, h.start);
        p.addBlame(t.tid, h.tid, ov);
        const sum = (byHolder.get(h.tid) ?? 0) + ov;
        byHolder.set(h.tid, sum);
        if (sum > best) {
          best = sum;
          holder = h.tid;
        }
        if (!h.forced && b >= h.end && h.end - Math.max(a, h.start) >= this.opts.switchIntervalNs) {
          h.forced = true;
          p.forced++;
        }
      });
      p.lookbackLostNs += p.holdBuf.forgotten(a, b);
      // How many waited at once, and for how long anyone did.
      const others: WaitIv[] = [];
      let depth = 1;
      p.waitBuf.forOverlapping(a, b, (w) => {
        others.push(w);
        if (w.start <= a) depth++;
        if (a <= w.start) {
          w.depth++;
          if (w.depth > p.maxWaiters) p.maxWaiters = w.depth;
        }
      });
      if (depth > p.maxWaiters) p.maxWaiters = depth;
      this.addUncovered(p, a, b, others);
      p.waitBuf.add({ start: a, end: b, tid: t.tid, depth });
    }
    pushTop(this.topWaits, this.opts.top, { pid: p.pid, tid: t.tid, ts: a, dur_ns: dur, source, holder });
  }

  /** Adds the part of (a, b) that no other waiter covers to the contended time. */
  private addUncovered(p: ProcessAcc, a: number, b: number, others: WaitIv[]): void {
    others.sort((x, y) => x.start - y.start);
    let from = Math.max(a, p.waitBuf.trimmedUpTo);
    p.lookbackLostNs += p.waitBuf.forgotten(a, b);
    for (const w of others) {
      if (from >= b) break;
      if (w.start > from) {
        const to = Math.min(w.start, b);
        p.contendedNs += to - from;
        this.toWindows(p.pid, from, to, 'contended_ns');
      }
      if (w.end > from) from = w.end;
    }
    if (from < b) {
      p.contendedNs += b - from;
      this.toWindows(p.pid, from, b, 'contended_ns');
    }
  }

  private holdSpan(t: ThreadAcc, p: ProcessAcc, a: number, dur: number, rec: Rec, source: string): void {
    const b = a + dur;
    t.holdNs += dur;
    t.holdHist.add(dur);
    if (rec.partial !== true) t.acquisitions++;
    p.holdNs += dur;
    p.holds++;
    p.holdHist.add(dur);
    t.pendingHold = rec.truncated === true ? undefined : dur;
    if (t.longestHold === null || dur > t.longestHold.dur_ns) t.longestHold = { ts: a, dur_ns: dur, source };
    this.toWindows(p.pid, a, b, 'hold_ns');
    if (dur > this.opts.hogNs) {
      p.hogCount++;
      p.hogNs += dur;
      const hog: HogEntry = { pid: p.pid, tid: t.tid, ts: a, dur_ns: dur, source };
      const stack = this.stackDuring(t.tid, a, b);
      if (stack) hog.stack = stack;
      pushTop(p.hogs, HOGS_KEPT, hog);
    }
    pushTop(this.topHolds, this.opts.top, { pid: p.pid, tid: t.tid, ts: a, dur_ns: dur, source });
    if (dur <= 0) return;
    let forced = false;
    p.waitBuf.forOverlapping(a, b, (w) => {
      if (w.tid === t.tid) return;
      p.addBlame(w.tid, t.tid, Math.min(b, w.end) - Math.max(a, w.start));
      if (w.end >= b && b - Math.max(a, w.start) >= this.opts.switchIntervalNs) forced = true;
    });
    p.lookbackLostNs += p.waitBuf.forgotten(a, b);
    if (forced) p.forced++;
    p.holdBuf.add({ start: a, end: b, tid: t.tid, forced });
    t.offcpu.forOverlapping(a, b, (s) => {
      const ov = Math.min(b, s.end) - Math.max(a, s.start);
      t.heldOffcpuNs += ov;
      p.heldOffcpuNs += ov;
    });
    t.holdsForOffcpu.add({ start: a, end: b });
    // The thread's later holds start after this one ends.
    t.offcpu.dropEndingBy(a);
  }

  private toWindows(pid: number | null, a: number, b: number, key: 'wait_ns' | 'hold_ns' | 'contended_ns'): void {
    const iv = this.opts.intervalNs;
    if (iv === undefined || b <= a) return;
    for (let w = Math.floor(a / iv); w * iv < b; w++) {
      const ws = w * iv;
      const part = Math.min(b, ws + iv) - Math.max(a, ws);
      if (part <= 0) continue;
      const k = `${pid}:${w}`;
      let row = this.windows.get(k);
      if (!row) {
        row = { pid, start_ns: ws, wait_ns: 0, hold_ns: 0, contended_ns: 0 };
        this.windows.set(k, row);
      }
      row[key] += part;
    }
  }

  private handoff(rec: Rec, file: string, lineno: number): void {
    const pid = rec.pid === undefined ? null : rec.pid;
    if (pid !== null && typeof pid !== 'number') return this.malformed(file, lineno, 'handoff with a non-numeric pid');
    const p = this.proc(pid as number | null);
    if (typeof rec.from_tid === 'number' && rec.from_tid !== rec.to_tid) p.switches++;
  }

  private thread(rec: Rec, file: string, lineno: number): void {
    const { tid, first_ts, last_ts } = rec as Record<string, unknown>;
    const pid = rec.pid === undefined ? null : rec.pid;
    if (typeof tid !== 'number' || (pid !== null && typeof pid !== 'number')) {
      return this.malformed(file, lineno, 'thread record without a numeric tid (and pid or null)');
    }
    if (typeof first_ts !== 'number' || typeof last_ts !== 'number' || last_ts < first_ts) {
      return this.malformed(file, lineno, 'thread record without numeric first_ts <= last_ts');
    }
    this.inCapture = true;
    const t = this.thr(pid as number | null, tid);
    if (typeof rec.comm === 'string') t.comm = rec.comm;
    if (typeof rec.main === 'boolean') t.main = rec.main;
    t.hadThreadRecord = true;
    t.mentioned = true;
    t.totalNs += last_ts - first_ts;
    t.per4m.total_ns += last_ts - first_ts;
    const p = this.proc(pid as number | null);
    if (first_ts < p.capFirst) p.capFirst = first_ts;
    if (last_ts > p.capLast) p.capLast = last_ts;
  }

  private process(rec: Rec, file: string, lineno: number): void {
    const pid = rec.pid === undefined ? null : rec.pid;
    if (pid !== null && typeof pid !== 'number') return this.malformed(file, lineno, 'process record with a non-numeric pid');
    this.inCapture = true;
    const p = this.proc(pid as number | null);
    if (typeof rec.comm === 'string') p.comm = rec.comm;
    if (rec.gil === true) p.gil = true;
  }

  private capture(rec: Rec, _file: string, _lineno: number): void {
    if (typeof rec.gil_source === 'string') this.gilSources.add(rec.gil_source);
    if (typeof rec.lost === 'number') this.lost += rec.lost;
    if (typeof rec.anomalies === 'number') this.anomalies += rec.anomalies;
    else if (rec.anomalies && typeof rec.anomalies === 'object') {
      for (const v of Object.values(rec.anomalies as Record<string, unknown>)) if (typeof v === 'number') this.anomalies += v;
    }
    this.endCapture();
  }

  /**
   * Pass-through samples with callchains, kept for the stacks of hogs: per
   * thread, the samples since its last GIL span closed (its next hold starts
   * after that), thinned to every 2nd, 4th, ... sample as they pile up, so a
   * bounded few spread over a hold of any length.
   */
  private sample(rec: Rec): void {
    if (!Array.isArray(rec.callchain) || typeof rec.tid !== 'number' || typeof rec.ts !== 'number') return;
    // By tid alone: samples printed without pid still belong to the thread gil-state placed in a process.
    let ring = this.stacks.get(rec.tid);
    if (!ring) {
      ring = { seen: 0, stride: 1, kept: [] };
      this.stacks.set(rec.tid, ring);
    }
    if (ring.seen++ % ring.stride !== 0) return;
    ring.kept.push({ ts: rec.ts, chain: (rec.callchain as unknown[]).slice(0, STACK_FRAMES) });
    if (ring.kept.length >= STACK_RING) {
      ring.kept = ring.kept.filter((_, i) => i % 2 === 0);
      ring.stride *= 2;
    }
  }

  /**
   * The holder's stack during [a, b]: of its kept samples there, one whose
   * leaf function is the most common (where a hog spends its time), the one
   * nearest the middle among those.
   */
  private stackDuring(tid: number, a: number, b: number): string[] | undefined {
    const inHold = (this.stacks.get(tid)?.kept ?? []).filter((s) => s.ts >= a && s.ts <= b);
    if (inHold.length === 0) return undefined;
    const leaf = (s: { chain: unknown[] }): string => frameText(s.chain[0]).replace(/\+0x[0-9a-f]+/, '');
    const votes = new Map<string, number>();
    for (const s of inHold) votes.set(leaf(s), (votes.get(leaf(s)) ?? 0) + 1);
    const top = Math.max(...votes.values());
    const mid = (a + b) / 2;
    let best: { ts: number; chain: unknown[] } | undefined;
    for (const s of inHold) {
      if (votes.get(leaf(s)) !== top) continue;
      if (!best || Math.abs(s.ts - mid) < Math.abs(best.ts - mid)) best = s;
    }
    return best!.chain.slice(0, STACK_FRAMES).map(frameText);
  }

  /** A GIL span of `tid` closed: its samples so far cannot fall in a later hold. */
  private forgetStacks(tid: number): void {
    if (this.stacks.has(tid)) this.stacks.set(tid, { seen: 0, stride: 1, kept: [] });
  }

  private endCapture(): void {
    this.captures++;
    this.stacks.clear();
    this.inCapture = false;
    for (const t of this.threads.values()) {
      if (!t.hadThreadRecord && t.seenLast > t.seenFirst) {
        // No `thread` record (a cut input): its spans are the best lifetime known.
        t.totalNs += t.seenLast - t.seenFirst;
        t.per4m.total_ns += t.seenLast - t.seenFirst;
        const p = this.proc(t.pid);
        if (t.seenFirst < p.capFirst) p.capFirst = t.seenFirst;
        if (t.seenLast > p.capLast) p.capLast = t.seenLast;
      }
      t.resetCapture();
    }
    for (const p of this.procs.values()) {
      const first = Math.min(p.capFirst, p.spanFirst);
      const last = Math.max(p.capLast, p.spanLast);
      if (last > first) p.wallNs += last - first;
      p.resetCapture();
    }
  }

  /** The summary so far (ends a capture that is still open). */
  summary(): GilStatsJSON {
    if (this.inCapture) this.endCapture();
    const processes: ProcessJSON[] = [...this.procs.values()].map((p) => ({
      pid: p.pid,
      comm: p.comm,
      gil: p.gil,
      holds_known: p.holdsKnown,
      sched: p.sched,
      wall_ns: p.wallNs,
      hold_ns: p.holdNs,
      wait_ns: p.waitNs,
      handoff_ns: p.handoffNs,
      contended_ns: p.contendedNs,
      max_waiters: p.maxWaiters,
      holds: p.holds,
      waits: p.waits,
      switches: p.switches,
      forced_switches: p.forced,
      held_offcpu_ns: p.heldOffcpuNs,
      lookback_lost_ns: p.lookbackLostNs,
      hogs: { count: p.hogCount, hold_ns: p.hogNs, longest: p.hogs },
      blame: [...p.blame.values()].map((b) => ({ ...b })),
      wait_hist: p.waitHist.toJSON(),
      hold_hist: p.holdHist.toJSON(),
    }));
    const threads: ThreadJSON[] = [...this.threads.values()]
      .filter((t) => t.mentioned)
      .map((t) => ({
        pid: t.pid,
        tid: t.tid,
        comm: t.comm,
        main: t.main,
        total_ns: t.totalNs,
        wait_ns: t.waitNs,
        hold_ns: t.holdNs,
        handoff_ns: t.handoffNs,
        running_ns: t.sched.running,
        runnable_ns: t.sched.runnable,
        sleeping_ns: t.sched.sleeping,
        blocked_ns: t.sched.blocked,
        other_ns: t.sched.other,
        sched: t.schedSeen,
        waits: t.waits,
        acquisitions: t.acquisitions,
        gil_sleeps: t.gilSleeps,
        gil_sleep_ns: t.gilSleepNs,
        held_offcpu_ns: t.heldOffcpuNs,
        longest_hold: t.longestHold,
        wait_hist: t.waitHist.toJSON(),
        hold_hist: t.holdHist.toJSON(),
        per4m: { ...t.per4m },
      }));
    return finish({
      type: 'gil_stats',
      version: GIL_STATS_VERSION,
      options: {
        switch_interval_ns: this.opts.switchIntervalNs,
        hog_ns: this.opts.hogNs,
        top: this.opts.top,
        interval_ns: this.opts.intervalNs ?? null,
      },
      histogram: HISTOGRAM_SCHEME,
      sources: [...this.sources],
      captures: this.captures,
      gil_sources: [...this.gilSources],
      gil_data: false,
      lost: this.lost,
      anomalies: this.anomalies,
      unknown_spans: this.unknownSpans,
      diagnostics: { ...this.diagnostics },
      processes,
      threads,
      top: { waits: [...this.topWaits], holds: [...this.topHolds] },
      windows: [...this.windows.values()].map((w) => ({ ...w })),
    });
  }
}

function frameText(f: unknown): string {
  if (f === null || typeof f !== 'object') return String(f);
  const fr = f as { addr?: string; sym?: string | null; off?: number; dso?: string | null };
  const sym = fr.sym ?? `[${fr.addr ?? 'unknown'}]`;
  const off = typeof fr.off === 'number' ? `+0x${fr.off.toString(16)}` : '';
  return fr.dso ? `${sym}${off} (${fr.dso})` : `${sym}${off}`;
}


// ---------------------------------------------------------------------------
// Derived figures and merging.

const pct = (part: number, whole: number): number | null => (whole > 0 ? (100 * part) / whole : null);

/** Sorts, recomputes every `derived` block and the top-level flags from the raw figures. */
export function finish(s: GilStatsJSON): GilStatsJSON {
  const procGil = new Map<string, boolean>();
  const procHeld = new Map<string, boolean>();
  for (const p of s.processes) {
    procGil.set(String(p.pid), p.gil);
    procHeld.set(String(p.pid), p.gil && p.holds_known);
  }
  s.gil_data = s.processes.some((p) => p.gil);
  s.processes.sort((a, b) => (a.pid ?? -1) - (b.pid ?? -1));
  s.threads.sort((a, b) => (a.pid ?? -1) - (b.pid ?? -1) || Number(b.main) - Number(a.main) || a.tid - b.tid);
  s.windows.sort((a, b) => (a.pid ?? -1) - (b.pid ?? -1) || a.start_ns - b.start_ns);
  keepLongest(s.top.waits, s.options.top);
  keepLongest(s.top.holds, s.options.top);
  for (const p of s.processes) {
    const wh = LogHistogram.fromJSON(p.wait_hist);
    const hh = LogHistogram.fromJSON(p.hold_hist);
    keepLongest(p.hogs.longest, HOGS_KEPT);
    const waitOf = new Map<number, number>();
    for (const t of s.threads) if (t.pid === p.pid) waitOf.set(t.tid, t.wait_ns);
    let blamed = 0;
    for (const b of p.blame) {
      blamed += b.ns;
      b.derived = { pct_of_wait: pct(b.ns, waitOf.get(b.waiter) ?? 0) };
    }
    p.blame.sort((x, y) => y.ns - x.ns || x.waiter - y.waiter || x.holder - y.holder);
    const gil = p.gil;
    // Waits-only sources (cond_timedwait, stack) say nothing about holding.
    const held = gil && p.holds_known;
    p.derived = {
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
  for (const p of s.processes) for (const b of p.blame) blamedOf.set(`${p.pid}:${b.waiter}`, (blamedOf.get(`${p.pid}:${b.waiter}`) ?? 0) + b.ns);
  for (const t of s.threads) {
    const gil = procGil.get(String(t.pid)) ?? false;
    const held = procHeld.get(String(t.pid)) ?? false;
    const wh = LogHistogram.fromJSON(t.wait_hist);
    const hh = LogHistogram.fromJSON(t.hold_hist);
    const tot = t.total_ns;
    const g = (x: number): number | null => (gil ? pct(x, tot) : null);
    const h = (x: number): number | null => (held ? pct(x, tot) : null);
    const sch = (x: number): number | null => (t.sched ? pct(x, tot) : null);
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
      no_holder_wait_ns: held ? Math.max(0, t.wait_ns - (blamedOf.get(`${t.pid}:${t.tid}`) ?? 0)) : null,
      per4m: {
        total_us: p4.total_ns / 1000,
        no_gil_pct: held ? pct(Math.max(0, p4.total_ns - p4.hold_ns - p4.wait_ns), p4.total_ns) : null,
        has_gil_pct: held ? pct(p4.hold_ns, p4.total_ns) : null,
        wait_pct: gil ? pct(p4.wait_ns, p4.total_ns) : null,
      },
    };
  }
  const iv = s.options.interval_ns;
  if (iv) {
    for (const w of s.windows) {
      w.derived = {
        wait_per_s: w.wait_ns / iv,
        held_pct: (100 * w.hold_ns) / iv,
        contention_pct: (100 * w.contended_ns) / iv,
      };
    }
  }
  return s;
}

/** Is this parsed JSON a summary this version can merge? Returns why not, or undefined. */
export function checkSummary(j: unknown): string | undefined {
  if (j === null || typeof j !== 'object' || (j as { type?: unknown }).type !== 'gil_stats') {
    return 'not a gil-stats JSON summary (gil-stats --format json writes them)';
  }
  const v = (j as { version?: unknown }).version;
  if (v !== GIL_STATS_VERSION) return `gil_stats version ${String(v)}, this gil-stats reads version ${GIL_STATS_VERSION}`;
  for (const k of ['processes', 'threads', 'windows', 'sources'] as const) {
    if (!Array.isArray((j as Record<string, unknown>)[k])) return `gil_stats without a "${k}" array`;
  }
  return undefined;
}

function addHist(a: HistogramJSON, b: HistogramJSON): HistogramJSON {
  const h = LogHistogram.fromJSON(a);
  h.merge(LogHistogram.fromJSON(b));
  return h.toJSON();
}

/**
 * Combines summaries as if one run had read all their inputs: sums add,
 * maxima take the larger, histograms add bucket by bucket, longest-N lists
 * keep the N longest of all. Throws an Error with the reason when the
 * summaries were made with different options.
 */
export function merge(list: GilStatsJSON[]): GilStatsJSON {
  if (list.length === 0) throw new Error('nothing to merge');
  const o = list[0]!.options;
  for (const s of list) {
    for (const k of ['switch_interval_ns', 'hog_ns', 'top', 'interval_ns'] as const) {
      if (s.options[k] !== o[k]) throw new Error(`summaries made with different options: ${k} ${o[k]} and ${s.options[k]}`);
    }
  }
  const out: GilStatsJSON = structuredClone(list[0]!);
  const procs = new Map(out.processes.map((p) => [String(p.pid), p]));
  const threads = new Map(out.threads.map((t) => [`${t.pid}:${t.tid}`, t]));
  const windows = new Map(out.windows.map((w) => [`${w.pid}:${w.start_ns}`, w]));
  for (const s0 of list.slice(1)) {
    const s = structuredClone(s0);
    for (const src of s.sources) if (!out.sources.includes(src)) out.sources.push(src);
    out.captures += s.captures;
    for (const g of s.gil_sources) if (!out.gil_sources.includes(g)) out.gil_sources.push(g);
    out.lost += s.lost;
    out.anomalies += s.anomalies;
    out.unknown_spans += s.unknown_spans;
    for (const [k, n] of Object.entries(s.diagnostics)) out.diagnostics[k] = (out.diagnostics[k] ?? 0) + n;
    out.top.waits.push(...s.top.waits);
    out.top.holds.push(...s.top.holds);
    for (const p of s.processes) {
      const q = procs.get(String(p.pid));
      if (!q) {
        procs.set(String(p.pid), p);
        out.processes.push(p);
        continue;
      }
      q.comm = p.comm ?? q.comm;
      q.gil ||= p.gil;
      q.holds_known ||= p.holds_known;
      q.sched ||= p.sched;
      for (const k of [
        'wall_ns',
        'hold_ns',
        'wait_ns',
        'handoff_ns',
        'contended_ns',
        'holds',
        'waits',
        'switches',
        'forced_switches',
        'held_offcpu_ns',
        'lookback_lost_ns',
      ] as const) {
        q[k] += p[k];
      }
      q.max_waiters = Math.max(q.max_waiters, p.max_waiters);
      q.hogs.count += p.hogs.count;
      q.hogs.hold_ns += p.hogs.hold_ns;
      q.hogs.longest.push(...p.hogs.longest);
      const blame = new Map(q.blame.map((b) => [`${b.waiter}:${b.holder}`, b]));
      for (const b of p.blame) {
        const c = blame.get(`${b.waiter}:${b.holder}`);
        if (c) c.ns += b.ns;
        else {
          q.blame.push(b);
          blame.set(`${b.waiter}:${b.holder}`, b);
        }
      }
      q.wait_hist = addHist(q.wait_hist, p.wait_hist);
      q.hold_hist = addHist(q.hold_hist, p.hold_hist);
    }
    for (const t of s.threads) {
      const k = `${t.pid}:${t.tid}`;
      const u = threads.get(k);
      if (!u) {
        threads.set(k, t);
        out.threads.push(t);
        continue;
      }
      u.comm = t.comm ?? u.comm;
      u.main ||= t.main;
      u.sched ||= t.sched;
      for (const f of [
        'total_ns',
        'wait_ns',
        'hold_ns',
        'handoff_ns',
        'running_ns',
        'runnable_ns',
        'sleeping_ns',
        'blocked_ns',
        'other_ns',
        'waits',
        'acquisitions',
        'gil_sleeps',
        'gil_sleep_ns',
        'held_offcpu_ns',
      ] as const) {
        u[f] += t[f];
      }
      if (t.longest_hold && (!u.longest_hold || t.longest_hold.dur_ns > u.longest_hold.dur_ns)) u.longest_hold = t.longest_hold;
      u.wait_hist = addHist(u.wait_hist, t.wait_hist);
      u.hold_hist = addHist(u.hold_hist, t.hold_hist);
      u.per4m.total_ns += t.per4m.total_ns;
      u.per4m.hold_ns += t.per4m.hold_ns;
      u.per4m.wait_ns += t.per4m.wait_ns;
    }
    for (const w of s.windows) {
      const k = `${w.pid}:${w.start_ns}`;
      const x = windows.get(k);
      if (!x) {
        windows.set(k, w);
        out.windows.push(w);
        continue;
      }
      x.wait_ns += w.wait_ns;
      x.hold_ns += w.hold_ns;
      x.contended_ns += w.contended_ns;
    }
  }
  return finish(out);
}
