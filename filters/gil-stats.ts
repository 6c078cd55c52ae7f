// gil-stats' filter: gil-state records in, one `gil_stats` summary out
// (docs/gil-stats.md documents the summary; docs/events.md the input).
//
// Questions about two threads at once (who held while X waited, how many
// waited at once, was the holder forced out) are answered as spans arrive,
// against a bounded buffer of recent spans (lib/recent-intervals.ts): memory
// depends on the number of threads and on the spans of the last minute at
// most, never on the length of the input. The parts: the summary's shape
// (gil-stats/summary.ts), what is added up (accumulate.ts), the hogs' stacks
// (stacks.ts), the derived figures (derive.ts), merging (merge.ts).
import { CaptureIds, HandoffOrder } from './captures.js';
import type { Context, Emit, Filter } from '../lib/filter.js';
import { HISTOGRAM_SCHEME } from '../lib/histogram.js';
import type { AnyRecord, Capture, GilSpan, Handoff, ProcessInfo, SchedSpan, SchedState, Span, ThreadInfo } from './records.js';
import { ProcessAcc, ThreadAcc, Windows, mayEnterTop, pushTop, type HoldIv, type OffcpuIv, type OwnHoldIv, type WaitIv } from './gil-stats/accumulate.js';
import { finish } from './gil-stats/derive.js';
import { Folded } from './gil-stats/folded.js';
import { HogStacks } from './gil-stats/stacks.js';
import { blockedIn, nativeLeaf, pyFunction } from './frames.js';
import {
  GIL_STATS_VERSION,
  HOGS_KEPT,
  originKey,
  type GilStatsJSON,
  type HogEntry,
  type HogSched,
  type OriginJSON,
  type ProcessJSON,
  type ThreadJSON,
  type TopEntry,
  type WindowJSON,
} from './gil-stats/summary.js';

export type { GilStatsJSON } from './gil-stats/summary.js';

export interface GilStatsOptions {
  /** sys.setswitchinterval, in ns: a waiter that waited this long forces the holder out. */
  switchIntervalNs: number;
  /** Holds longer than this are GIL hogs. */
  hogNs: number;
  /** Length of the longest-waits / longest-holds lists. */
  top: number;
  /** Window length for per-window rows; undefined: no windows. */
  intervalNs?: number;
  /** Add the folded stacks (causal flame graphs) to the summary. */
  folded?: boolean;
  /** The user's labels for every capture of the run (--label); `host` overrides perf's header. */
  labels?: Record<string, string>;
}

export const DEFAULTS: GilStatsOptions = { switchIntervalNs: 5_000_000, hogNs: 10_000_000, top: 10 };

/** A span with the stack of an event in it: a wait's take_gil entry, a hold's sampled stack, a switch-out's. */
function hasStack(rec: Span): boolean {
  const r = rec as { stack?: string[]; sampled_stack?: string[] };
  return (r.stack !== undefined && r.stack.length > 0) || (r.sampled_stack !== undefined && r.sampled_stack.length > 0);
}

/**
 * Takes gil-state's records; the end of each input (`endInput`) ends a capture
 * that had no `capture` record; `end` emits the one summary.
 */
export class GilStats implements Filter<AnyRecord> {
  // The capture being read; at its end its rows are labelled with its origin
  // and kept, so two captures' pid 4242 are two processes.
  private readonly threads = new Map<number | string, ThreadAcc>();
  private readonly procs = new Map<number | string, ProcessAcc>();
  private windows: Windows;
  private readonly doneThreads: ThreadJSON[] = [];
  private readonly doneProcs: ProcessJSON[] = [];
  private readonly doneWindows: WindowJSON[] = [];
  private readonly origins: OriginJSON[] = [];
  /** Per hog, the tasks that had its CPU while it was runnable holding the GIL, and for how long. */
  private readonly preemptions = new WeakMap<HogSched, Map<number, { comm: string; ns: number }>>();
  /** Recent callchain samples per tid, for the stacks of hogs (reset per capture). */
  private readonly stacks = new HogStacks();
  /** Only when asked for: every wait and every overlap would cost a stack key otherwise. */
  private readonly folded: Folded | undefined;
  private readonly topWaits: TopEntry[] = [];
  private readonly topHolds: TopEntry[] = [];
  private readonly sources: string[] = [];
  private readonly captureIds = new CaptureIds();
  private readonly handoffs = new HandoffOrder();
  private readonly gilSources = new Set<string>();
  private readonly diagnostics: Record<string, number> = {};
  private captures = 0;
  private lost = 0;
  private anomalies = 0;
  private unknownSpans = 0;
  /** Samples with a callchain per pid, in this capture: added to the process's row when it is kept (a sample makes no row of its own). */
  private sampleStacks = new Map<number, number>();
  private inCapture = false;
  private firstTs = Infinity;
  /** Thread names by tid, as the captures ended: the folded stacks' root frames. */
  private readonly names = new Map<number, string>();

