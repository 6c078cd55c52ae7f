// The per-process counters: threads waiting for the GIL, and the holder's tid.
//
// Counters need events in time order, but gil-state writes a span when it
// ends. Counter changes wait in a queue until no span still to come can start
// before them: spans arrive in order of their end, so a change older than
// (latest end - longest wait seen, at least COUNTER_WINDOW) is final. Memory
// grows with the event rate times that window, not with the input.
import type { TraceText } from './trace-text.js';
import type { TimeWindow } from './window.js';
import { usText } from '../../lib/trace-time.js';

/** The least time a counter change waits for spans that may still start before it. */
const COUNTER_WINDOW = 2_000_000_000;

/** The window grows with the longest wait seen, up to this. */
const MAX_WINDOW = 600_000_000_000;

interface ProcCounters {
  waiting: number;
  holder: number;
  writtenWaiting: number;
  writtenHolder: number;
  /** Something was written (or the window edge passed). */
  started: boolean;
}

const WAITING = 0;
const HOLDER = 1;
type ChangeKind = typeof WAITING | typeof HOLDER;

/**
 * Counter changes in time order, packed in typed arrays (a few bytes each:
 * there may be a few hundred thousand in the window). They arrive nearly
 * sorted (a span's end is the latest time seen, its start a little before),
 * so a sorted buffer that inserts near its tail and is consumed from its head
 * beats a heap. Equal times keep arrival order.
 */
class ChangeQueue {
  private cap = 1024;
  private ts = new Float64Array(this.cap);
  private pid = new Int32Array(this.cap);
  private val = new Int32Array(this.cap);
  private tid = new Int32Array(this.cap);
  private kind = new Uint8Array(this.cap);
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** WAITING: waiting += val; HOLDER: holder = val (0: tid's hold ended). */
  push(ts: number, pid: number, kind: ChangeKind, val: number, tid: number): void {
    if (this.tail === this.cap) this.makeRoom();
    let pos = this.tail;
    if (pos > this.head && this.ts[pos - 1]! > ts) {
      let lo = this.head;
      let hi = pos;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (this.ts[m]! <= ts) lo = m + 1;
        else hi = m;
      }
      pos = lo;
      for (const arr of [this.ts, this.pid, this.val, this.tid, this.kind]) arr.copyWithin(pos + 1, pos, this.tail);
    }
    this.ts[pos] = ts;
    this.pid[pos] = pid;
    this.val[pos] = val;
    this.tid[pos] = tid;
    this.kind[pos] = kind;
    this.tail++;
  }

  private makeRoom(): void {
    const live = this.tail - this.head;
    if (live * 2 > this.cap) {
      this.cap *= 2;
      const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(this.cap);
        b.set(a.subarray(this.head, this.tail));
        return b;
      };
      this.ts = grow(this.ts, (n) => new Float64Array(n));
      this.pid = grow(this.pid, (n) => new Int32Array(n));
      this.val = grow(this.val, (n) => new Int32Array(n));
      this.tid = grow(this.tid, (n) => new Int32Array(n));
      this.kind = grow(this.kind, (n) => new Uint8Array(n));
    } else {
      for (const arr of [this.ts, this.pid, this.val, this.tid, this.kind]) arr.copyWithin(0, this.head, this.tail);
    }
    this.tail = live;
    this.head = 0;
  }

  /** Time of the earliest change, or undefined when empty. */
  peekTs(): number | undefined {
    return this.head < this.tail ? this.ts[this.head] : undefined;
  }

  /** Removes the earliest change into `out`. */
  shift(out: { pid: number; kind: number; val: number; tid: number }): void {
    const i = this.head++;
    out.pid = this.pid[i]!;
    out.kind = this.kind[i]!;
    out.val = this.val[i]!;
    out.tid = this.tid[i]!;
  }
}

/** Counter samples (`C` events) of the processes drawn, written into `out` once final. */
export class GilCounters {
  /** GIL waits/holds that started before counters were already written out. */
  late = 0;
  private readonly procs = new Map<number, ProcCounters>();
  private readonly changes = new ChangeQueue();
  private readonly change = { pid: 0, kind: 0, val: 0, tid: 0 };
  private latestEnd = 0;
  private flushedTo = -1;
  private window = COUNTER_WINDOW;

  constructor(
    private readonly out: TraceText,
    private readonly time: TimeWindow,
  ) {}

  /** Changes not written yet. */
  get pending(): number {
    return this.changes.size;
  }

  /** A span of a drawn process ends at `end`: changes far enough before it are final. */
  seen(end: number): void {
    if (end > this.latestEnd) this.latestEnd = end;
  }

  /** A GIL wait or hold of `tid` over [ts, end). */
  count(pid: number, tid: number, state: 'wait' | 'hold', ts: number, end: number): void {
    let start = ts;
    if (start <= this.flushedTo) {
      // Began before changes already written: count it from there on only.
      this.late++;
      if (end <= this.flushedTo) return;
      start = this.flushedTo + 1;
    }
    if (state === 'wait') {
      // A wait can be long; changes wait at least that long before they are final.
      if (end - ts > this.window / 2) this.window = Math.min(2 * (end - ts), MAX_WINDOW);
      this.changes.push(start, pid, WAITING, 1, tid);
      this.changes.push(end, pid, WAITING, -1, tid);
    } else {
      this.changes.push(start, pid, HOLDER, tid, tid);
      this.changes.push(end, pid, HOLDER, 0, tid);
    }
  }

  /** Writes out the changes that are final; all of them (or until `stopAt` chars are in `out`) when `all`. */
  flush(all: boolean, stopAt = Infinity): void {
    const limit = all ? Infinity : this.latestEnd - this.window;
    const { from } = this.time;
    const c = this.change;
    for (;;) {
      const ts = this.changes.peekTs();
      if (ts === undefined || ts > limit || this.out.length >= stopAt) return;
      // All changes at one time make one sample per process.
      const touched: number[] = [];
      while (this.changes.peekTs() === ts) {
        this.changes.shift(c);
        let p = this.procs.get(c.pid);
        if (p === undefined) {
          p = { waiting: 0, holder: 0, writtenWaiting: 0, writtenHolder: 0, started: false };
          this.procs.set(c.pid, p);
        }
        // The window opens mid-trace: the values in force at its edge come first.
        if (from !== undefined && ts > from && !p.started && !touched.includes(c.pid)) this.write(c.pid, from);
        if (c.kind === WAITING) p.waiting += c.val;
        else if (c.val !== 0) p.holder = c.val;
        // A hold's end clears the holder only if it is still that thread's:
        // overlapping holds are an anomaly gil-state reports on its own.
        else if (p.holder === c.tid) p.holder = 0;
        if (!touched.includes(c.pid)) touched.push(c.pid);
      }
      this.flushedTo = ts;
      for (const pid of touched) this.write(pid, ts);
    }
  }

  private write(pid: number, ts: number): void {
    const p = this.procs.get(pid)!;
    if (!this.time.contains(ts)) return;
    p.started = true;
    if (p.writtenWaiting !== p.waiting) {
      this.out.ev(`{"ph":"C","pid":${pid},"tid":${pid},"ts":${usText(ts)},"name":"GIL waiting","args":{"threads":${Math.max(0, p.waiting)}}}`);
      p.writtenWaiting = p.waiting;
    }
    if (p.writtenHolder !== p.holder) {
      this.out.ev(`{"ph":"C","pid":${pid},"tid":${pid},"ts":${usText(ts)},"name":"GIL holder","args":{"tid":${p.holder}}}`);
      p.writtenHolder = p.holder;
    }
  }
}
