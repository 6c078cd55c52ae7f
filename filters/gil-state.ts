// gil-state's logic: perf-parse records in, per-thread GIL and scheduler
// spans out (docs/events.md). One GIL per process, so GIL bookkeeping is keyed
// by pid; everything else is per thread. Memory grows with threads, not events.
// The parts: the thread registry (gil-state/threads.ts), the GIL machine
// (gil-state/gil.ts) and the scheduler machine (gil-state/sched.ts); this
// file dispatches records to them and writes what they know at the end.
import { DataError } from '../lib/errors.js';
import type { Context, Emit, Filter } from '../lib/filter.js';
import { baseName } from '../lib/perf-payload.js';
import type { AnyRecord, Comm, DiagnosticCode, Exit, Fork, GilSource, Lost, Sample } from './records.js';
import { GilMachine } from './gil-state/gil.js';
import { Repeats } from './gil-state/repeats.js';
import { Scheduler } from './gil-state/sched.js';
import { Diagnostics, Registry, type Thread, pidsRecorded } from './gil-state/threads.js';

export type { GilSource, DiagnosticCode };

/** A thread's GIL wait or hold that has begun and not ended yet. */
export interface OpenGil {
  pid: number | null;
  tid: number;
  state: 'wait' | 'hold';
  since: number;
}

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

export class GilState implements Filter<AnyRecord> {
  /** Scheduler samples without the fields gil-state needs, passed through. */
  unread = 0;
  private lost = 0;
  /** What the LOST records dropped as repeats claimed: the reader counted them, so the note says why the figures differ. */
  private lostRepeated = 0;
  private readonly reg = new Registry();
  private readonly diag: Diagnostics;
  private readonly gil: GilMachine;
  private readonly sched: Scheduler;
  private readonly repeats = new Repeats();
  /** Where the capture came from, by perf's header (the first header of the stream). */
  private origin: { host?: string; captured_on?: string } | undefined;

  constructor(
    private readonly emit: Emit<AnyRecord>,
    private readonly ctx: Context,
    private readonly opts: GilStateOptions = DEFAULTS,
  ) {
    this.diag = new Diagnostics(emit);
    this.gil = new GilMachine(this.reg, this.diag, emit, opts);
    this.sched = new Scheduler(this.reg, this.gil, emit, (t, ts) => this.exitThread(t, ts));
  }

  /** Feeds one record; emits spans as they close, and every record it does not consume. */
  write(rec: AnyRecord): void {
    switch (rec.type) {
      case 'sample':
        if (!this.repeats.seen(rec)) this.sample(rec);
        return;
      case 'comm':
      case 'fork':
      case 'exit':
        if (!this.repeats.seen(rec)) this.task(rec);
        return;
      case 'lost':
        if (!this.repeats.seen(rec)) this.lostRecord(rec);
        else this.lostRepeated += rec.lost;
        return;
      case 'perf_record':
        if (this.repeats.seen(rec)) return;
        if (rec.name === 'SWITCH' && this.sched.switchRecord(rec)) {
          if (this.opts.keepSamples) this.emit(rec);
          return;
        }
        this.emit(rec);
        return;
      case 'span':
      case 'handoff':
      case 'thread':
      case 'process':
      case 'capture':
      case 'diagnostic':
        // Run twice, every span would be written again beside new ones.
        throw new DataError(`${this.ctx.where.file}:${this.ctx.where.line}: this is gil-state's output already (a ${rec.type} record): give it to gil-stats or to-trace`);
      case 'header':
        this.origin ??= originOf(rec.meta);
        this.emit(rec);
        return;
      default:
        this.emit(rec);
    }
  }

  // ------------------------------------------------------------ dispatch

