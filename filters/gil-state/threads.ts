// gil-state's thread registry: what is known of each thread and process,
// and how threads are grouped into processes (one GIL per process).
import type { Emit } from '../../lib/filter.js';
import type { AnyRecord, Diagnostic, DiagnosticCode, GilSpan, SchedSpan } from '../records.js';
import type { HoldStacks } from './stacks.js';

export type GilPhase = 'none' | 'wait' | 'hold' | 'handoff';
/** A thread's scheduler state; `unknown` until an event says, and after lost events. */
export type SchedPhase = 'running' | 'runnable' | 'sleeping' | 'blocked' | 'other' | 'unknown';

export interface Thread {
  tid: number;
  pid: number | null;
  pidKnown: boolean;
  comm: string;
  /** Has events of its own (not just named by another thread's switch or wakeup). */
  own: boolean;
  /** First and last event of its own. */
  firstTs: number;
  lastTs: number;
  /** First start and last end of the spans written for it: its lifetime covers them. */
  spanFirst: number;
  spanLast: number;
  dead: boolean;
  /** When the thread was created (fork, wakeup_new), if that was recorded. */
  bornTs: number | undefined;
  /** When lost events made its state unknown. */
  resetTs: number | undefined;

  gil: GilPhase;
  gilSince: number;
  /** The stack the open GIL span began with, and during a hold the stacks its own events showed (filters/frames.ts). */
  gilStack: string[] | undefined;
  holdStacks: HoldStacks | undefined;
  gilUnknownStart: boolean;
  /** A hold of its was closed by another thread's take_gil: when its next GIL span began is not known. */
  gilStartLost: boolean;
  /** End of its last GIL span, and of its last scheduler span: a thread's spans never overlap. */
  gilEnd: number;
  schedEnd: number;

  sched: SchedPhase;
  schedSince: number;
  schedStack: string[] | undefined;
  /** Preempted: the task that got its CPU (sched_switch's next). */
  schedBy: { tid: number; comm: string } | undefined;
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

export interface Process {
  pid: number | null;
  holder: number | undefined;
  lastRelease: { tid: number; ts: number } | undefined;
  gil: boolean;
  /** GIL probes (or the libc fallback) fired in it: its waits come from them, not from stacks. */
  probed: boolean;
  /** Times a thread took its GIL while another of its threads held it. */
  twoHolders: number;
  /** End of the latest hold written for any of its threads. */
  holdEnd: number;
  threads: Set<number>;
}

export class Registry {
  readonly threads = new Map<number, Thread>();
  readonly processes = new Map<number | null, Process>();
  /** tid -> pid learnt from fork records and sched_process_fork, before the thread shows up. */
  readonly parentOf = new Map<number, number>();
  firstTs = Infinity;
  lastTs = -Infinity;
  /** Some record carried a pid: threads are grouped by it, not guessed from forks. */
  sawPid = false;
  /**
   * Some scheduler event (sched_switch, a wakeup, a SWITCH record) was seen.
   * Until then a thread's "running" comes only from its own events, which
   * prove nothing about the time between them: without the scheduler
   * recorded, no sched span is written, so none is counted as measured.
   */
  sawSched = false;

  seen(ts: number): void {
    if (ts < this.firstTs) this.firstTs = ts;
    if (ts > this.lastTs) this.lastTs = ts;
  }

  thread(tid: number, pid?: number, comm?: string): Thread {
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
        spanFirst: Infinity,
        spanLast: -Infinity,
        dead: false,
        bornTs: undefined,
        resetTs: undefined,
        gil: 'none',
        gilSince: 0,
        gilStack: undefined,
        holdStacks: undefined,
        schedStack: undefined,
        schedBy: undefined,
        gilUnknownStart: true,
        gilStartLost: false,
        gilEnd: -Infinity,
        schedEnd: -Infinity,
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

  setPid(t: Thread, pid: number, known: boolean): void {
    if (t.pid !== pid) {
      this.processes.get(t.pid)?.threads.delete(t.tid);
      t.pid = pid;
      this.processOf(t).threads.add(t.tid);
    }
    t.pidKnown = t.pidKnown || known;
  }

  processOf(t: Thread): Process {
    // Without pid information a thread with no known parent is taken to lead
    // its own thread group; threads forked from it inherit its pid.
    const key = t.pid ?? (this.parentOf.has(t.tid) ? null : t.tid);
    if (t.pid === null && key !== null) t.pid = key;
    let p = this.processes.get(key);
    if (p === undefined) {
      p = { pid: key, holder: undefined, lastRelease: undefined, gil: false, probed: false, twoHolders: 0, holdEnd: -Infinity, threads: new Set() };
      this.processes.set(key, p);
    }
    return p;
  }
}

/** Anomalies: a diagnostic record each, and a count per code for the summary on stderr. */
export class Diagnostics {
  readonly counts = new Map<DiagnosticCode, number>();

  constructor(private readonly emit: Emit<AnyRecord>) {}

  count(code: DiagnosticCode): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
  }

  diagnostic(code: DiagnosticCode, ts: number, t: Thread | undefined, message: string): void {
    this.count(code);
    const d: Diagnostic = t
      ? { type: 'diagnostic', code, ts: Number.isFinite(ts) ? ts : 0, pid: t.pid, tid: t.tid, message }
      : { type: 'diagnostic', code, ts: Number.isFinite(ts) ? ts : 0, message };
    this.emit(d);
  }
}

/** A span of t's from start to end: its lifetime grows to cover it. */
export function covers(t: Thread, start: number, end: number): void {
  if (start < t.spanFirst) t.spanFirst = start;
  if (end > t.spanLast) t.spanLast = end;
}

/** Every thread of the process had its pid in the input (else the grouping is inferred from forks). */
export function pidsRecorded(reg: Registry, p: Process): boolean {
  for (const tid of p.threads) if (reg.threads.get(tid)?.pidKnown === false) return false;
  return true;
}

export interface SpanFlags {
  partial?: boolean;
  truncated?: boolean;
  unknown?: boolean;
}

export function addFlags(span: GilSpan | SchedSpan, partial: boolean, flags: SpanFlags): void {
  if (partial || flags.partial) span.partial = true;
  if (flags.truncated) span.truncated = true;
  if (flags.unknown) span.unknown = true;
}
