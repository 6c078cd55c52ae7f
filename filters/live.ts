// The live view's figures (gil-record --live, docs/live.md): gil-state's GIL
// spans cut into intervals of --every by perf's time, one `live` record per
// interval once it has closed.
//
// gil-state writes a span when it ends, and ends come in time order, so an
// interval is complete once the stream has passed its end. A wait or hold
// still going on then has no span yet: its part up to the interval's end is
// taken from gil-state's open phases (`LiveView`), and when its span comes
// later only the part after the last closed interval is added. When no
// events come at all (an idle program), the command's wall-clock tick closes
// the interval once perf's time must be past its end. Memory: the open
// intervals (one or two), each bounded by threads; nothing per span is kept.
import { forTerminal } from '../lib/escape.js';
import type { Context, Emit, Filter } from '../lib/filter.js';
import type { OpenGil } from './gil-state.js';
import { fmtDur, fmtTs } from './gil-stats/columns.js';
import type { AnyRecord } from './records.js';

/** What gil-state knows now: its open waits and holds, the latest event's time, thread names. */
export interface LiveView {
  openGil(): Iterable<OpenGil>;
  readonly latestTs: number;
  threadName(tid: number): string | undefined;
}

export interface LiveOptions {
  /** Interval length, ns (--every). */
  everyNs: number;
  /**
   * How far perf's clock must be past an interval's end before the wall-clock
   * tick closes it without events: what perf record and perf script may still
   * be holding (--no-buffering, perf script's ordering: 0.3 s at most measured).
   */
  marginNs: number;
  /** Threads listed per process, by GIL wait. */
  top: number;
  /** Where the first interval starts (CLOCK_MONOTONIC ns); default: the first event's time, when perf's recording had begun. */
  originNs?: number;
}

export const DEFAULTS: LiveOptions = { everyNs: 1e9, marginNs: 500e6, top: 5 };

export interface LiveThread {
  tid: number;
  name: string;
  wait_ns: number;
  hold_ns: number;
}

export interface LiveProcess {
  pid: number | null;
  comm: string;
  /** Seconds spent waiting for the GIL per second, summed over its threads (2.0: two threads waited all the time). */
  wait_per_s: number;
  wait_ns: number;
  hold_ns: number;
  /** Share of the interval some thread of it held the GIL; null if holds overlapped (not one holder at a time). */
  held_pct: number | null;
  /** The thread that held the GIL longest in the interval. */
  holder: { tid: number; name: string; hold_ns: number } | null;
  /** The longest wait that ended in the interval or was still going at its end (its length so far). */
  worst_wait: { tid: number; name: string; dur: number; ongoing: boolean } | null;
  /** Its threads with a GIL wait or hold in the interval, most wait first (--top of them). */
  threads: LiveThread[];
  /** Threads with a wait or hold in the interval, listed or not. */
  active_threads: number;
}

/** One closed interval. Not a stage record: gil-record --live writes it, no stage reads it. */
export interface LiveRecord {
  type: 'live';
  start_ts: number;
  end_ts: number;
  /** The interval's length in seconds (the last one, cut short by the end of the recording, may be shorter). */
  seconds: number;
  processes: LiveProcess[];
  /** The last interval, ended by the end of the recording before its time. */
  partial?: true;
  /** GIL time that arrived after its interval had been written (perf's output was late), ns: counted nowhere. */
  late_ns?: number;
}

interface Tally {
  wait: number;
  hold: number;
}

interface ProcTally {
  threads: Map<number, Tally>;
  worst: { tid: number; dur: number; ongoing: boolean } | undefined;
}

type Intervals = Map<number, Map<number | null, ProcTally>>;

export class LiveIntervals implements Filter<AnyRecord> {
  private origin: number | undefined;
  /** The next interval to close. */
  private next = 0;
  private readonly open: Intervals = new Map();
  /** The open phases counted into the last closed interval: their spans, when they come, count from there on. */
  private counted = new Map<number, OpenGil>();
  private late = 0;
  private lateTotal = 0;
  private unseenTotal = 0;
  private startNs: number | undefined;

  constructor(
    private readonly emit: Emit<LiveRecord>,
    _ctx: Context,
    private readonly view: LiveView,
    private readonly opts: LiveOptions = DEFAULTS,
  ) {
    this.origin = opts.originNs;
  }