  private sample(rec: Sample): void {
    const ts = rec.ts;
    this.reg.seen(ts);
    const name = this.nameOf(rec.event);
    const tid = rec.tid;
    if (rec.pid !== undefined) this.reg.sawPid = true;

    let used: boolean;
    let sched = true;
    const self = tid !== undefined && tid > 0 ? this.reg.thread(tid, rec.pid, rec.comm) : undefined;
    if (self) this.sched.ownEvent(self, ts);

    // A scheduler sample without the fields it needs (a payload perf cut with
    // a newline in a thread name is kept raw) is passed through, not eaten.
    if (name === 'sched_switch') used = this.sched.schedSwitch(rec, ts, self);
    else if (name === 'sched_waking' || name === 'sched_wakeup' || name === 'sched_wakeup_new') used = this.sched.wakeup(rec, name, ts, tid);
    else if (name === 'sched_process_fork') used = this.processFork(rec);
    else if (name === 'sched_process_exit') used = this.processExit(rec, ts);
    else if (name === 'sched_process_exec') used = this.processExec(rec, ts, self);
    else {
      sched = false;
      used = self !== undefined && this.gil.probe(rec, name, ts, self);
    }
    if (self !== undefined && !(used && !sched)) this.gil.ownStack(self, rec);
    if (!used && sched) this.unread++;

    if (!used || this.opts.keepSamples) this.emit(rec);
  }

  /** An event's name without its group, kept per event: the same few names come millions of times, and a kept string's hash is known. */
  private nameOf(event: string): string {
    let name = this.names.get(event);
    if (name === undefined) {
      name = baseName(event);
      if (this.names.size < 1000) this.names.set(event, name);
    }
    return name;
  }

  private readonly names = new Map<string, string>();

  private task(rec: Comm | Fork | Exit): void {
    const { ts, pid, tid } = rec;
    if (ts > 0) this.reg.seen(ts);
    this.reg.sawPid = true;
    if (rec.type === 'fork') {
      this.reg.parentOf.set(tid, pid);
      const t = this.reg.threads.get(tid);
      if (t) {
        t.dead = false; // a new task under a tid that was used before
        this.reg.setPid(t, pid, true);
      }
    } else if (rec.type === 'comm') {
      const t = this.reg.thread(tid, pid, rec.comm);
      if (ts > 0) this.sched.ownEvent(t, ts);
    } else if (rec.type === 'exit') {
      const t = this.reg.threads.get(tid);
      if (t) this.exitThread(t, ts);
    }
    if (this.opts.keepSamples) this.emit(rec);
  }

  private processFork(rec: Sample): boolean {
    const f = rec.fields;
    if (!f || typeof f.child_pid !== 'number' || typeof f.pid !== 'number') return false;
    // sched_process_fork does not say thread or process; a child that later
    // execs becomes its own process (see processExec). pid/tid records win.
    if (!this.reg.parentOf.has(f.child_pid)) {
      const parent = this.reg.threads.get(f.pid);
      this.reg.parentOf.set(f.child_pid, parent?.pid ?? f.pid);
    }
    const child = this.reg.threads.get(f.child_pid);
    if (child && !child.pidKnown) this.reg.setPid(child, this.reg.parentOf.get(f.child_pid)!, false);
    const c = this.reg.thread(f.child_pid, undefined, str(f.child_comm));
    c.dead = false; // a new task under a tid that was used before
    c.bornTs ??= rec.ts;
    return true;
  }

  private processExec(rec: Sample, ts: number, self: Thread | undefined): boolean {
    const f = rec.fields;
    const tid = f && typeof f.pid === 'number' ? f.pid : self?.tid;
    if (tid === undefined) return false;
    const t = this.reg.threads.get(tid);
    if (t && !t.pidKnown && t.pid !== tid) {
      // exec makes a new process image: the thread leads its own group now.
      this.gil.closeGil(t, ts, {});
      this.reg.setPid(t, tid, false);
    }
    return true;
  }

  private processExit(rec: Sample, ts: number): boolean {
    const f = rec.fields;
    const tid = f && typeof f.pid === 'number' ? f.pid : undefined;
    if (tid === undefined) return false;
    const t = this.reg.threads.get(tid);
    if (t) this.exitThread(t, ts);
    return true;
  }

  private exitThread(t: Thread, ts: number): void {
    if (t.dead) return;
    this.gil.flushCond(t);
    this.gil.closeStackWait(t, ts);
    this.gil.closeGil(t, ts, {});
    this.sched.closeSched(t, ts, {});
    t.sched = 'unknown';
    t.dead = true;
    if (ts > t.lastTs) t.lastTs = ts;
  }

