// gil-state's logic: perf-parse records in, per-thread GIL and scheduler
// spans out (docs/events.md). One GIL per process, so GIL bookkeeping is keyed
// by pid; everything else is per thread. Memory grows with threads, not events.
import type { Context, Emit, Filter } from '../lib/filter.js';
import { baseName } from '../lib/perf-grammar.js';
import type {
  AnyRecord,
  Comm,
  Diagnostic,
  DiagnosticCode,
  Exit,
  Fork,
  GilSource,
  GilSpan,
  Handoff,
  Lost,
  PerfRecord,
  Sample,
  SchedSpan,
} from './records.js';

export type { GilSource, DiagnosticCode };

export interface GilStateOptions {
  /** Probe names (after the group, return suffix removed) that mean take_gil. */
  takeGil: RegExp;
  dropGil: RegExp;
  /** libc fallback on stripped interpreters: pthread_cond_timedwait entry/return. */
  condWait: RegExp;
  /** Switch-out callchain symbols that mean "waiting for the GIL" when no probes exist. */
  stackWait: RegExp;
  /** Forward the samples gil-state used, too. */
  keepSamples: boolean;
}

export const DEFAULTS: GilStateOptions = {
  // take_gil, take_gil_1 (perf's alias for a second site), clone names
  // (take_gil.lto_priv.0 is probed as take_gil_lto_priv_0, .isra/.part/.constprop/.llvm likewise).
  takeGil: /^take_gil(?:_\d+|[._](?:lto_priv|isra|part|constprop|cold|llvm)\w*)?$/,
  dropGil: /^drop_gil(?:_\d+|[._](?:lto_priv|isra|part|constprop|cold|llvm)\w*)?$/,
  condWait: /^(?:pthread_cond_timedwait|pcond_timedwait|cond_timedwait|pthread_cond_clockwait)(?:_\d+)?$/,
  stackWait: /^(?:take_gil(?:[._].*)?|PyEval_RestoreThread|_PyEval_AcquireLock|_PyThreadState_Attach)$/,
  keepSamples: false,
};

const RETURN_SUFFIX = /_{1,2}return$/;

/** Consecutive pthread_cond_timedwait slices of one GIL wait are this close together. */
const COND_MERGE_GAP = 1_000_000;

type GilPhase = 'none' | 'wait' | 'hold' | 'handoff';
type SchedState = 'running' | 'runnable' | 'sleeping' | 'blocked' | 'other' | 'unknown';

interface Thread {
  tid: number;
  pid: number | null;
  pidKnown: boolean;
  comm: string;
  /** Has events of its own (not just named by another thread's switch or wakeup). */
  own: boolean;
  firstTs: number;
  lastTs: number;
  dead: boolean;
  /** When the thread was created (fork, wakeup_new), if that was recorded. */
  bornTs: number | undefined;
  /** When lost events made its state unknown. */
  resetTs: number | undefined;

  gil: GilPhase;
  gilSince: number;
  gilUnknownStart: boolean;

  sched: SchedState;
  schedSince: number;
  schedLetter: string | undefined;
  schedPartial: boolean;
  schedGil: boolean;

  /** Last time someone woke this thread, and who. */
  wokenBy: number | undefined;
  wokenTs: number;

  /** Stack-inferred GIL wait: start, and end of the last GIL sleep slice. */
  stackWaitStart: number | undefined;
  stackWaitEnd: number;

  /** cond_timedwait fallback: the wait being built from slices. */
  condStart: number | undefined;
  condEnd: number;
  condSite: string | undefined;
  condOpen: boolean;
}

interface Process {
  pid: number | null;
  holder: number | undefined;
  lastRelease: { tid: number; ts: number } | undefined;
  gil: boolean;
  threads: Set<number>;
}