  write(rec: AnyRecord): void {
    if (this.origin === undefined && Number.isFinite(this.view.latestTs)) this.origin = this.view.latestTs;
    if (rec.type === 'span' && rec.family === 'gil' && (rec.state === 'wait' || rec.state === 'hold')) this.span(rec.pid, rec.tid, rec.state, rec.ts, rec.ts + rec.dur, rec.partial === true);
    this.closeUpTo(this.view.latestTs);
  }

  /**
   * The recording began at `ns` (perf's clock). Intervals start at the first
   * event; if a tick comes first (an idle program), they start here.
   */
  start(ns: number): void {
    this.startNs = ns;
  }

  /** The wall clock says perf's time is now `nowNs`: close what must be over even if no event said so. */
  tick(nowNs: number): void {
    this.origin ??= this.startNs;
    this.closeUpTo(nowNs - this.opts.marginNs);
  }

  end(): void {
    const last = this.view.latestTs;
    this.closeUpTo(last);
    if (this.origin !== undefined && Number.isFinite(last) && last > this.bound(this.next)) this.close(last);
  }

  /** GIL time that came after its interval was written, over the whole run (ns). */
  get lateNs(): number {
    return this.lateTotal;
  }

  /**
   * GIL time in intervals already written, of waits and holds whose start
   * perf never saw (going on when it attached): known only once they ended (ns).
   */
  get unseenNs(): number {
    return this.unseenTotal;
  }

  private span(pid: number | null, tid: number, state: 'wait' | 'hold', start: number, end: number, partial: boolean): void {
    this.origin ??= start;
    const closedTo = this.bound(this.next);
    let a = Math.max(start, this.origin);
    if (a < closedTo) {
      const c = this.counted.get(tid);
      // Counted while open (the same phase, begun at the same time): only its rest is new.
      // A partial span began before perf saw it (before attaching, after lost events): not late, unseen.
      if (!(c && c.state === state && c.since === start)) {
        if (partial) this.unseenTotal += Math.min(end, closedTo) - a;
        else this.late += Math.min(end, closedTo) - a;
      }
      a = closedTo;
    }
    for (let k = this.index(a); a < end; k++) {
      const e = Math.min(end, this.bound(k + 1));
      const t = this.tally(k, pid, tid);
      t[state] += e - a;
      a = e;
    }
    if (state === 'wait' && end > closedTo) this.worst(this.index(end - 1), pid, tid, end - start, false);
  }

  private closeUpTo(ts: number): void {
    if (this.origin === undefined || !Number.isFinite(ts)) return;
    while (this.bound(this.next + 1) <= ts) this.close(this.bound(this.next + 1));
  }

  /** Writes interval `next`, ending at `end` (its bound, or earlier for the last). */
  private close(end: number): void {
    const k = this.next;
    const start = this.bound(k);
    this.counted = new Map();
    for (const o of this.view.openGil()) {
      if (o.since >= end) continue;
      this.tally(k, o.pid, o.tid)[o.state] += end - Math.max(o.since, start);
      this.counted.set(o.tid, { ...o });
      if (o.state === 'wait') this.worst(k, o.pid, o.tid, end - o.since, true);
    }
    const procs = this.open.get(k) ?? new Map<number | null, ProcTally>();
    this.open.delete(k);
    this.next = k + 1;
    const len = end - start;
    const rec: LiveRecord = { type: 'live', start_ts: start, end_ts: end, seconds: len / 1e9, processes: [...procs].map(([pid, p]) => this.figures(pid, p, len)) };
    if (end < this.bound(k + 1)) rec.partial = true;
    if (this.late > 0) {
      rec.late_ns = this.late;
      this.lateTotal += this.late;
      this.late = 0;
    }
    this.emit(rec);
  }