  private lostRecord(rec: Lost): void {
    const ts = rec.ts;
    this.lost += rec.lost;
    this.emit(rec);
    this.reg.seen(ts);
    // We do not know whose events were lost: every open span's end is now unknown.
    this.diag.diagnostic('lost_events', ts, undefined, `perf lost ${rec.lost} events here: open spans are closed as unknown`);
    for (const t of this.reg.threads.values()) {
      if (t.dead) continue;
      this.gil.closeGil(t, ts, { unknown: true });
      t.gilUnknownStart = true;
      t.resetTs = ts;
      this.sched.closeSched(t, ts, { unknown: true });
      t.condStart = undefined;
      t.condOpen = false;
      t.stackWaitStart = undefined;
    }
    for (const p of this.reg.processes.values()) {
      p.holder = undefined;
      p.lastRelease = undefined;
    }
  }

  // ------------------------------------------------------------ end of input

  end(): void {
    const last = Number.isFinite(this.reg.lastTs) ? this.reg.lastTs : 0;
    for (const t of this.reg.threads.values()) {
      if (t.dead) continue;
      this.gil.flushCond(t, true);
      if (t.stackWaitStart !== undefined) this.gil.closeStackWait(t, Math.max(t.stackWaitEnd, t.stackWaitStart));
      this.gil.closeGil(t, last, { truncated: true });
      this.sched.closeSched(t, last, { truncated: true });
    }
    const procComm = new Map<number | null, string>();
    for (const t of this.reg.threads.values()) {
      if (!t.own) continue;
      this.emit({
        type: 'thread',
        pid: t.pid,
        tid: t.tid,
        comm: t.comm,
        main: t.pid === t.tid,
        // Its own first and last events (per4m's lifetime); its spans may reach
        // past them (a sleep until the capture ends), and gil-stats counts those too.
        first_ts: finite(t.firstTs),
        last_ts: finite(t.lastTs),
      });
      if (t.pid === t.tid || !procComm.has(t.pid)) procComm.set(t.pid, t.comm);
    }
    for (const p of this.reg.processes.values()) {
      const own = [...p.threads].filter((tid) => this.reg.threads.get(tid)?.own);
      if (own.length === 0) continue;
      this.emit({
        type: 'process',
        pid: p.pid,
        comm: procComm.get(p.pid) ?? '',
        threads: own.length,
        gil: p.gil,
        pids: pidsRecorded(this.reg, p) ? 'recorded' : 'inferred',
        two_holders: p.twoHolders,
      });
    }
    let anomalies = 0;
    for (const [code, n] of this.counts) if (code !== 'repeated_event' && code !== 'no_pid') anomalies += n;
    const id = this.repeats.id;
    this.emit({
      type: 'capture',
      first_ts: Number.isFinite(this.reg.firstTs) ? this.reg.firstTs : null,
      last_ts: Number.isFinite(this.reg.lastTs) ? this.reg.lastTs : null,
      gil_source: this.gil.source,
      lost: this.lost,
      anomalies,
      ...(id !== undefined ? { id } : {}),
      ...this.origin,
    });
  }

  /**
   * The GIL waits and holds open now, with when each began, and the latest
   * event time: a live view counts a stall while it lasts, before its span is
   * written (filters/live.ts).
   */
  *openGil(): Generator<OpenGil> {
    for (const t of this.reg.threads.values()) {
      if (!t.dead && (t.gil === 'wait' || t.gil === 'hold')) yield { pid: t.pid, tid: t.tid, state: t.gil, since: t.gilSince };
    }
  }

  /** The capture's id (as its capture record will have it) once its first events fixed it, else undefined. */
  get settledId(): string | undefined {
    return this.repeats.settled ? this.repeats.id : undefined;
  }

  /** The capture's id as it stands: the capture record's, once the input ended. */
  get captureId(): string | undefined {
    return this.repeats.id;
  }

  get latestTs(): number {
    return this.reg.lastTs;
  }

  /** A thread's name as last seen (comm records, samples). */
  threadName(tid: number): string | undefined {
    return this.reg.threads.get(tid)?.comm;
  }