export class GilState implements Filter<AnyRecord> {
  private readonly threads = new Map<number, Thread>();
  private readonly processes = new Map<number | null, Process>();
  /** tid -> pid learnt from fork records and sched_process_fork, before the thread shows up. */
  private readonly parentOf = new Map<number, number>();
  /** Scheduler samples without the fields gil-state needs, passed through. */
  unread = 0;
  private firstTs = Infinity;
  private lastTs = -Infinity;
  private source: GilSource = 'none';
  private lost = 0;
  private sawPid = false;
  private warnedNoPid = false;
  readonly counts = new Map<DiagnosticCode, number>();

  constructor(
    private readonly emit: Emit<AnyRecord>,
    _ctx: Context,
    private readonly opts: GilStateOptions = DEFAULTS,
  ) {}

  /** Feeds one record; emits spans as they close, and every record it does not consume. */
  write(rec: AnyRecord): void {
    switch (rec.type) {
      case 'sample':
        this.sample(rec);
        return;
      case 'comm':
      case 'fork':
      case 'exit':
        this.task(rec);
        return;
      case 'lost':
        this.lostEvents(rec);
        return;
      case 'perf_record':
        if (rec.name === 'SWITCH' && this.switchRecord(rec)) return;
        this.emit(rec);
        return;
      default:
        this.emit(rec);
    }
  }

  // ------------------------------------------------------------ dispatch

  private sample(rec: Sample): void {
    const ts = rec.ts;
    this.seen(ts);
    const name = baseName(rec.event);
    const tid = rec.tid;
    if (rec.pid !== undefined) this.sawPid = true;

    let used: boolean;
    let sched = true;
    const self = tid !== undefined && tid > 0 ? this.thread(tid, rec.pid, rec.comm) : undefined;
    if (self) this.ownEvent(self, ts);

    // A scheduler sample without the fields it needs (a payload perf cut with
    // a newline in a thread name is kept raw) is passed through, not eaten.
    if (name === 'sched_switch') used = this.schedSwitch(rec, ts, self);
    else if (name === 'sched_waking' || name === 'sched_wakeup' || name === 'sched_wakeup_new') used = this.wakeup(rec, name, ts, tid);
    else if (name === 'sched_process_fork') used = this.processFork(rec);
    else if (name === 'sched_process_exit') used = this.processExit(rec, ts);
    else if (name === 'sched_process_exec') used = this.processExec(rec, ts, self);
    else {
      sched = false;
      used = self !== undefined && this.probe(rec, name, ts, self);
    }
    if (!used && sched) this.unread++;

    if (!used || this.opts.keepSamples) this.emit(rec);
  }

