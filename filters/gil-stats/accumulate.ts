// What gil-stats adds up per thread, per process and per window while the
// records stream by. Each accumulator keeps its figures in the summary's own
// shape (summary.ts), histograms still as LogHistograms, so turning it into
// its part of the summary is a copy, not a second list of the fields. Beside
// the figures it keeps what one capture needs to pair spans up (the recent
// holds and waits of a process, the off-CPU spans of a thread); that is
// cleared when the capture ends.
import { Coverage } from '../../lib/coverage.js';
import { UsageError } from '../../lib/errors.js';
import { LogHistogram, type HistogramJSON } from '../../lib/histogram.js';
import { RecentIntervals } from '../../lib/recent-intervals.js';
import { byLongest, type BlameEntry, type HogEntry, type ProcessJSON, type ThreadJSON, type TopEntry, type WindowJSON } from './summary.js';

/** A part of the summary while it is added up: its histograms still LogHistograms. */
type Adding<T> = { [K in keyof T]: T[K] extends HistogramJSON ? LogHistogram : T[K] };

/** A hold kept for the waits to come (its times are kept beside it: lib/recent-intervals.ts). */
export interface HoldIv {
  tid: number;
  forced: boolean;
  /** Where it held (leaf first), for the blame flame graph. */
  stack: string[] | undefined;
  /** A hog: its entry, to add the waits that overlap it as they close, and who they were. */
  hog?: HogEntry;
  waiters?: Set<number>;
}

/** A thread off a CPU: how, and the stack it was switched out with. */
export interface OffcpuIv {
  start: number;
  end: number;
  state: 'runnable' | 'sleeping' | 'blocked' | 'other';
  stack: string[] | undefined;
  /** Runnable because preempted: who got its CPU. */
  by?: { tid: number; comm: string };
}

/** A hold of the thread, for the off-CPU figures: its hog entry, when it is one. */
export interface OwnHoldIv {
  start: number;
  end: number;
  stack: string[] | undefined;
  hog?: HogEntry;
}

/** A wait kept for the holds and waits to come (its times are kept beside it). */
export interface WaitIv {
  tid: number;
  /** Waiters at this wait's start, counting itself (raised as later arrivals reveal more). */
  depth: number;
}

export class ThreadAcc {
  readonly fig: Adding<Omit<ThreadJSON, 'derived'>>;
  /** Named by a span or a thread record (a thread seen only in samples is not listed). */
  mentioned = false;
  // Per capture (reset at its end):
  seenFirst = Infinity;
  seenLast = -Infinity;
  hadThreadRecord = false;
  /** per4m counts a hold only once drop_gil returns: the hold waiting for its handoff. */
  pendingHold: number | undefined;
  /** Its latest gil and sched spans: a thread is in one state of each family at a time. */
  gilStart = Infinity;
  gilEnd = -Infinity;
  schedStart = Infinity;
  schedEnd = -Infinity;
  /** All the time its scheduler spans covered, to refuse one given again. */
  schedCover = new Coverage();
  /** End of a hold not counted (given again): the handoff that closes it goes with it. */
  droppedHoldEnd = NaN;
  holdsForOffcpu = new RecentIntervals<OwnHoldIv>(20_000);
  offcpu = new RecentIntervals<OffcpuIv>(20_000);

  constructor(pid: number | null, tid: number) {
    this.fig = {
      pid,
      tid,
      comm: null,
      main: pid !== null && pid === tid,
      total_ns: 0,
      wait_ns: 0,
      hold_ns: 0,
      handoff_ns: 0,
      running_ns: 0,
      runnable_ns: 0,
      sleeping_ns: 0,
      blocked_ns: 0,
      other_ns: 0,
      sched: false,
      waits: 0,
      acquisitions: 0,
      gil_sleeps: 0,
      gil_sleep_ns: 0,
      held_offcpu_ns: 0,
      longest_hold: null,
      wait_hist: new LogHistogram(),
      hold_hist: new LogHistogram(),
      per4m: { total_ns: 0, hold_ns: 0, wait_ns: 0 },
    };
  }

  resetCapture(): void {
    this.seenFirst = Infinity;
    this.seenLast = -Infinity;
    this.hadThreadRecord = false;
    this.pendingHold = undefined;
    this.gilStart = Infinity;
    this.gilEnd = -Infinity;
    this.schedStart = Infinity;
    this.schedEnd = -Infinity;
    this.schedCover.clear();
    this.droppedHoldEnd = NaN;
    this.holdsForOffcpu.clear();
    this.offcpu.clear();
  }

  toJSON(): ThreadJSON {
    const f = this.fig;
    return { ...f, wait_hist: f.wait_hist.toJSON(), hold_hist: f.hold_hist.toJSON(), per4m: { ...f.per4m } };
  }
}