  get gilSource(): GilSource {
    return this.gil.source;
  }

  get counts(): ReadonlyMap<DiagnosticCode, number> {
    return this.diag.counts;
  }

  /** Events perf lost, by its PERF_RECORD_LOST records. */
  get lostEvents(): number {
    return this.lost;
  }

  /** What to tell the user once the input is read (on stderr, by whoever drives the filter). */
  notes(): string[] {
    const notes: string[] = [];
    if (this.counts.has('no_pid')) {
      notes.push(
        'the input has no pid column: threads were grouped into processes from fork records, and a thread whose parent was not recorded counts as its own process. ' +
          'One GIL is per process, so record the pid: perf script -F +pid, or perf-parse -i perf.data (which asks for it).',
      );
    }
    const r = this.repeats;
    if (r.dropped > 0) {
      notes.push(
        `dropped ${r.dropped} events seen before${r.restarts > 0 ? ` (the input started over ${r.restarts} time${r.restarts > 1 ? 's' : ''}: the same capture given twice?)` : ''}` +
          `${this.lostRepeated > 0 ? `, among them PERF_RECORD_LOST records of ${this.lostRepeated} lost event${this.lostRepeated === 1 ? '' : 's'}, so ${this.lost} are counted lost` : ''}: each counts once`,
      );
    }
    const counts = [...this.counts].filter(([code, n]) => n > 0 && code !== 'no_pid').map(([code, n]) => `${n} ${code}`);
    if (counts.length > 0) notes.push(`anomalies: ${counts.join(', ')} (see the diagnostic records)`);
    if (this.unread > 0) {
      notes.push(`${this.unread} scheduler samples had no readable fields (a thread name with a newline cuts perf's line): passed through, not used`);
    }
    if (this.gilSource === 'none' && this.gil.otherProbes.size > 0) {
      notes.push(
        `NO GIL EVENTS in the input: no probe matched take_gil or drop_gil. The probes it has: ${this.otherProbeNames()}. ` +
          `If those are the GIL functions under other names, ${SAY_PROBE_NAMES}.`,
      );
    } else if (this.gilSource === 'none') {
      notes.push(
        'NO GIL EVENTS in the input: no take_gil/drop_gil probes (nor the pthread_cond_timedwait fallback, nor take_gil in switch-out stacks). ' +
          'Only scheduler states are known; nothing here says who held the GIL. Record with gil-record, or add probes: ' +
          'perf probe -x LIBPYTHON -a take_gil -a take_gil%return -a drop_gil -a drop_gil%return',
      );
    } else if (this.gilSource === 'cond_timedwait') {
      notes.push('GIL waits come from pthread_cond_timedwait probes (stripped interpreter): waits only, no holds, and other condition-variable waits may be among them');
    }
    if (this.gilSource !== 'none' && this.gil.otherProbes.size > 0) {
      // A GIL function probed under a name of one's own (take_gil%return as take_gil_r) is read as
      // nothing, and the GIL machine then sees entries without returns: say which names went unused.
      notes.push(
        `probes not used, since their names are none of take_gil, drop_gil or pthread_cond_timedwait: ${this.otherProbeNames()}. ` +
          `If one is a GIL function under another name, ${SAY_PROBE_NAMES}.`,
      );
    }
    return notes;
  }

  private otherProbeNames(): string {
    return [...this.gil.otherProbes].join(', ') + (this.gil.otherProbesCut ? ', and more' : '');
  }
}

// gil-stats and to-trace run gil-state without its options: the advice names the command that takes them.
const SAY_PROBE_NAMES =
  'say which to gil-state: gil-state --take-gil REGEX --drop-gil REGEX (matched against the name after the group, return suffix removed), and give its output to the next stage';

function finite(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** The host and time of a recording, from the `# key : value` lines of perf's header. */
function originOf(meta: Record<string, string>): { host?: string; captured_on?: string } {
  const o: { host?: string; captured_on?: string } = {};
  const host = meta['hostname'];
  const on = meta['captured on'];
  if (host) o.host = host;
  if (on) o.captured_on = on;
  return o;
}
