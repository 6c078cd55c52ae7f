// gil-state's GIL machine, per thread: wait (take_gil entry to return),
// hold (take_gil return to drop_gil entry), handoff (drop_gil entry to
// return); and the fallbacks when there are no probes: waits from libc's
// pthread_cond_timedwait, or from take_gil in switch-out stacks.
import type { Emit } from '../../lib/filter.js';
import type { AnyRecord, GilSource, GilSpan, Handoff, Sample } from '../records.js';
import type { GilStateOptions } from '../gil-state.js';
import { stackOf } from '../frames.js';
import { HoldStacks } from './stacks.js';
import { type Diagnostics, type GilPhase, type Registry, type SchedPhase, type SpanFlags, type Thread, addFlags, covers } from './threads.js';

/** How many names of probes that are not the GIL's are kept, to be named. */
const OTHER_PROBES_KEPT = 20;

const RETURN_SUFFIX = /_{1,2}return$/;

/** A probe event's name, classified: which GIL function, and whether the name says it is the return probe. */
interface ProbeKind {
  kind: 'take' | 'drop' | 'cond' | 'other';
  returnName: boolean;
}

/** Consecutive pthread_cond_timedwait slices of one GIL wait are this close together. */
const COND_MERGE_GAP = 1_000_000;

export class GilMachine {
  /** Where the GIL spans come from; the best source seen wins. */
  source: GilSource = 'none';
  private warnedNoPid = false;
  /** Probe events that matched no GIL pattern (the first OTHER_PROBES_KEPT names). */
  readonly otherProbes = new Set<string>();
  /** Whether there were more such names than were kept. */
  otherProbesCut = false;

  constructor(
    private readonly reg: Registry,
    private readonly diag: Diagnostics,
    private readonly emit: Emit<AnyRecord>,
    private readonly opts: GilStateOptions,
  ) {}

  /** Returns true when the sample is a GIL probe (or the libc fallback) and was handled. */
  probe(rec: Sample, name: string, ts: number, t: Thread): boolean {
    const probe = rec.probe;
    const { kind, returnName } = this.kindOf(name);
    const isReturn = returnName || probe?.ret !== undefined;
    if (kind === 'take') {
      this.gilSeen(t, 'take_gil');
      if (isReturn) this.takeReturn(t, ts);
      else this.takeEntry(t, ts);
      if (t.gil === 'wait' || t.gil === 'hold') this.began(t, rec);
      return true;
    }
    if (kind === 'drop') {
      this.gilSeen(t, 'take_gil');
      if (isReturn) this.dropReturn(t, ts);
      else this.dropEntry(t, ts);
      return true;
    }
    if (kind === 'cond') {
      this.gilSeen(t, 'cond_timedwait');
      if (isReturn) this.condReturn(t, ts, probe?.ret);
      else this.condEntry(t, ts);
      return true;
    }
    // A uprobe that is none of ours: remembered, so a capture with no GIL
    // events can say which probes it had.
    if (probe !== undefined) {
      if (this.otherProbes.size < OTHER_PROBES_KEPT) this.otherProbes.add(rec.event);
      else if (!this.otherProbesCut && !this.otherProbes.has(rec.event)) this.otherProbesCut = true;
    }
    return false;
  }

  /** Which probe a name is, by the patterns; kept per name (a recording has a handful, each hit millions of times). */
  private kindOf(name: string): ProbeKind {
    let k = this.kinds.get(name);
    if (k === undefined) {
      const returnName = RETURN_SUFFIX.test(name);
      const base = name.replace(RETURN_SUFFIX, '');
      const o = this.opts;
      const kind = o.takeGil.test(base) ? 'take' : o.dropGil.test(base) ? 'drop' : o.condWait.test(base) ? 'cond' : 'other';
      k = { kind, returnName };
      if (this.kinds.size < 1000) this.kinds.set(name, k);
    }
    return k;
  }

  private readonly kinds = new Map<string, ProbeKind>();

  /**
   * A thread switched out: off CPU while waiting for the GIL is a GIL sleep.
   * Without probes, take_gil in the switch-out stack is the wait itself.
   * Returns whether the thread is in a GIL wait.
   */
  switchedOut(prev: Thread, rec: Sample, state: SchedPhase, ts: number): boolean {
    // Where probes fire, a wait is theirs: a stack would count it twice.
    const gilStack = !this.reg.processOf(prev).probed && this.stackSaysGil(rec);
    const inGilWait = prev.gil === 'wait' || prev.condOpen || gilStack;
    if (gilStack) {
      if (this.source === 'none') this.source = 'stack';
      this.reg.processOf(prev).gil = true;
    }
    if (gilStack && (state === 'sleeping' || state === 'blocked')) {
      if (prev.stackWaitStart === undefined) prev.stackWaitStart = ts;
    } else if (prev.stackWaitStart !== undefined && rec.callchain !== undefined) {
      // Switched out somewhere else: the stack-inferred wait ended when the last GIL sleep did.
      this.closeStackWait(prev, prev.stackWaitEnd);
    }
    return inGilWait;
  }

