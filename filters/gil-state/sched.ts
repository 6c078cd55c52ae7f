// gil-state's scheduler machine, per thread: running from a switch-in (or
// any event of its own), runnable when preempted or woken, sleeping (S),
// blocked (D) when switched out so.
import type { Emit } from '../../lib/filter.js';
import type { AnyRecord, PerfRecord, Sample, SchedSpan } from '../records.js';
import type { GilMachine } from './gil.js';
import { stackOf } from '../frames.js';
import { type Registry, type SchedPhase, type SpanFlags, type Thread, addFlags, covers } from './threads.js';

export class Scheduler {
  constructor(
    private readonly reg: Registry,
    private readonly gil: GilMachine,
    private readonly emit: Emit<AnyRecord>,
    /** A thread is gone: close all it has open. */
    private readonly exit: (t: Thread, ts: number) => void,
  ) {}

  ownEvent(t: Thread, ts: number): void {
    if (!t.own) t.own = true;
    if (ts < t.firstTs) t.firstTs = ts;
    if (ts > t.lastTs) t.lastTs = ts;
    // An event of its own proves the thread is on a CPU right now: that ends
    // a sleep even when its wakeup and switch-in were not recorded (per-process
    // recordings miss events that happen in other processes' context).
    if (t.sched !== 'running' && !t.dead) this.setSched(t, 'running', ts, undefined, t.sched === 'unknown');
  }

  /**
   * `perf record --switch-events`: PERF_RECORD_SWITCH IN marks the moment a
   * monitored thread gets a CPU, which sched_switch cannot show in a
   * per-process recording when the task switched out belongs to another
   * process. OUT is left to sched_switch, which knows the state.
   */
  switchRecord(rec: PerfRecord): boolean {
    const { ts, tid } = rec;
    if (tid === undefined || tid <= 0) return false;
    this.reg.seen(ts);
    this.reg.sawSched = true;
    if (rec.pid !== undefined) this.reg.sawPid = true;
    const t = this.reg.thread(tid, rec.pid);
    if (rec.body.startsWith('IN')) this.ownEvent(t, ts);
    return true;
  }

  schedSwitch(rec: Sample, ts: number, self: Thread | undefined): boolean {
    const f = rec.fields;
    if (!f || typeof f.prev_pid !== 'number' || typeof f.next_pid !== 'number') return false;
    const prevPid = f.prev_pid;
    const nextPid = f.next_pid;
    this.reg.sawSched = true;
    if (typeof prevPid === 'number' && prevPid > 0) {
      const prev = prevPid === self?.tid ? self : this.reg.thread(prevPid, undefined, str(f.prev_comm));
      const letter = String(f.prev_state ?? '');
      const state = stateOf(letter);
      if (state === 'dead') {
        this.exit(prev, ts);
      } else {
        const inGilWait = this.gil.switchedOut(prev, rec, state, ts);
        this.setSched(prev, state, ts, letter, false, inGilWait && (state === 'sleeping' || state === 'blocked'));
        if (state !== 'runnable') prev.schedStack = stackOf(rec.callchain);
        else if (nextPid > 0) prev.schedBy = { tid: nextPid, comm: str(f.next_comm) ?? '' };
      }
    }
    if (typeof nextPid === 'number' && nextPid > 0) {
      const next = this.reg.thread(nextPid, undefined, str(f.next_comm));
      // An exited task is switched in once more to finish dying, and a
      // per-task recording does not see it leave (perf's events are gone by
      // then): it stays dead, or it would run to the end of the recording.
      // Only a fork of its tid (reused), or sched_wakeup_new of it, brings it
      // back (GilState.task, wakeup).
      if (!next.dead) this.setSched(next, 'running', ts, undefined, false);
    }
    return true;
  }

  wakeup(rec: Sample, name: string, ts: number, waker: number | undefined): boolean {
    const f = rec.fields;
    if (!f || typeof f.pid !== 'number') return false;
    this.reg.sawSched = true;
    if (f.pid <= 0) return true;
    const t = this.reg.thread(f.pid, undefined, str(f.comm));
    if (name === 'sched_wakeup_new') {
      // Only a new task is woken so: under a tid that died, the tid was
      // reused (plain perf script prints no fork records to say so).
      t.bornTs ??= ts;
      if (t.dead) t.dead = false;
    }
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
  setSched(t: Thread, state: SchedPhase, ts: number, letter: string | undefined, partial: boolean, gil = false): void {
    if (t.sched !== 'unknown') this.closeSched(t, ts, {});
    t.sched = state;
    t.schedSince = ts;
    t.schedLetter = letter;
    t.schedPartial = partial;
    t.schedGil = gil;
    t.schedStack = undefined;
    t.schedBy = undefined;
  }

  closeSched(t: Thread, ts: number, flags: SpanFlags): void {
    if (t.sched === 'unknown') return;
    if ((t.sched === 'sleeping' || t.sched === 'blocked') && t.schedGil) t.stackWaitEnd = ts;
    // Out-of-order events must not make a thread be in two states at once.
    const start = t.schedSince < t.schedEnd ? t.schedEnd : t.schedSince;
    const dur = ts - start;
    if (dur > 0 && t.own && this.reg.sawSched) {
      t.schedEnd = ts;
      covers(t, start, ts);
      const span: SchedSpan = {
        type: 'span',
        pid: t.pid,
        tid: t.tid,
        family: 'sched',
        state: t.sched,
        ts: start,
        dur,
      };
      if (t.schedLetter !== undefined) span.letter = t.schedLetter;
      if (t.schedGil) span.gil = true;
      addFlags(span, t.schedPartial, flags);
      if (t.schedStack !== undefined) span.stack = t.schedStack;
      if (t.schedBy !== undefined) span.preempted_by = t.schedBy;
      this.emit(span);
    }
    t.sched = 'unknown';
    t.schedStack = undefined;
    t.schedBy = undefined;
  }
}

/** prev_state letters: R/R+ preempted, S sleeping, D uninterruptible (I/O), X/Z gone, the rest as they are. */
function stateOf(letter: string): SchedPhase | 'dead' {
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