  constructor(
    private readonly emit: Emit<GilStatsJSON>,
    private readonly ctx: Context,
    readonly opts: GilStatsOptions = DEFAULTS,
  ) {
    this.windows = new Windows(opts.intervalNs);
    this.folded = opts.folded ? new Folded() : undefined;
  }

  write(rec: AnyRecord): void {
    const file = this.ctx.where.file;
    if (file !== this.sources[this.sources.length - 1] && !this.sources.includes(file)) this.sources.push(file);
    switch (rec.type) {
      case 'span':
        return this.span(rec, file);
      case 'handoff':
        return this.handoff(rec);
      case 'thread':
        return this.thread(rec);
      case 'process':
        return this.process(rec);
      case 'capture':
        return this.capture(rec);
      case 'diagnostic':
        this.diagnostics[rec.code] = (this.diagnostics[rec.code] ?? 0) + 1;
        return;
      case 'sample':
        if (rec.callchain !== undefined && rec.callchain.length > 0 && rec.tid !== undefined) {
          if (rec.pid !== undefined) this.sampleStacks.set(rec.pid, (this.sampleStacks.get(rec.pid) ?? 0) + 1);
          this.stacks.sample(rec.tid, rec.ts, rec.callchain);
        }
        return;
      default:
      // Pass-through records of other stages or of users: not ours to judge.
    }
  }

  /** End of one input: a capture without a `capture` record ends here. */
  endInput(): void {
    if (this.inCapture) this.endCapture();
  }

  end(): void {
    this.emit(this.summary());
  }

  private thr(pid: number | null, tid: number): ThreadAcc {
    const k = threadKey(pid, tid);
    let t = this.threads.get(k);
    if (!t) {
      t = new ThreadAcc(pid, tid);
      this.threads.set(k, t);
    }
    return t;
  }

  private proc(pid: number | null): ProcessAcc {
    const k = pid ?? 'null';
    let p = this.procs.get(k);
    if (!p) {
      p = new ProcessAcc(pid);
      this.procs.set(k, p);
    }
    return p;
  }

