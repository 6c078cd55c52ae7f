// The captures a stage has read to their end, by id (a hash of a capture's
// first events: the same recording under any name). A stage that adds up or
// draws what it reads refuses a capture given twice: it would count, or draw,
// every span of it twice.
import { DataError } from '../lib/errors.js';
import type { Where } from '../lib/filter.js';
import type { Capture, Handoff } from './records.js';

export class CaptureIds {
  /** Id -> the input it was read from. */
  private readonly seen = new Map<string, string>();

  /** Notes the capture of `id` read at `where`; throws if one with that id was read before. */
  add(id: Capture['id'], where: Where): void {
    if (id === undefined) return;
    const first = this.seen.get(id);
    if (first !== undefined) throw new DataError(`${where.file}:${where.line}: the same capture as in ${first} (capture id ${id}): give each capture once`);
    this.seen.set(id, where.file);
  }

  ids(): string[] {
    return [...this.seen.keys()];
  }
}

/**
 * Within a capture, gil-state writes each process's handoffs in time order,
 * one holder at a time: one at or before the latest, from and to the same
 * threads, is a record given twice (a stream without its capture record has
 * no id to refuse it by) or out of order.
 */
export class HandoffOrder {
  private readonly latest = new Map<number | null, Handoff>();

  /** Why `rec` cannot follow the process's handoffs so far, or undefined (then it is the latest). */
  refuse(rec: Handoff): string | undefined {
    const last = this.latest.get(rec.pid);
    if (last !== undefined && (rec.ts < last.ts || (rec.ts === last.ts && rec.from_tid === last.from_tid && rec.to_tid === last.to_tid))) {
      return `a handoff of process ${rec.pid} at ${rec.ts}, not after the one at ${last.ts} (a record given twice, or out of order?)`;
    }
    this.latest.set(rec.pid, rec);
    return undefined;
  }

  /** A new capture: its times are its own. */
  clear(): void {
    this.latest.clear();
  }
}