  /** The GIL span just opened began with this event's stack. */
  private began(t: Thread, rec: Sample): void {
    if (t.gilSince !== rec.ts) return;
    t.gilStack = stackOf(rec.callchain);
    if (t.gil === 'hold' && rec.callchain !== undefined) t.holdStacks = new HoldStacks();
  }

  /** An event of `t` other than its GIL probes: during a hold, a look at what it is doing. */
  ownStack(t: Thread, rec: Sample): void {
    if (t.gil === 'hold' && t.holdStacks !== undefined && rec.callchain !== undefined) t.holdStacks.add(rec.callchain);
  }

  private stackSaysGil(rec: Sample): boolean {
    const chain = rec.callchain;
    if (chain === undefined) return false;
    for (const fr of chain) if (fr.sym && this.opts.stackWait.test(fr.sym)) return true;
    return false;
  }

  private gilSeen(t: Thread, source: GilSource): void {
    if (this.source === 'none' || this.source === 'stack' || (this.source === 'cond_timedwait' && source === 'take_gil')) {
      this.source = source;
    }
    const proc = this.reg.processOf(t);
    proc.gil = true;
    proc.probed = true;
    if (!this.reg.sawPid && !this.warnedNoPid) {
      this.warnedNoPid = true;
      this.diag.diagnostic('no_pid', this.reg.firstTs, t, 'no pid in the input: threads are grouped into processes from fork records (record pid with perf script -F +pid, or use perf-parse -i)');
    }
  }

  private takeEntry(t: Thread, ts: number): void {
    switch (t.gil) {
      case 'wait':
        // A second probe on the same entry (an inlined copy: take_gil and take_gil_1).
        this.diag.count('repeated_event');
        return;
      case 'hold':
      case 'handoff':
        this.diag.diagnostic('impossible_sequence', ts, t, `take_gil entered while in ${t.gil}`);
        this.closeGil(t, ts, { unknown: true });
        break;
      default:
    }
    this.openGil(t, 'wait', ts);
  }

  private takeReturn(t: Thread, ts: number): void {
    const proc = this.reg.processOf(t);
    if (t.gil === 'hold') {
      this.diag.count('repeated_event');
      return;
    }
    if (t.gil === 'wait') {
      this.closeGil(t, ts, {});
    } else {
      // The recording began inside take_gil, or its entry was lost: the wait
      // started no later than the thread's first known boundary.
      this.diag.diagnostic('return_without_entry', ts, t, `take_gil returned without an entry${t.gil === 'none' ? '' : ` (was ${t.gil})`}`);
      if (t.gil === 'handoff') this.closeGil(t, ts, { unknown: true });
      const from = this.boundary(t, ts);
      if (from < ts) this.spanGil(t, 'wait', from, ts, { partial: true }, 'take_gil');
    }
    // At most one holder per process. With pids recorded, a second one means
    // the first's release was lost: its hold ends here, unknown. Without, the
    // two may be threads of two processes grouped as one by a guess: each
    // thread's own spans stand, and the process's figures cannot.
    if (proc.holder !== undefined && proc.holder !== t.tid) {
      const other = this.reg.threads.get(proc.holder);
      if (other && other.gil === 'hold') {
        proc.twoHolders++;
        if (t.pidKnown && other.pidKnown) {
          this.diag.diagnostic('two_holders', ts, other, `thread ${t.tid} took the GIL while ${other.tid} still held it: a release was not recorded`);
          this.closeGil(other, ts, { unknown: true });
          other.gilUnknownStart = true;
          other.gilStartLost = true;
        } else {
          this.diag.diagnostic(
            'two_holders',
            ts,
            other,
            `thread ${t.tid} took the GIL while ${other.tid} held it: without pids in the input they were grouped as one process, which they cannot be`,
          );
        }
      }
    }
    const rel = proc.lastRelease;
    const from = rel?.tid;
    if (from !== t.tid) {
      const h: Handoff = {
        type: 'handoff',
        pid: proc.pid,
        ts,
        from_tid: from ?? null,
        to_tid: t.tid,
      };
      // A release read before but stamped after this take (events out of time order) gives no gap: none of its own, and no arrow back in time.
      if (rel !== undefined && rel.ts <= ts) {
        h.released_ts = rel.ts;
        h.gap = ts - rel.ts;
      }
      if (t.wokenBy !== undefined && (rel === undefined || t.wokenTs >= rel.ts) && t.wokenTs <= ts) {
        h.waker_tid = t.wokenBy;
        h.woken_ts = t.wokenTs;
      }
      this.emit(h);
    }
    proc.holder = t.tid;
    this.openGil(t, 'hold', ts);
  }