  private span(rec: Span, file: string): void {
    const { ts, dur, tid, pid } = rec;
    this.inCapture = true;
    const t = this.thr(pid, tid);
    const p = this.proc(pid);
    const end = ts + dur;
    // gil-state never writes two spans of one family of a thread that
    // overlap: one that does is a record given twice, or streams mixed up,
    // and counting it would take the thread past 100 %.
    if (this.coveredAgain(t, p, rec, end)) {
      this.ctx.malformed(`a ${rec.family} ${rec.state} span of thread ${tid} at ${ts} that overlaps one of its spans before it (a record given twice?): not counted`);
      if (rec.state === 'hold') t.droppedHoldEnd = end;
      return;
    }
    const sched = rec.family === 'sched';
    if (sched) {
      t.schedStart = ts;
      t.schedEnd = end;
      t.schedCover.add(ts, end);
    } else {
      t.gilStart = ts;
      t.gilEnd = end;
    }
    if (rec.unknown === true) this.unknownSpans++;
    t.mentioned = true;
    if (hasStack(rec)) p.fig.callchains++;
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts < t.seenFirst) t.seenFirst = ts;
    if (end > t.seenLast) t.seenLast = end;
    if (ts < p.spanFirst) p.spanFirst = ts;
    if (end > p.spanLast) p.spanLast = end;
    if (rec.family === 'sched') return this.schedSpan(t, p, rec);
    p.fig.gil = true;
    // Who held is known once a hold was seen to end: a handoff, or a hold
    // closed by its own release. Holds closed only by lost events or by the
    // end of the input are lower bounds of unknown length.
    if (rec.state === 'handoff' || (rec.state === 'hold' && rec.unknown !== true && rec.truncated !== true)) p.fig.holds_known = true;
    if (rec.state === 'wait') this.waitSpan(t, p, rec, file);
    else if (rec.state === 'hold') this.holdSpan(t, p, rec, file);
    else {
      t.fig.handoff_ns += dur;
      p.fig.handoff_ns += dur;
      // per4m: "has gil" runs from take_gil return to drop_gil return.
      if (t.pendingHold !== undefined && rec.truncated !== true) t.fig.per4m.hold_ns += t.pendingHold + dur;
      t.pendingHold = undefined;
    }
    this.stacks.forget(tid);
  }

  /**
   * Whether the span covers time the thread's spans of its family already
   * covered. Scheduler spans are checked against all the thread's own
   * (lib/coverage.ts); waits and holds against the recent ones of its process
   * (the last minute, kept anyway to pair spans); a handoff, which follows
   * its hold, goes with the hold it closes.
   */
  private coveredAgain(t: ThreadAcc, p: ProcessAcc, rec: Span, end: number): boolean {
    const { ts } = rec;
    const sched = rec.family === 'sched';
    // The thread's span before it: the one check that holds in any order.
    if (ts < (sched ? t.schedEnd : t.gilEnd) && end > (sched ? t.schedStart : t.gilStart)) return true;
    if (sched) return t.schedCover.overlaps(ts, end);
    // (The hold given twice in a row is dropped, the handoff after it closes the one counted.)
    if (rec.state === 'handoff') return ts === t.droppedHoldEnd && ts !== t.gilEnd;
    const tid = t.fig.tid;
    return p.holdBuf.some(ts, end, (h) => h.tid === tid) || p.waitBuf.some(ts, end, (w) => w.tid === tid);
  }

  private schedSpan(t: ThreadAcc, p: ProcessAcc, rec: SchedSpan): void {
    const { ts, dur, state } = rec;
    t.fig[STATE_NS[state]] += dur;
    t.fig.sched = true;
    p.fig.sched = true;
    if (rec.gil === true && (state === 'sleeping' || state === 'blocked')) {
      t.fig.gil_sleeps++;
      t.fig.gil_sleep_ns += dur;
    }
    // One scheduler state at a time: the thread's later states start after this one.
    t.holdsForOffcpu.dropEndingBy(ts);
    if (state === 'running' || dur <= 0) return;
    const end = ts + dur;
    const off: OffcpuIv = { start: ts, end, state, stack: rec.stack, ...(rec.preempted_by ? { by: rec.preempted_by } : {}) };
    t.holdsForOffcpu.forOverlapping(ts, end, (h) => this.heldOffcpu(t, p, h, off));
    t.offcpu.add(ts, end, off);
  }

  /** A hold of `t` and a time it was off a CPU overlap: held while not running. */
  private heldOffcpu(t: ThreadAcc, p: ProcessAcc, h: OwnHoldIv, s: OffcpuIv): void {
    const ov = Math.min(s.end, h.end) - Math.max(s.start, h.start);
    if (ov <= 0) return;
    t.fig.held_offcpu_ns += ov;
    p.fig.held_offcpu_ns += ov;
    this.folded?.add('offcpu', t.fig.tid, s.stack ?? h.stack, ov, s.stack === undefined ? `[${s.state}]` : undefined);
    const hs = h.hog?.sched;
    if (hs === undefined) return;
    hs.running_ns -= ov;
    hs[`${s.state === 'other' ? 'sleeping' : s.state}_ns`] += ov;
    const fn = s.state === 'runnable' ? undefined : blockedIn(s.stack);
    if (fn !== undefined && ov > (hs.blocked_in_ns ?? 0)) {
      hs.blocked_in = fn;
      hs.blocked_in_ns = ov;
    }
    if (s.state === 'runnable' && s.by !== undefined) {
      // Summed per task over the hold: the one that had its CPU longest.
      let by = this.preemptions.get(hs);
      if (by === undefined) this.preemptions.set(hs, (by = new Map()));
      const ns = (by.get(s.by.tid)?.ns ?? 0) + ov;
      by.set(s.by.tid, { comm: s.by.comm, ns });
      if (ns > (hs.preempted_by_ns ?? 0)) {
        hs.preempted_by = { tid: s.by.tid, comm: s.by.comm };
        hs.preempted_by_ns = ns;
      }
    }
  }

  /** A waiter waited `ns` while hold `h` held: blame to the holder's stack, and to the hog. */
  private blamed(h: HoldIv, waiter: number, ns: number): void {
    this.folded?.add('blame', h.tid, h.stack, ns);
    if (h.hog === undefined) return;
    h.hog.blamed_ns = (h.hog.blamed_ns ?? 0) + ns;
    h.waiters!.add(waiter);
    h.hog.waiters = h.waiters!.size;
  }

  private waitSpan(t: ThreadAcc, p: ProcessAcc, rec: GilSpan, source: string): void {
    const { ts: a, dur } = rec;
    const b = a + dur;
    t.fig.wait_ns += dur;
    t.fig.waits++;
    t.fig.wait_hist.add(dur);
    p.fig.wait_ns += dur;
    p.fig.waits++;
    p.fig.wait_hist.add(dur);
    if (rec.truncated !== true) t.fig.per4m.wait_ns += dur;
    this.windows.add(p.pid, a, b, 'wait_ns');
    this.folded?.add('wait', t.fig.tid, rec.stack, dur);
    let holder: number | null = null;
    if (dur > 0) {
      // Who held while this thread waited, and whose hold it outlasted.
      let best = 0;
      const byHolder = new Map<number, number>();
      p.holdBuf.forOverlapping(a, b, (h, hStart, hEnd) => {
        if (h.tid === t.fig.tid) return;
        const ov = Math.min(b, hEnd) - Math.max(a, hStart);
        p.addBlame(t.fig.tid, h.tid, ov);
        this.blamed(h, t.fig.tid, ov);
        const sum = (byHolder.get(h.tid) ?? 0) + ov;
        byHolder.set(h.tid, sum);
        if (sum > best) {
          best = sum;
          holder = h.tid;
        }
        if (!h.forced && b >= hEnd && hEnd - Math.max(a, hStart) >= this.opts.switchIntervalNs) {
          h.forced = true;
          p.fig.forced_switches++;
        }
      });
      p.fig.lookback_lost_ns += p.holdBuf.forgotten(a, b);
      // How many waited at once, and for how long anyone did.
      const others: Array<{ start: number; end: number }> = [];
      let depth = 1;
      p.waitBuf.forOverlapping(a, b, (w, wStart, wEnd) => {
        others.push({ start: wStart, end: wEnd });
        if (wStart <= a) depth++;
        if (a <= wStart) {
          w.depth++;
          if (w.depth > p.fig.max_waiters) p.fig.max_waiters = w.depth;
        }
      });
      if (depth > p.fig.max_waiters) p.fig.max_waiters = depth;
      this.addUncovered(p, a, b, others);
      p.waitBuf.add(a, b, { tid: t.fig.tid, depth });
    }
    if (!mayEnterTop(this.topWaits, this.opts.top, dur)) return;
    const top: TopEntry = { pid: p.pid, tid: t.fig.tid, ts: a, dur_ns: dur, source, holder };
    if (rec.stack !== undefined) {
      top.python = pyFunction(rec.stack) ?? null;
      top.stack = rec.stack;
    }
    pushTop(this.topWaits, this.opts.top, top);
  }

  /** Adds the part of (a, b) that no other waiter covers to the contended time. */
  private addUncovered(p: ProcessAcc, a: number, b: number, others: Array<{ start: number; end: number }>): void {
    others.sort((x, y) => x.start - y.start);
    let from = Math.max(a, p.waitBuf.trimmedUpTo);
    p.fig.lookback_lost_ns += p.waitBuf.forgotten(a, b);
    for (const w of others) {
      if (from >= b) break;
      if (w.start > from) {
        const to = Math.min(w.start, b);
        p.fig.contended_ns += to - from;
        this.windows.add(p.pid, from, to, 'contended_ns');
      }
      if (w.end > from) from = w.end;
    }
    if (from < b) {
      p.fig.contended_ns += b - from;
      this.windows.add(p.pid, from, b, 'contended_ns');
    }
  }

  private holdSpan(t: ThreadAcc, p: ProcessAcc, rec: GilSpan, source: string): void {
    const { ts: a, dur } = rec;
    const b = a + dur;
    const tid = t.fig.tid;
    t.fig.hold_ns += dur;
    t.fig.hold_hist.add(dur);
    if (rec.partial !== true) t.fig.acquisitions++;
    p.fig.hold_ns += dur;
    p.fig.holds++;
    p.fig.hold_hist.add(dur);
    t.pendingHold = rec.truncated === true ? undefined : dur;
    if (t.fig.longest_hold === null || dur > t.fig.longest_hold.dur_ns) t.fig.longest_hold = { ts: a, dur_ns: dur, source };
    this.windows.add(p.pid, a, b, 'hold_ns');
    // Where it held: what its events showed most during the hold, else where it began.
    const where = rec.sampled_stack ?? rec.stack;
    const iv: HoldIv = { tid, forced: false, stack: where };
    if (dur > this.opts.hogNs) {
      p.fig.hogs.count++;
      p.fig.hogs.hold_ns += dur;
      const hog: HogEntry = { pid: p.pid, tid, ts: a, dur_ns: dur, source, blamed_ns: 0, waiters: 0 };
      const stack = rec.sampled_stack ?? this.stacks.during(tid, a, b);
      if (stack) hog.stack = stack;
      if (rec.stack) hog.began = rec.stack;
      if (hog.stack !== undefined || hog.began !== undefined) {
        hog.python = pyFunction(hog.stack) ?? pyFunction(hog.began) ?? null;
        hog.native = nativeLeaf(hog.stack) ?? null;
      }
      if (t.fig.sched) hog.sched = { running_ns: dur, runnable_ns: 0, sleeping_ns: 0, blocked_ns: 0 };
      iv.hog = hog;
      iv.waiters = new Set();
      pushTop(p.fig.hogs.longest, HOGS_KEPT, hog);
    }
    if (mayEnterTop(this.topHolds, this.opts.top, dur)) pushTop(this.topHolds, this.opts.top, { pid: p.pid, tid, ts: a, dur_ns: dur, source });
    if (dur <= 0) return;
    // One holder at a time: a hold over another thread's is two processes
    // grouped as one, or spans out of order or mixed from two streams.
    if (p.holdBuf.some(a, b, (h) => h.tid !== tid)) p.fig.overlapping_holds++;
    let forced = false;
    p.waitBuf.forOverlapping(a, b, (w, wStart, wEnd) => {
      if (w.tid === tid) return;
      const ov = Math.min(b, wEnd) - Math.max(a, wStart);
      p.addBlame(w.tid, tid, ov);
      this.blamed(iv, w.tid, ov);
      if (wEnd >= b && b - Math.max(a, wStart) >= this.opts.switchIntervalNs) forced = true;
    });
    p.fig.lookback_lost_ns += p.waitBuf.forgotten(a, b);
    if (forced) p.fig.forced_switches++;
    iv.forced = forced;
    p.holdBuf.add(a, b, iv);
    const own: OwnHoldIv = { start: a, end: b, stack: where };
    if (iv.hog) own.hog = iv.hog;
    t.offcpu.forOverlapping(a, b, (s) => this.heldOffcpu(t, p, own, s));
    t.holdsForOffcpu.add(a, b, own);
    // The thread's later holds start after this one ends.
    t.offcpu.dropEndingBy(a);
  }

  private handoff(rec: Handoff): void {
    const p = this.proc(rec.pid);
    // Given twice, it would count a switch twice.
    const refused = this.handoffs.refuse(rec);
    if (refused !== undefined) return this.ctx.malformed(`${refused}: not counted`);
    if (rec.from_tid !== null && rec.from_tid !== rec.to_tid) p.fig.switches++;
  }

  private thread(rec: ThreadInfo): void {
    const { pid, tid, first_ts, last_ts } = rec;
    // A lifetime running backwards, or not known, says nothing about the thread's time.
    if (first_ts === null || last_ts === null || last_ts < first_ts) {
      return this.ctx.malformed('thread record without numeric first_ts <= last_ts');
    }
    this.inCapture = true;
    const t = this.thr(pid, tid);
    // gil-state writes one per thread and capture: another is the input given twice.
    if (t.hadThreadRecord) return this.ctx.malformed(`a second thread record of thread ${tid} in one capture (a record given twice?): not counted`);
    t.fig.comm = rec.comm;
    t.fig.main = rec.main;
    t.hadThreadRecord = true;
    t.mentioned = true;
    // Its life: its own events, and its spans where they reach further (a
    // sleep until the capture ended), so that its states tile it. per4m
    // counts from its own events only.
    const first = Math.min(first_ts, t.seenFirst);
    if (first < this.firstTs) this.firstTs = first;
    const last = Math.max(last_ts, t.seenLast);
    t.fig.total_ns += last - first;
    t.fig.per4m.total_ns += last_ts - first_ts;
    const p = this.proc(pid);
    if (first < p.capFirst) p.capFirst = first;
    if (last > p.capLast) p.capLast = last;
  }

  private process(rec: ProcessInfo): void {
    this.inCapture = true;
    const p = this.proc(rec.pid);
    // gil-state writes one per process and capture: another is the input given twice.
    if (p.hadProcessRecord) return this.ctx.malformed(`a second process record of process ${rec.pid} in one capture (a record given twice?): not counted`);
    p.hadProcessRecord = true;
    p.fig.comm = rec.comm;
    if (rec.gil) p.fig.gil = true;
    if (rec.pids === 'inferred') p.fig.pids_inferred = true;
    p.fig.two_holders += rec.two_holders ?? 0;
  }

  private capture(rec: Capture): void {
    this.captureIds.add(rec.id, this.ctx.where);
    this.gilSources.add(rec.gil_source);
    this.lost += rec.lost;
    this.anomalies += rec.anomalies;
    this.endCapture(rec);
  }

  private endCapture(rec?: Capture): void {
    this.captures++;
    this.stacks.clear();
    this.handoffs.clear();
    this.inCapture = false;
    for (const t of this.threads.values()) {
      if (!t.hadThreadRecord && t.seenLast > t.seenFirst) {
        // No `thread` record (a cut input): its spans are the best lifetime known.
        t.fig.total_ns += t.seenLast - t.seenFirst;
        t.fig.per4m.total_ns += t.seenLast - t.seenFirst;
        const p = this.proc(t.fig.pid);
        if (t.seenFirst < p.capFirst) p.capFirst = t.seenFirst;
        if (t.seenLast > p.capLast) p.capLast = t.seenLast;
      }
      t.resetCapture();
    }
    // When it ran, by its spans, for an input cut before its capture record.
    let first = Infinity;
    let last = -Infinity;
    for (const p of this.procs.values()) {
      first = Math.min(first, p.capFirst, p.spanFirst);
      last = Math.max(last, p.capLast, p.spanLast);
      p.endCapture();
    }
    this.keepCapture(rec, Number.isFinite(first) ? first : null, Number.isFinite(last) ? last : null);
  }

  /** The ended capture's rows, labelled with where it came from; the accumulators start again. */
  private keepCapture(rec: Capture | undefined, seenFirst: number | null, seenLast: number | null): void {
    const { host: userHost, ...labels } = this.opts.labels ?? {};
    const source = this.ctx.where.file;
    const capture = rec?.id ?? null;
    const host = userHost ?? rec?.host ?? null;
    const key = originKey(host, capture, source);
    const firstTs = rec ? rec.first_ts : seenFirst;
    const lastTs = rec ? rec.last_ts : seenLast;
    this.origins.push({ key, capture, source, host, labels, first_ts: firstTs, last_ts: lastTs, captured_on: rec?.captured_on ?? null });
    for (const t of this.threads.values()) if (t.fig.comm) this.names.set(t.fig.tid, t.fig.comm);
    // A process none of whose holds was seen to end has no hold lengths to
    // rank: no hogs, no longest hold, no place among the longest holds.
    const unended = new Set<number | null>();
    for (const p of this.procs.values()) if (p.fig.gil && !p.fig.holds_known) unended.add(p.fig.pid);
    for (const p of this.procs.values()) {
      const j = p.toJSON();
      j.origin = key;
      if (unended.has(j.pid)) j.hogs = { count: 0, hold_ns: 0, longest: [] };
      if (j.pid !== null) j.callchains += this.sampleStacks.get(j.pid) ?? 0;
      for (const h of j.hogs.longest) {
        h.origin = key;
        h.comm = this.names.get(h.tid) ?? null;
      }
      this.doneProcs.push(j);
    }
    for (const t of this.threads.values()) {
      if (!t.mentioned) continue;
      const j = t.toJSON();
      j.origin = key;
      if (unended.has(j.pid)) j.longest_hold = null;
      this.doneThreads.push(j);
    }
    for (const w of this.windows.toJSON()) this.doneWindows.push({ ...w, origin: key });
    if (unended.size > 0) {
      const kept = this.topHolds.filter((e) => e.origin !== undefined || !unended.has(e.pid));
      this.topHolds.length = 0;
      this.topHolds.push(...kept);
    }
    for (const e of [...this.topWaits, ...this.topHolds]) e.origin ??= key;
    this.procs.clear();
    this.sampleStacks.clear();
    this.threads.clear();
    this.windows = new Windows(this.opts.intervalNs);
  }

  /** The summary so far (ends a capture that is still open). */
  private summary(): GilStatsJSON {
    if (this.inCapture) this.endCapture();
    const summary = finish({
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
      capture_ids: this.captureIds.ids(),
      origins: this.origins.map((o) => ({ ...o, labels: { ...o.labels } })),
      gil_sources: [...this.gilSources],
      gil_data: false,
      lost: this.lost,
      anomalies: this.anomalies,
      unknown_spans: this.unknownSpans,
      diagnostics: { ...this.diagnostics },
      processes: structuredClone(this.doneProcs),
      threads: structuredClone(this.doneThreads),
      top: { waits: this.topWaits.map((e) => ({ ...e })), holds: this.topHolds.map((e) => ({ ...e })) },
      windows: this.doneWindows.map((w) => ({ ...w })),
      first_ts: Number.isFinite(this.firstTs) ? this.firstTs : null,
    });
    if (this.folded) summary.folded = this.folded.toJSON((tid) => this.names.get(tid) ?? String(tid));
    return summary;
  }
}

/** Above any tid Linux gives (PID_MAX_LIMIT is 2^22). */
const TID_SPAN = 4_194_305;

/** Each state's figure: a key built per span (`${state}_ns`) was a new string to look up each time. */
const STATE_NS = { running: 'running_ns', runnable: 'runnable_ns', sleeping: 'sleeping_ns', blocked: 'blocked_ns', other: 'other_ns' } as const satisfies Record<SchedState, string>;

/** A thread's accumulator key: one number for pid and tid (exact far below 2^53), a string for what does not fit. */
function threadKey(pid: number | null, tid: number): number | string {
  if (tid >= 0 && tid < TID_SPAN && (pid === null || (pid >= 0 && pid < TID_SPAN))) return (pid === null ? 0 : pid + 1) * TID_SPAN + tid;
  return `${pid}:${tid}`;
}
