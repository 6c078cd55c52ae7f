// The captures a stage has read to their end, by id (a hash of a capture's
// first events: the same recording under any name). A stage that adds up or
// draws what it reads refuses a capture given twice: it would count, or draw,
// every span of it twice.
import { DataError } from '../lib/errors.js';
import type { Where } from '../lib/filter.js';
import type { Capture } from './records.js';

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