  private dropEntry(t: Thread, ts: number): void {
    const proc = this.reg.processOf(t);
    if (t.gil === 'handoff') {
      this.diag.count('repeated_event');
      return;
    }
    if (t.gil === 'hold') {
      this.closeGil(t, ts, {});
    } else if (t.gil === 'wait') {
      // take_gil drops again when the thread must exit during finalisation.
      this.closeGil(t, ts, { unknown: true });
    } else {
      this.diag.diagnostic('return_without_entry', ts, t, 'drop_gil without a recorded take_gil');
      const from = this.boundary(t, ts);
      if (from < ts) this.spanGil(t, 'hold', from, ts, { partial: true });
    }
    if (proc.holder === t.tid) proc.holder = undefined;
    proc.lastRelease = { tid: t.tid, ts };
    this.openGil(t, 'handoff', ts);
  }

  private dropReturn(t: Thread, ts: number): void {
    if (t.gil === 'handoff') {
      this.closeGil(t, ts, {});
    } else if (t.gil === 'hold') {
      this.diag.diagnostic('impossible_sequence', ts, t, 'drop_gil returned without its entry');
      this.closeGil(t, ts, { unknown: true });
      const proc = this.reg.processOf(t);
      if (proc.holder === t.tid) proc.holder = undefined;
      proc.lastRelease = { tid: t.tid, ts };
    } else if (t.gil === 'wait') {
      this.diag.diagnostic('impossible_sequence', ts, t, 'drop_gil returned while waiting');
      this.closeGil(t, ts, { unknown: true });
    } else {
      this.diag.diagnostic('return_without_entry', ts, t, 'drop_gil returned without an entry');
      const from = this.boundary(t, ts);
      if (from < ts) this.spanGil(t, 'handoff', from, ts, { partial: true });
    }
    // In no GIL state from here: the boundary a later partial span starts at (not the time 0 of a thread that never opened one).
    t.gil = 'none';
    t.gilSince = ts;
    t.gilUnknownStart = false;
  }

  private condEntry(t: Thread, ts: number): void {
    if (t.condOpen) {
      this.diag.count('repeated_event');
      return;
    }
    if (t.condStart !== undefined && ts - t.condEnd > COND_MERGE_GAP) this.flushCond(t);
    if (t.condStart === undefined) t.condStart = ts;
    t.condOpen = true;
  }

  private condReturn(t: Thread, ts: number, site: string | undefined): void {
    if (!t.condOpen) {
      this.diag.diagnostic('return_without_entry', ts, t, 'pthread_cond_timedwait returned without an entry');
      t.gilUnknownStart = false;
      return;
    }
    if (t.condSite !== undefined && site !== undefined && site !== t.condSite) {
      // A different call site: not the same wait. Close the old one where it ended.
      const start = t.condStart!;
      t.condStart = undefined;
      this.spanGil(t, 'wait', start, t.condEnd, {}, 'cond_timedwait', t.condSite);
      t.condStart = start > t.condEnd ? start : t.condEnd;
    }
    t.condOpen = false;
    t.condEnd = ts;
    t.condSite = site ?? t.condSite;
    t.gilUnknownStart = false;
  }

  flushCond(t: Thread, truncated = false): void {
    if (t.condStart === undefined) return;
    const end = t.condOpen ? this.reg.lastTs : t.condEnd;
    this.spanGil(t, 'wait', t.condStart, end, truncated && t.condOpen ? { truncated: true } : {}, 'cond_timedwait', t.condSite);
    t.condStart = undefined;
    t.condOpen = false;
    t.condSite = undefined;
  }

  closeStackWait(t: Thread, end: number): void {
    if (t.stackWaitStart === undefined) return;
    if (end > t.stackWaitStart) this.spanGil(t, 'wait', t.stackWaitStart, end, {}, 'stack');
    t.stackWaitStart = undefined;
  }