  private seen(ts: number): void {
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts > this.lastTs) this.lastTs = ts;
  }

  // ------------------------------------------------------------ threads and processes

  private thread(tid: number, pid?: number, comm?: string): Thread {
    let t = this.threads.get(tid);
    if (t === undefined) {
      const inherited = this.parentOf.get(tid);
      t = {
        tid,
        pid: pid ?? inherited ?? null,
        pidKnown: pid !== undefined,
        comm: comm ?? '',
        own: false,
        firstTs: Infinity,
        lastTs: -Infinity,
        dead: false,
        bornTs: undefined,
        resetTs: undefined,
        gil: 'none',
        gilSince: 0,
        gilUnknownStart: true,
        sched: 'unknown',
        schedSince: 0,
        schedLetter: undefined,
        schedPartial: false,
        schedGil: false,
        wokenBy: undefined,
        wokenTs: -Infinity,
        stackWaitStart: undefined,
        stackWaitEnd: 0,
        condStart: undefined,
        condEnd: 0,
        condSite: undefined,
        condOpen: false,
      };
      this.threads.set(tid, t);
      this.processOf(t).threads.add(tid);
    } else {
      if (pid !== undefined && (!t.pidKnown || t.pid !== pid)) this.setPid(t, pid, true);
      if (comm !== undefined && comm !== '') t.comm = comm;
    }
    return t;
  }

  private setPid(t: Thread, pid: number, known: boolean): void {
    if (t.pid !== pid) {
      this.processes.get(t.pid)?.threads.delete(t.tid);
      t.pid = pid;
      this.processOf(t).threads.add(t.tid);
    }
    t.pidKnown = t.pidKnown || known;
  }

  private processOf(t: Thread): Process {
    // Without pid information a thread with no known parent is taken to lead
    // its own thread group; threads forked from it inherit its pid.
    const key = t.pid ?? (this.parentOf.has(t.tid) ? null : t.tid);
    if (t.pid === null && key !== null) t.pid = key;
    let p = this.processes.get(key);
    if (p === undefined) {
      p = { pid: key, holder: undefined, lastRelease: undefined, gil: false, threads: new Set() };
      this.processes.set(key, p);
    }
    return p;
  }

  private ownEvent(t: Thread, ts: number): void {
    if (!t.own) t.own = true;
    if (ts < t.firstTs) t.firstTs = ts;
    if (ts > t.lastTs) t.lastTs = ts;
    // An event of its own proves the thread is on a CPU right now: that ends
    // a sleep even when its wakeup and switch-in were not recorded (per-process
    // recordings miss events that happen in other processes' context).
    if (t.sched !== 'running' && !t.dead) this.setSched(t, 'running', ts, undefined, t.sched === 'unknown');
  }

  private task(rec: Comm | Fork | Exit): void {
    const { ts, pid, tid } = rec;
    if (ts > 0) this.seen(ts);
    this.sawPid = true;
    if (rec.type === 'fork') {
      this.parentOf.set(tid, pid);
      const t = this.threads.get(tid);
      if (t) this.setPid(t, pid, true);
    } else if (rec.type === 'comm') {
      const t = this.thread(tid, pid, rec.comm);
      if (ts > 0) this.ownEvent(t, ts);
    } else if (rec.type === 'exit') {
      const t = this.threads.get(tid);
      if (t) this.exitThread(t, ts);
    }
    if (this.opts.keepSamples) this.emit(rec);
  }

  private processFork(rec: Sample): boolean {
    const f = rec.fields;
    if (!f || typeof f.child_pid !== 'number' || typeof f.pid !== 'number') return false;
    // sched_process_fork does not say thread or process; a child that later
    // execs becomes its own process (see processExec). pid/tid records win.
    if (!this.parentOf.has(f.child_pid)) {
      const parent = this.threads.get(f.pid);
      this.parentOf.set(f.child_pid, parent?.pid ?? f.pid);
    }
    const child = this.threads.get(f.child_pid);
    if (child && !child.pidKnown) this.setPid(child, this.parentOf.get(f.child_pid)!, false);
    const c = this.thread(f.child_pid, undefined, str(f.child_comm));
    c.bornTs ??= rec.ts;
    return true;
  }

  private processExec(rec: Sample, ts: number, self: Thread | undefined): boolean {
    const f = rec.fields;
    const tid = f && typeof f.pid === 'number' ? f.pid : self?.tid;
    if (tid === undefined) return false;
    const t = this.threads.get(tid);
    if (t && !t.pidKnown && t.pid !== tid) {
      // exec makes a new process image: the thread leads its own group now.
      this.closeGil(t, ts, {});
      this.setPid(t, tid, false);
    }
    return true;
  }

  private processExit(rec: Sample, ts: number): boolean {
    const f = rec.fields;
    const tid = f && typeof f.pid === 'number' ? f.pid : undefined;
    if (tid === undefined) return false;
    const t = this.threads.get(tid);
    if (t) this.exitThread(t, ts);
    return true;
  }

  private exitThread(t: Thread, ts: number): void {
    if (t.dead) return;
    this.flushCond(t);
    this.closeStackWait(t, ts);
    this.closeGil(t, ts, {});
    this.closeSched(t, ts, {});
    t.sched = 'unknown';
    t.dead = true;
    if (ts > t.lastTs) t.lastTs = ts;
  }

  // ------------------------------------------------------------ scheduler

  /**
   * `perf record --switch-events`: PERF_RECORD_SWITCH IN marks the moment a
   * monitored thread gets a CPU, which sched_switch cannot show in a
   * per-process recording when the task switched out belongs to another
   * process. OUT is left to sched_switch, which knows the state.
   */
  private switchRecord(rec: PerfRecord): boolean {
    const { ts, tid } = rec;
    if (tid === undefined || tid <= 0) return false;
    this.seen(ts);
    if (rec.pid !== undefined) this.sawPid = true;
    const t = this.thread(tid, rec.pid);
    if (rec.body.startsWith('IN')) this.ownEvent(t, ts);
    if (this.opts.keepSamples) this.emit(rec);
    return true;
  }

  private schedSwitch(rec: Sample, ts: number, self: Thread | undefined): boolean {
    const f = rec.fields;
    if (!f || typeof f.prev_pid !== 'number' || typeof f.next_pid !== 'number') return false;
    const prevPid = f.prev_pid;
    const nextPid = f.next_pid;
    if (typeof prevPid === 'number' && prevPid > 0) {
      const prev = prevPid === self?.tid ? self : this.thread(prevPid, undefined, str(f.prev_comm));
      const letter = String(f.prev_state ?? '');
      const state = stateOf(letter);
      if (state === 'dead') {
        this.exitThread(prev, ts);
      } else {
        // Off CPU while waiting for the GIL: a GIL sleep.
        const gilStack = this.stackSaysGil(rec);
        const inGilWait = prev.gil === 'wait' || prev.condOpen || gilStack;
        if (gilStack) {
          if (this.source === 'none') this.source = 'stack';
          this.processOf(prev).gil = true;
        }
        if (gilStack && (state === 'sleeping' || state === 'blocked')) {
          if (prev.stackWaitStart === undefined) prev.stackWaitStart = ts;
        } else if (prev.stackWaitStart !== undefined && rec.callchain !== undefined) {
          // Switched out somewhere else: the stack-inferred wait ended when the last GIL sleep did.
          this.closeStackWait(prev, prev.stackWaitEnd);
        }
        this.setSched(prev, state, ts, letter, false, inGilWait && (state === 'sleeping' || state === 'blocked'));
      }
    }
    if (typeof nextPid === 'number' && nextPid > 0) {
      const next = this.thread(nextPid, undefined, str(f.next_comm));
      if (!next.dead || next.sched === 'unknown') {
        next.dead = false;
        this.setSched(next, 'running', ts, undefined, false);
      }
    }
    return true;
  }

  private stackSaysGil(rec: Sample): boolean {
    const chain = rec.callchain;
    if (chain === undefined) return false;
    for (const fr of chain) if (fr.sym && this.opts.stackWait.test(fr.sym)) return true;
    return false;
  }

  private wakeup(rec: Sample, name: string, ts: number, waker: number | undefined): boolean {
    const f = rec.fields;
    if (!f || typeof f.pid !== 'number') return false;
    if (f.pid <= 0) return true;
    const t = this.thread(f.pid, undefined, str(f.comm));
    if (name === 'sched_wakeup_new') t.bornTs ??= ts;
    if (waker !== undefined && waker !== t.tid) {
      t.wokenBy = waker;
      t.wokenTs = ts;
    }
    if (t.sched === 'sleeping' || t.sched === 'blocked' || t.sched === 'other' || t.sched === 'unknown') {
      this.setSched(t, 'runnable', ts, undefined, t.sched === 'unknown');
    }
    return true;
  }

  /** Ends the current scheduler span at ts and starts `state`. */
  private setSched(t: Thread, state: SchedState, ts: number, letter: string | undefined, partial: boolean, gil = false): void {
    if (t.sched !== 'unknown') this.closeSched(t, ts, {});
    t.sched = state;
    t.schedSince = ts;
    t.schedLetter = letter;
    t.schedPartial = partial;
    t.schedGil = gil;
  }

  private closeSched(t: Thread, ts: number, flags: SpanFlags): void {
    if (t.sched === 'unknown') return;
    if ((t.sched === 'sleeping' || t.sched === 'blocked') && t.schedGil) t.stackWaitEnd = ts;
    const dur = ts - t.schedSince;
    if (dur > 0 && t.own) {
      const span: SchedSpan = {
        type: 'span',
        pid: t.pid,
        tid: t.tid,
        family: 'sched',
        state: t.sched,
        ts: t.schedSince,
        dur,
      };
      if (t.schedLetter !== undefined) span.letter = t.schedLetter;
      if (t.schedGil) span.gil = true;
      addFlags(span, t.schedPartial, flags);
      this.emit(span);
    }
    t.sched = 'unknown';
  }

  // ------------------------------------------------------------ GIL

  /** Returns true when the sample is a GIL probe (or the libc fallback) and was handled. */
  private probe(rec: Sample, name: string, ts: number, t: Thread): boolean {
    const probe = rec.probe;
    const isReturn = probe?.ret !== undefined || RETURN_SUFFIX.test(name);
    const base = name.replace(RETURN_SUFFIX, '');
    if (this.opts.takeGil.test(base)) {
      this.gilSeen(t, 'take_gil');
      if (isReturn) this.takeReturn(t, ts);
      else this.takeEntry(t, ts);
      return true;
    }
    if (this.opts.dropGil.test(base)) {
      this.gilSeen(t, 'take_gil');
      if (isReturn) this.dropReturn(t, ts);
      else this.dropEntry(t, ts);
      return true;
    }
    if (this.opts.condWait.test(base)) {
      this.gilSeen(t, 'cond_timedwait');
      if (isReturn) this.condReturn(t, ts, probe?.ret);
      else this.condEntry(t, ts);
      return true;
    }
    return false;
  }

  private gilSeen(t: Thread, source: GilSource): void {
    if (this.source === 'none' || this.source === 'stack' || (this.source === 'cond_timedwait' && source === 'take_gil')) {
      this.source = source;
    }
    this.processOf(t).gil = true;
    if (!this.sawPid && !this.warnedNoPid) {
      this.warnedNoPid = true;
      this.diagnostic('no_pid', this.firstTs, t, 'no pid in the input: threads are grouped into processes from fork records (record pid with perf script -F +pid, or use perf-parse -i)');
    }
  }

  private takeEntry(t: Thread, ts: number): void {
    switch (t.gil) {
      case 'wait':
        // A second probe on the same entry (an inlined copy: take_gil and take_gil_1).
        this.count('repeated_event');
        return;
      case 'hold':
      case 'handoff':
        this.diagnostic('impossible_sequence', ts, t, `take_gil entered while in ${t.gil}`);
        this.closeGil(t, ts, { unknown: true });
        break;
      default:
    }
    this.openGil(t, 'wait', ts);
  }

  private takeReturn(t: Thread, ts: number): void {
    const proc = this.processOf(t);
    if (t.gil === 'hold') {
      this.count('repeated_event');
      return;
    }
    if (t.gil === 'wait') {
      this.closeGil(t, ts, {});
    } else {
      // The recording began inside take_gil, or its entry was lost: the wait
      // started no later than the thread's first known boundary.
      this.diagnostic('return_without_entry', ts, t, `take_gil returned without an entry${t.gil === 'none' ? '' : ` (was ${t.gil})`}`);
      if (t.gil === 'handoff') this.closeGil(t, ts, { unknown: true });
      const from = this.boundary(t, ts);
      if (from < ts) this.spanGil(t, 'wait', from, ts, { partial: true }, 'take_gil');
    }
    // At most one holder per process: a second one means the first's release was lost.
    if (proc.holder !== undefined && proc.holder !== t.tid) {
      const other = this.threads.get(proc.holder);
      if (other && other.gil === 'hold') {
        this.diagnostic('two_holders', ts, other, `thread ${t.tid} took the GIL while ${other.tid} still held it: a release was not recorded`);
        this.closeGil(other, ts, { unknown: true });
        other.gilUnknownStart = true;
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
      if (rel !== undefined) {
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
    const proc = this.processOf(t);
    if (t.gil === 'handoff') {
      this.count('repeated_event');
      return;
    }
    if (t.gil === 'hold') {
      this.closeGil(t, ts, {});
    } else if (t.gil === 'wait') {
      // take_gil drops again when the thread must exit during finalisation.
      this.closeGil(t, ts, { unknown: true });
    } else {
      this.diagnostic('return_without_entry', ts, t, 'drop_gil without a recorded take_gil');
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
      this.diagnostic('impossible_sequence', ts, t, 'drop_gil returned without its entry');
      this.closeGil(t, ts, { unknown: true });
      const proc = this.processOf(t);
      if (proc.holder === t.tid) proc.holder = undefined;
      proc.lastRelease = { tid: t.tid, ts };
    } else if (t.gil === 'wait') {
      this.diagnostic('impossible_sequence', ts, t, 'drop_gil returned while waiting');
      this.closeGil(t, ts, { unknown: true });
    } else {
      this.diagnostic('return_without_entry', ts, t, 'drop_gil returned without an entry');
      const from = this.boundary(t, ts);
      if (from < ts) this.spanGil(t, 'handoff', from, ts, { partial: true });
    }
    t.gil = 'none';
    t.gilUnknownStart = false;
  }

  private condEntry(t: Thread, ts: number): void {
    if (t.condOpen) {
      this.count('repeated_event');
      return;
    }
    if (t.condStart !== undefined && ts - t.condEnd > COND_MERGE_GAP) this.flushCond(t);
    if (t.condStart === undefined) t.condStart = ts;
    t.condOpen = true;
  }

  private condReturn(t: Thread, ts: number, site: string | undefined): void {
    if (!t.condOpen) {
      this.diagnostic('return_without_entry', ts, t, 'pthread_cond_timedwait returned without an entry');
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

  private flushCond(t: Thread, truncated = false): void {
    if (t.condStart === undefined) return;
    const end = t.condOpen ? this.lastTs : t.condEnd;
    this.spanGil(t, 'wait', t.condStart, end, truncated && t.condOpen ? { truncated: true } : {}, 'cond_timedwait', t.condSite);
    t.condStart = undefined;
    t.condOpen = false;
    t.condSite = undefined;
  }

  private closeStackWait(t: Thread, end: number): void {
    if (t.stackWaitStart === undefined) return;
    if (end > t.stackWaitStart) this.spanGil(t, 'wait', t.stackWaitStart, end, {}, 'stack');
    t.stackWaitStart = undefined;
  }

  /** Where a span whose start was not recorded begins: the last thing known about the thread. */
  private boundary(t: Thread, ts: number): number {
    // Unknown start: since the loss, since the thread was born, or since the recording began.
    const b = t.gilUnknownStart ? (t.resetTs ?? t.bornTs ?? this.firstTs) : t.gilSince;
    return Number.isFinite(b) && b <= ts ? b : ts;
  }

  private openGil(t: Thread, phase: GilPhase, ts: number): void {
    t.gil = phase;
    t.gilSince = ts;
    t.gilUnknownStart = false;
  }

  private closeGil(t: Thread, ts: number, flags: SpanFlags): void {
    if (t.gil === 'none') return;
    const phase = t.gil;
    t.gil = 'none';
    if (phase === 'hold') {
      const proc = this.processOf(t);
      if (proc.holder === t.tid && (flags.unknown || flags.truncated)) proc.holder = undefined;
    }
    this.spanGil(t, phase, t.gilSince, ts, flags, phase === 'wait' ? 'take_gil' : undefined);
  }

  private spanGil(
    t: Thread,
    state: Exclude<GilPhase, 'none'>,
    start: number,
    end: number,
    flags: SpanFlags,
    via?: GilSpan['via'],
    site?: string,
  ): void {
    const dur = end - start;
    if (dur < 0) return;
    const span: GilSpan = { type: 'span', pid: t.pid, tid: t.tid, family: 'gil', state, ts: start, dur };
    if (via !== undefined) span.via = via;
    if (site !== undefined) span.site = site;
    addFlags(span, false, flags);
    this.emit(span);
  }

  // ------------------------------------------------------------ loss and anomalies

  private lostEvents(rec: Lost): void {
    const ts = rec.ts;
    this.lost += rec.lost;
    this.emit(rec);
    this.seen(ts);
    // We do not know whose events were lost: every open span's end is now unknown.
    this.diagnostic('lost_events', ts, undefined, `perf lost ${rec.lost} events here: open spans are closed as unknown`);
    for (const t of this.threads.values()) {
      if (t.dead) continue;
      this.closeGil(t, ts, { unknown: true });
      t.gilUnknownStart = true;
      t.resetTs = ts;
      this.closeSched(t, ts, { unknown: true });
      t.condStart = undefined;
      t.condOpen = false;
      t.stackWaitStart = undefined;
    }
    for (const p of this.processes.values()) {
      p.holder = undefined;
      p.lastRelease = undefined;
    }
  }

  private count(code: DiagnosticCode): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
  }

  private diagnostic(code: DiagnosticCode, ts: number, t: Thread | undefined, message: string): void {
    this.count(code);
    const d: Diagnostic = t
      ? { type: 'diagnostic', code, ts: Number.isFinite(ts) ? ts : 0, pid: t.pid, tid: t.tid, message }
      : { type: 'diagnostic', code, ts: Number.isFinite(ts) ? ts : 0, message };
    this.emit(d);
  }

  // ------------------------------------------------------------ end of input

  end(): void {
    const last = Number.isFinite(this.lastTs) ? this.lastTs : 0;
    for (const t of this.threads.values()) {
      if (t.dead) continue;
      this.flushCond(t, true);
      if (t.stackWaitStart !== undefined) this.closeStackWait(t, Math.max(t.stackWaitEnd, t.stackWaitStart));
      this.closeGil(t, last, { truncated: true });
      this.closeSched(t, last, { truncated: true });
    }
    const procComm = new Map<number | null, string>();
    for (const t of this.threads.values()) {
      if (!t.own) continue;
      this.emit({
        type: 'thread',
        pid: t.pid,
        tid: t.tid,
        comm: t.comm,
        main: t.pid === t.tid,
        first_ts: Number.isFinite(t.firstTs) ? t.firstTs : null,
        last_ts: Number.isFinite(t.lastTs) ? t.lastTs : null,
      });
      if (t.pid === t.tid || !procComm.has(t.pid)) procComm.set(t.pid, t.comm);
    }
    for (const p of this.processes.values()) {
      const own = [...p.threads].filter((tid) => this.threads.get(tid)?.own);
      if (own.length === 0) continue;
      this.emit({ type: 'process', pid: p.pid, comm: procComm.get(p.pid) ?? '', threads: own.length, gil: p.gil });
    }
    let anomalies = 0;
    for (const [code, n] of this.counts) if (code !== 'repeated_event' && code !== 'no_pid') anomalies += n;
    this.emit({
      type: 'capture',
      first_ts: Number.isFinite(this.firstTs) ? this.firstTs : null,
      last_ts: Number.isFinite(this.lastTs) ? this.lastTs : null,
      gil_source: this.source,
      lost: this.lost,
      anomalies,
    });
  }

  get gilSource(): GilSource {
    return this.source;
  }
}

interface SpanFlags {
  partial?: boolean;
  truncated?: boolean;
  unknown?: boolean;
}

function addFlags(span: GilSpan | SchedSpan, partial: boolean, flags: SpanFlags): void {
  if (partial || flags.partial) span.partial = true;
  if (flags.truncated) span.truncated = true;
  if (flags.unknown) span.unknown = true;
}

/** prev_state letters: R/R+ preempted, S sleeping, D uninterruptible (I/O), X/Z gone, the rest as they are. */
function stateOf(letter: string): SchedState | 'dead' {
  const c = letter.charAt(0);
  if (c === 'R') return 'runnable';
  if (c === 'S') return 'sleeping';
  if (c === 'D') return 'blocked';
  if (c === 'X' || c === 'Z') return 'dead';
  return 'other';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
