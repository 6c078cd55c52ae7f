// Which process comes first on the timeline, and which are folded away.
//
// A recording of `python app.py` through a pyenv shim or a shell script holds
// dozens of short processes (bash, readlink, basename) before the Python one;
// viewers list processes by pid, so the trace used to open on them. Here:
// - processes with GIL data go first, the most contended (most GIL wait) on
//   top; the others follow in the order they first appear;
// - processes without GIL events that live under a second are folded into one
//   process row, "N short processes without GIL events", last: their events
//   are all kept, each thread a row of that group, named with its own pid.
//
// A trace streams, and whether a process is short is known only once it has
// lived a second or the input ended; so the events of a process without GIL
// events are held back until it has either had a GIL event or lived a
// second (then they go out under their own pid), or the input ends (then
// they are folded). What is held is at most a second of each such process,
// and at most HOLD_MAX events of one: a process busier than that is drawn as
// itself, short or not.

/** A process without GIL events that lives shorter than this is folded. */
export const SHORT_NS = 1_000_000_000;
/** At most this many events of one process are held back. */
export const HOLD_MAX = 100_000;

interface Held {
  first: number;
  last: number;
  events: string[];
}

export interface Folded {
  /** The pid the folded group is drawn under: the first folded process's own. */
  pid: number;
  /** The processes in it. */
  pids: Set<number>;
}

export class ProcessOrder {
  /** GIL wait (ns) per process with GIL data: the contention it is ranked by. */
  private readonly waited = new Map<number, number>();
  /** Processes drawn as themselves although they have no GIL data (they lived a second or more). */
  private readonly kept = new Set<number>();
  private readonly held = new Map<number, Held>();
  /** Every process in the order it first appeared. */
  private readonly seen = new Map<number, number>();
  /** Lifetimes from gil-state's thread records, for processes that drew no event at all. */
  private readonly lives = new Map<number, { first: number; last: number }>();

  constructor(private readonly out: (text: string) => void) {}

  /** A GIL event of PID (`waitNs` of GIL wait in it): from now on the process is drawn as itself. */
  gil(pid: number, waitNs = 0): void {
    this.see(pid);
    this.waited.set(pid, (this.waited.get(pid) ?? 0) + waitNs);
    this.release(pid);
  }

  /** One event of PID covering [ts, end]: written now, or held while the process may still be folded. */
  event(pid: number, ts: number, end: number, text: string): void {
    this.see(pid);
    if (this.waited.has(pid) || this.kept.has(pid)) return this.out(text);
    let h = this.held.get(pid);
    if (h === undefined) {
      h = { first: ts, last: end, events: [] };
      this.held.set(pid, h);
    }
    if (ts < h.first) h.first = ts;
    if (end > h.last) h.last = end;
    h.events.push(text);
    if (h.last - h.first >= SHORT_NS || h.events.length >= HOLD_MAX) {
      this.kept.add(pid);
      this.release(pid);
    }
  }

  /** A thread of PID lived from FIRST to LAST (gil-state's thread record). */
  lived(pid: number, first: number | null, last: number | null): void {
    if (first === null || last === null) return;
    const l = this.lives.get(pid);
    if (l === undefined) this.lives.set(pid, { first, last });
    else {
      l.first = Math.min(l.first, first);
      l.last = Math.max(l.last, last);
    }
  }

  /**
   * The input ended: the processes still held are folded, their events
   * written under the group's pid. Returns the group (undefined when nothing
   * was folded) and the rank of every process, top first.
   */
  finish(): { folded: Folded | undefined; ranked: number[] } {
    let folded: Folded | undefined;
    for (const [pid, h] of this.held) {
      // What was drawn may be a cut of its life (--from/--to, --min-dur): its threads' lifetimes say whether it was short.
      const l = this.lives.get(pid);
      if (l !== undefined && l.last - l.first >= SHORT_NS) {
        for (const text of h.events) this.out(text);
        continue;
      }
      folded ??= { pid, pids: new Set() };
      folded.pids.add(pid);
      for (const text of h.events) this.out(pid === folded.pid ? text : repid(text, folded.pid));
    }
    this.held.clear();
    // A process with nothing drawn (only a fork and an exit) is folded by its threads' lifetimes.
    for (const [pid, l] of this.lives) {
      if (this.seen.has(pid) || l.last - l.first >= SHORT_NS) continue;
      folded ??= { pid, pids: new Set() };
      folded.pids.add(pid);
    }
    for (const pid of this.lives.keys()) this.see(pid);
    const withGil = [...this.waited].sort((a, b) => b[1] - a[1] || this.seen.get(a[0])! - this.seen.get(b[0])!).map(([pid]) => pid);
    const others = [...this.seen.keys()].filter((pid) => !this.waited.has(pid) && !folded?.pids.has(pid));
    return { folded, ranked: [...withGil, ...others, ...(folded ? [folded.pid] : [])] };
  }

  private see(pid: number): void {
    if (!this.seen.has(pid)) this.seen.set(pid, this.seen.size);
  }

  private release(pid: number): void {
    const h = this.held.get(pid);
    if (h === undefined) return;
    this.held.delete(pid);
    for (const text of h.events) this.out(text);
  }
}

/**
 * An event's text with its pid replaced: the first `"pid":` member is the
 * event's own (every event here is built with pid before any name, and a
 * name's quotes are escaped inside its string).
 */
export function repid(text: string, pid: number): string {
  return text.replace(/"pid":-?\d+/, `"pid":${pid}`);
}