  /** Where a span whose start was not recorded begins: the last thing known about the thread. */
  private boundary(t: Thread, ts: number): number {
    // Its hold was cut short by another thread's take: when it took the GIL again is not known.
    if (t.gilStartLost) return ts;
    // Unknown start: since the loss, since the thread was born, or since the recording began.
    const b = t.gilUnknownStart ? (t.resetTs ?? t.bornTs ?? this.reg.firstTs) : t.gilSince;
    return Number.isFinite(b) && b <= ts ? b : ts;
  }

  private openGil(t: Thread, phase: GilPhase, ts: number): void {
    t.gil = phase;
    t.gilSince = ts;
    t.gilStack = undefined;
    t.holdStacks = undefined;
    t.gilUnknownStart = false;
    t.gilStartLost = false;
  }

  closeGil(t: Thread, ts: number, flags: SpanFlags): void {
    if (t.gil === 'none') return;
    const phase = t.gil;
    t.gil = 'none';
    if (phase === 'hold') {
      const proc = this.reg.processOf(t);
      if (proc.holder === t.tid && (flags.unknown || flags.truncated)) proc.holder = undefined;
    }
    const extra: Pick<GilSpan, 'stack' | 'sampled_stack' | 'samples'> = {};
    if (t.gilStack !== undefined) extra.stack = t.gilStack;
    const sampled = t.holdStacks?.top();
    if (sampled !== undefined) {
      extra.sampled_stack = sampled;
      extra.samples = t.holdStacks!.samples;
    }
    t.gilStack = undefined;
    t.holdStacks = undefined;
    this.spanGil(t, phase, t.gilSince, ts, flags, phase === 'wait' ? 'take_gil' : undefined, undefined, extra);
  }

  private spanGil(
    t: Thread,
    state: Exclude<GilPhase, 'none'>,
    start: number,
    end: number,
    flags: SpanFlags,
    via?: GilSpan['via'],
    site?: string,
    extra?: Pick<GilSpan, 'stack' | 'sampled_stack' | 'samples'>,
  ): void {
    // A thread is in one GIL state at a time: a span whose start was inferred
    // never reaches back over the span before it. Nor does an inferred hold
    // reach back over another thread's hold: one holder per process.
    if (end < start) {
      // The event that ends it came before the one that began it: events out
      // of time order (files concatenated, a clock stepped). No length is
      // known, so no span; said, not dropped.
      this.diag.diagnostic('time_backwards', end, t, `a GIL ${state} of thread ${t.tid} would end ${start - end} ns before it began (events out of time order): not written`);
      return;
    }
    const proc = this.reg.processOf(t);
    const floor = state === 'hold' && flags.partial ? Math.max(t.gilEnd, proc.holdEnd) : t.gilEnd;
    if (state === 'hold' && flags.partial && proc.holder !== undefined && proc.holder !== t.tid) {
      // Another thread holds it now, since its take: an inferred hold ended before that.
      const h = this.reg.threads.get(proc.holder);
      if (h !== undefined && h.gil === 'hold' && h.pidKnown && t.pidKnown && end > h.gilSince) end = h.gilSince;
    }
    if (start < floor) {
      if (end <= floor) return;
      start = floor;
      flags = { ...flags, partial: true };
    }
    if (state === 'hold' && start < proc.holdEnd && flags.partial !== true && t.pidKnown) {
      // Its take came before another thread of its process let go of the GIL,
      // though that release was read first: events out of time order across
      // threads (captures interleaved, a clock stepped). One holder at a time:
      // it is written from that release on, marked unknown, or not at all.
      const cut = proc.holdEnd;
      this.diag.diagnostic(
        'time_backwards',
        start,
        t,
        `a GIL hold of thread ${t.tid} would begin ${cut - start} ns before another thread of its process let go of the GIL (events out of time order across threads): ${end > cut ? 'written from that release, as unknown' : 'not written'}`,
      );
      if (end <= cut) return;
      start = cut;
      flags = { ...flags, unknown: true };
    }
    if (state === 'hold' && end > proc.holdEnd) proc.holdEnd = end;
    const dur = end - start;
    if (dur < 0) return;
    t.gilEnd = end;
    covers(t, start, end);
    const span: GilSpan = { type: 'span', pid: t.pid, tid: t.tid, family: 'gil', state, ts: start, dur };
    if (via !== undefined) span.via = via;
    if (site !== undefined) span.site = site;
    addFlags(span, false, flags);
    // A stack is where the span began: a span cut at its start began elsewhere.
    if (extra !== undefined && span.partial !== true) Object.assign(span, extra);
    this.emit(span);
  }
}
