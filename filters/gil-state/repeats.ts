// Events seen twice: the same input given twice (`cat a a`, `gil-state a a`)
// or a line repeated. Counted twice they would double every figure, so they
// are dropped and counted. Memory stays bounded: the keys of the events at
// the latest time, and of the first few events of the input.
import { createHash } from 'node:crypto';
import type { Comm, Exit, Fork, Lost, PerfRecord, Sample } from '../records.js';

type Event = Sample | Comm | Fork | Exit | Lost | PerfRecord;

/** How many first events identify the start of an input. */
const FIRST = 16;

function key(r: Event): string {
  switch (r.type) {
    case 'sample': {
      const f = r.fields;
      const p = r.probe;
      const detail = f !== undefined ? `${String(f.prev_pid ?? f.pid ?? '')}>${String(f.next_pid ?? f.child_pid ?? '')}` : p !== undefined ? `${p.func}<${p.ret ?? ''}` : (r.payload ?? '');
      return `s ${r.ts} ${r.tid ?? ''} ${r.cpu ?? ''} ${r.event} ${detail}`;
    }
    case 'lost':
      return `l ${r.ts} ${r.cpu ?? ''} ${r.lost}`;
    case 'perf_record':
      return `r ${r.ts} ${r.tid ?? ''} ${r.cpu ?? ''} ${r.name} ${r.body}`;
    case 'comm':
      return `c ${r.ts} ${r.tid} ${r.comm}`;
    default:
      return `${r.type} ${r.ts} ${r.pid} ${r.tid} ${r.ppid} ${r.ptid}`;
  }
}

export class Repeats {
  /** Events dropped as repeats. */
  dropped = 0;
  /** Times the input started over from its first events. */
  restarts = 0;
  private latest = -Infinity;
  /**
   * The events at the latest time, and their keys once a second event at
   * that time needs them: time nearly always moves on, and then no key is made.
   */
  private atLatest: Event[] = [];
  private nAtLatest = 0;
  private latestKeys: Set<string> | undefined;
  private readonly first: string[] = [];
  /** While an input repeats from its start: events up to this time are ones already seen. */
  private replayUntil: number | undefined;

  /**
   * What identifies the capture: a hash of its first events, so the same
   * recording is known again under any file name (gil-stats refuses to add
   * it twice). Undefined before any event.
   */
  get id(): string | undefined {
    if (this.first.length === 0) return undefined;
    return createHash('sha256').update(this.first.join('\n')).digest('hex').slice(0, 16);
  }

  /** Whether the id can no longer change: its first events are all seen. */
  get settled(): boolean {
    return this.first.length === FIRST;
  }

  /** True when `r` was seen already (and so must not count again). */
  seen(r: Event): boolean {
    const ts = r.ts;
    if (this.replayUntil !== undefined) {
      if (ts <= this.replayUntil) {
        this.dropped++;
        return true;
      }
      this.replayUntil = undefined;
    }
    if (ts < this.latest) {
      // Back in time, to the very first event: the input starts over.
      if (this.first.length > 0 && key(r) === this.first[0]) {
        this.restarts++;
        this.replayUntil = this.latest;
        this.dropped++;
        return true;
      }
      return false;
    }
    if (ts > this.latest) {
      this.latest = ts;
      // Emptied by count (setting an array's length is a call into the runtime, once per event).
      this.nAtLatest = 0;
      this.latestKeys = undefined;
    } else {
      this.latestKeys ??= new Set(this.atLatest.slice(0, this.nAtLatest).map(key));
      const k = key(r);
      if (this.latestKeys.has(k)) {
        this.dropped++;
        return true;
      }
      this.latestKeys.add(k);
    }
    this.atLatest[this.nAtLatest++] = r;
    if (this.first.length < FIRST) this.first.push(key(r));
    return false;
  }
}