export class ProcessAcc {
  readonly fig: Adding<Omit<ProcessJSON, 'derived'>>;
  private readonly blameOf = new Map<string, BlameEntry>();
  // Per capture:
  holdBuf = new RecentIntervals<HoldIv>();
  waitBuf = new RecentIntervals<WaitIv>();
  capFirst = Infinity;
  capLast = -Infinity;
  spanFirst = Infinity;
  spanLast = -Infinity;
  /** Its process record came: it is given once. */
  hadProcessRecord = false;

  constructor(pid: number | null) {
    this.fig = {
      pid,
      comm: null,
      gil: false,
      holds_known: false,
      pids_inferred: false,
      two_holders: 0,
      overlapping_holds: 0,
      callchains: 0,
      sched: false,
      wall_ns: 0,
      hold_ns: 0,
      wait_ns: 0,
      handoff_ns: 0,
      contended_ns: 0,
      max_waiters: 0,
      holds: 0,
      waits: 0,
      switches: 0,
      forced_switches: 0,
      held_offcpu_ns: 0,
      lookback_lost_ns: 0,
      hogs: { count: 0, hold_ns: 0, longest: [] },
      blame: [],
      wait_hist: new LogHistogram(),
      hold_hist: new LogHistogram(),
    };
  }

  get pid(): number | null {
    return this.fig.pid;
  }

  /** `holder` held the GIL for `ns` while `waiter` waited. */
  addBlame(waiter: number, holder: number, ns: number): void {
    const k = `${waiter}:${holder}`;
    const b = this.blameOf.get(k);
    if (b) b.ns += ns;
    else {
      const e = { waiter, holder, ns };
      this.blameOf.set(k, e);
      this.fig.blame.push(e);
    }
  }

  /** The capture ended: its first to last event is wall time; what pairs spans up starts again. */
  endCapture(): void {
    const first = Math.min(this.capFirst, this.spanFirst);
    const last = Math.max(this.capLast, this.spanLast);
    if (last > first) this.fig.wall_ns += last - first;
    this.holdBuf.clear();
    this.waitBuf.clear();
    this.capFirst = Infinity;
    this.capLast = -Infinity;
    this.spanFirst = Infinity;
    this.spanLast = -Infinity;
    this.hadProcessRecord = false;
  }

  toJSON(): ProcessJSON {
    const f = this.fig;
    return {
      ...f,
      hogs: { ...f.hogs, longest: [...f.hogs.longest] },
      blame: f.blame.map((b) => ({ ...b })),
      wait_hist: f.wait_hist.toJSON(),
      hold_hist: f.hold_hist.toJSON(),
    };
  }
}

/** Per-window sums (--interval): windows aligned to multiples of the interval on the perf clock. */
/** The most windows --interval may make: past them, the figures would cost more memory than the events. */
export const MAX_WINDOWS = 100_000;

export class Windows {
  private readonly rows = new Map<string, WindowJSON>();

  constructor(private readonly intervalNs: number | undefined) {}

  /** Adds (a, b) to `key` of every window it overlaps, the overlapping part to each. */
  add(pid: number | null, a: number, b: number, key: 'wait_ns' | 'hold_ns' | 'contended_ns'): void {
    const iv = this.intervalNs;
    if (iv === undefined || b <= a) return;
    for (let w = Math.floor(a / iv); w * iv < b; w++) {
      const ws = w * iv;
      const part = Math.min(b, ws + iv) - Math.max(a, ws);
      if (part <= 0) continue;
      const k = `${pid}:${w}`;
      let row = this.rows.get(k);
      if (!row) {
        if (this.rows.size >= MAX_WINDOWS) {
          throw new UsageError(`--interval ${iv} ns makes more than ${MAX_WINDOWS.toLocaleString('en')} windows over this input: give a longer one`);
        }
        row = { pid, start_ns: ws, wait_ns: 0, hold_ns: 0, contended_ns: 0 };
        this.rows.set(k, row);
      }
      row[key] += part;
    }
  }

  toJSON(): WindowJSON[] {
    return [...this.rows.values()].map((w) => ({ ...w }));
  }
}

/** Whether an entry of this duration may enter a top-n list: one that cannot is not made (most waits and holds). */
export function mayEnterTop(list: TopEntry[], n: number, durNs: number): boolean {
  return n > 0 && (list.length < n || durNs >= list[list.length - 1]!.dur_ns);
}

/** Adds `e` to a longest-N list kept sorted, if it is among the N longest. */
export function pushTop<T extends TopEntry>(list: T[], n: number, e: T): void {
  if (n <= 0) return;
  if (list.length >= n && byLongest(e, list[list.length - 1]!) >= 0) return;
  list.push(e);
  list.sort(byLongest);
  if (list.length > n) list.length = n;
}
