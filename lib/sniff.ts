// Telling inputs apart by what they hold, not by their names: the first line
// of each input picks the chain it goes through.
import type { Emit, Filter, Make } from './filter.js';

/** How much of an input may be held back while its first line is not complete. */
const MAX_HEAD = 64 * 1024;

/**
 * Holds each input's first bytes until its first non-blank line is whole (or
 * 64 KiB came without one), asks `choose` for the chain that reads such an
 * input, and replays the bytes into it. Every chain chosen feeds `tail`,
 * which is ended once, after the last input.
 */
export class FirstLine<T> implements Filter<Buffer> {
  /** The bytes before the first line is whole: a copy, as chunks are reused. */
  private held = Buffer.alloc(0);
  private front: Filter<Buffer> | undefined;

  constructor(
    private readonly choose: (firstLine: string, head: Buffer) => Make<Buffer, T>,
    private readonly tail: Filter<T>,
  ) {}

  write(chunk: Buffer): void {
    if (this.front !== undefined) {
      this.front.write(chunk);
      return;
    }
    const head = Buffer.concat([this.held, chunk]);
    const line = firstLine(head);
    if (line !== undefined || head.length >= MAX_HEAD) this.start(head, line ?? head.toString('latin1'));
    else this.held = head;
  }

  endInput(): void {
    if (this.front === undefined && this.held.length > 0) {
      const head = this.held;
      this.start(head, firstLine(head) ?? head.toString('latin1'));
    }
    this.front?.endInput?.();
    this.front?.end();
    this.tail.endInput?.();
    this.front = undefined;
    this.held = Buffer.alloc(0);
  }

  end(): void {
    if (this.front !== undefined || this.held.length > 0) this.endInput();
    this.tail.end();
  }

  more(): boolean {
    return this.tail.more?.() === true;
  }

  private start(head: Buffer, line: string): void {
    const emit: Emit<T> = (item) => this.tail.write(item);
    this.front = this.choose(line, head)(emit);
    this.held = Buffer.alloc(0);
    this.front.write(head);
  }
}

/** The first line with something on it, once it is complete. */
function firstLine(head: Buffer): string | undefined {
  let start = 0;
  for (;;) {
    const nl = head.indexOf(10, start);
    if (nl === -1) return undefined;
    const line = head.toString('latin1', start, nl).replace(/\r$/, '');
    if (line.trim() !== '') return line;
    start = nl + 1;
  }
}