  private figures(pid: number | null, p: ProcTally, len: number): LiveProcess {
    let wait = 0;
    let hold = 0;
    let holder: LiveProcess['holder'] = null;
    const threads: LiveThread[] = [];
    for (const [tid, t] of p.threads) {
      wait += t.wait;
      hold += t.hold;
      const name = this.name(tid);
      if (t.hold > 0 && (holder === null || t.hold > holder.hold_ns)) holder = { tid, name, hold_ns: t.hold };
      threads.push({ tid, name, wait_ns: t.wait, hold_ns: t.hold });
    }
    threads.sort((x, y) => y.wait_ns - x.wait_ns || y.hold_ns - x.hold_ns || x.tid - y.tid);
    const w = p.worst;
    return {
      pid,
      comm: pid === null ? '' : this.name(pid),
      wait_per_s: len > 0 ? round(wait / len, 3) : 0,
      wait_ns: wait,
      hold_ns: hold,
      // One holder at a time: more hold than time means the input broke that (gil-state said so in a diagnostic).
      held_pct: len > 0 && hold <= len ? round((100 * hold) / len, 1) : null,
      holder,
      worst_wait: w ? { tid: w.tid, name: this.name(w.tid), dur: w.dur, ongoing: w.ongoing } : null,
      threads: threads.slice(0, this.opts.top),
      active_threads: threads.length,
    };
  }

  private tally(k: number, pid: number | null, tid: number): Tally {
    let procs = this.open.get(k);
    if (!procs) this.open.set(k, (procs = new Map()));
    let p = procs.get(pid);
    if (!p) procs.set(pid, (p = { threads: new Map(), worst: undefined }));
    let t = p.threads.get(tid);
    if (!t) p.threads.set(tid, (t = { wait: 0, hold: 0 }));
    return t;
  }

  private worst(k: number, pid: number | null, tid: number, dur: number, ongoing: boolean): void {
    this.tally(k, pid, tid);
    const p = this.open.get(k)!.get(pid)!;
    if (!p.worst || dur > p.worst.dur) p.worst = { tid, dur, ongoing };
  }

  private name(tid: number): string {
    return this.view.threadName(tid) ?? '';
  }

  private bound(k: number): number {
    return this.origin! + k * this.opts.everyNs;
  }

  private index(ts: number): number {
    return Math.max(this.next, Math.floor((ts - this.origin!) / this.opts.everyNs));
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * A `live` record as the lines of a terminal screen: per process its GIL
 * wait per second, held share, top holder and worst wait, then its top
 * threads. Names are escaped (they are the program's to choose).
 */
export function liveScreen(rec: LiveRecord, header: string): string[] {
  const lines = [header, `interval of ${fmtDur(rec.end_ts - rec.start_ts)} to ${fmtTs(rec.end_ts)}${rec.partial ? ' (cut short)' : ''}${rec.late_ns ? `; ${fmtDur(rec.late_ns)} of GIL time came too late to count` : ''}`, ''];
  if (rec.processes.length === 0) lines.push('no GIL events in this interval');
  for (const p of rec.processes) {
    const holder = p.holder ? `${who(p.holder.name, p.holder.tid)} ${fmtDur(p.holder.hold_ns)}` : '-';
    const worst = p.worst_wait ? `${who(p.worst_wait.name, p.worst_wait.tid)} ${fmtDur(p.worst_wait.dur)}${p.worst_wait.ongoing ? ', still waiting' : ''}` : '-';
    lines.push(`pid ${p.pid ?? '?'} ${forTerminal(p.comm)}: GIL wait ${p.wait_per_s.toFixed(2)} s/s, held ${p.held_pct === null ? '? (holds overlap)' : `${p.held_pct.toFixed(1)} %`}`);
    lines.push(`  top holder: ${holder}`);
    lines.push(`  worst wait: ${worst}`);
    lines.push(`  ${'tid'.padStart(8)}  ${'thread'.padEnd(16)}  ${'wait s/s'.padStart(8)}  ${'held %'.padStart(6)}`);
    const len = rec.seconds * 1e9;
    for (const t of p.threads) {
      lines.push(`  ${String(t.tid).padStart(8)}  ${forTerminal(t.name).padEnd(16)}  ${(t.wait_ns / len).toFixed(2).padStart(8)}  ${((100 * t.hold_ns) / len).toFixed(1).padStart(6)}`);
    }
    if (p.active_threads > p.threads.length) lines.push(`  and ${p.active_threads - p.threads.length} more threads`);
    lines.push('');
  }
  return lines;
}

function who(name: string, tid: number): string {
  return `${forTerminal(name) || '?'} (${tid})`;
}

