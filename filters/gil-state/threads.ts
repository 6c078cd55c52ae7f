// gil-state's thread registry: what is known of each thread and process,
// and how threads are grouped into processes (one GIL per process).
import type { Emit } from '../../lib/filter.js';
import type { AnyRecord, Diagnostic, DiagnosticCode, GilSpan, SchedSpan } from '../records.js';

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

  sched: SchedPhase;
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

export interface Process {
  pid: number | null;
  holder: number | undefined;
  lastRelease: { tid: number; ts: number } | undefined;
  gil: boolean;
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
      p = { pid: key, holder: undefined, lastRelease: undefined, gil: false, threads: new Set() };
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
