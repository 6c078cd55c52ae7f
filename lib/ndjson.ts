// NDJSON in and out of a chain. The stages parse and serialise themselves,
// per line here and in batches per chunk in the runner, rather than through
// the ndjson package: it is several times slower on this path
// (bench/serialise.mjs), reports no line numbers, and stops at a literal
// `null` line.
import type { Context, Emit, Filter } from './filter.js';

/** A parsed JSON value as the record type T, or the reason it is not one. */
export type Narrow<T> = (value: unknown) => T | string;

/** The deepest nesting of arrays and objects a line may have (past it, JSON.stringify would run out of stack). */
export const MAX_DEPTH = 1000;

/** Whether `line` nests arrays and objects deeper than `max`: counted outside strings. */
export function nestsDeeper(line: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** Lines of JSON to records: a line that is not JSON, or not a record, is malformed. */
export class NdjsonDecoder<T> implements Filter<string> {
  constructor(
    protected readonly emit: Emit<T>,
    private readonly ctx: Context,
    private readonly narrow: Narrow<T>,
  ) {}

  write(line: string): void {
    if (line.length === 0) return;
    const rec = this.decode(line);
    if (rec !== undefined) this.emit(rec);
  }

  /** A non-empty line's record, or undefined when it is malformed (and said so). */
  protected decode(line: string): T | undefined {
    // Nesting that deep takes at least twice as many characters: short lines need no count.
    if (line.length > 2 * MAX_DEPTH && nestsDeeper(line, MAX_DEPTH)) {
      this.ctx.malformed(`nested deeper than ${MAX_DEPTH} levels: ${preview(line)}`);
      return undefined;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.ctx.malformed(`not JSON: ${preview(line)}`);
      return undefined;
    }
    const rec = this.narrow(value);
    if (typeof rec === 'string') {
      this.ctx.malformed(`${rec}: ${preview(line)}`);
      return undefined;
    }
    return rec;
  }

  end(): void {}
}

/** Collects output text between two flushes of the runner. */
export class TextSink {
  // Text goes into bytes every few KB. Appended to one string, a chunk's
  // output was a rope of thousands of pieces, held until the write and then
  // flattened to make its bytes: 15 % of to-trace's CPU, and 35 MB of its
  // peak RSS (perf-parse's: 15 MB). A short rope flattens cheaply, and the
  // bytes are written where they land.
  private buf: Buffer = Buffer.allocUnsafe(SINK_BYTES);
  private used = 0;
  private pending = '';
  /**
   * Buffers filled since the last take, before `buf`. A burst of output
   * (to-trace's counters after a gap in the input: megabytes at once) fills
   * several of at most BIGGEST bytes, instead of one buffer grown by doubling
   * and kept.
   */
  private full: Buffer[] = [];
  /**
   * Buffers the writer is done with, to fill again: a buffer per take was
   * garbage V8 collects late (outside its heap), and at to-trace's end,
   * written a megabyte at a time, RSS grew by 30 MB of them.
   */
  private readonly spare: Buffer[] = [];

  /** Appends text as it is. */
  text = (s: string): void => {
    this.pending += s;
    if (this.pending.length >= PENDING_CHARS) this.settle();
  };

  private settle(): void {
    const s = this.pending;
    this.pending = '';
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    if (this.used + s.length * 3 > this.buf.length) this.grow(s.length * 3);
    this.used += (this.buf as unknown as Utf8Write).utf8Write(s, this.used);
  }

  /**
   * The bytes appended since the last take, in order: buffers of their own
   * (the writer may hold them after we go on), usually one.
   */
  take(): readonly Buffer[] {
    if (this.pending.length > 0) this.settle();
    const n = this.used;
    if (n === 0 && this.full.length === 0) return NOTHING;
    const out = this.full;
    this.full = [];
    if (n === 0) return out;
    this.used = 0;
    // A small take is copied out, and the buffer kept for the next.
    if (n < SINK_BYTES / 16) {
      out.push(Buffer.from(this.buf.subarray(0, n)));
      return out;
    }
    out.push(this.buf.subarray(0, n));
    this.buf = this.next(n);
    return out;
  }

  /**
   * A buffer for about `n` bytes, the size of the last take: one that holds
   * it rather than one to grow again. Spares too small for it are dropped, or
   * they would fill the pool and every bigger buffer written would be refused.
   */
  private next(n: number): Buffer {
    const fit = this.spare.findIndex((x) => x.length >= n);
    if (fit >= 0) return this.spare.splice(fit, 1)[0]!;
    this.spare.length = 0;
    return Buffer.allocUnsafe(Math.min(BIGGEST, Math.max(SINK_BYTES, roundUp(n + (n >> 1)))));
  }

  /** A take's bytes are written: its buffer may be filled again (a copied small take is left to the GC). */
  recycle(b: Buffer): void {
    const whole = b.buffer;
    if (b.byteOffset !== 0 || whole.byteLength < SINK_BYTES || whole.byteLength > BIGGEST || this.spare.length >= SPARE_MAX) return;
    this.spare.push(Buffer.from(whole, 0, whole.byteLength));
  }

  private grow(more: number): void {
    if (this.buf.length >= BIGGEST && this.used > 0) {
      // Full at the biggest size: it goes out as it is, and a fresh one takes the rest.
      this.full.push(this.buf.subarray(0, this.used));
      this.buf = this.next(BIGGEST);
      this.used = 0;
      if (more <= this.buf.length) return;
    }
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + more));
    this.buf.copy(next, 0, 0, this.used);
    this.buf = next;
  }
}

const SINK_BYTES = 1 << 16;
const NOTHING: readonly Buffer[] = Object.freeze([]);
/** The size a buffer grows to before the next is started: a few of them in flight at most. */
const BIGGEST = 1 << 20;
const roundUp = (n: number): number => Math.ceil(n / SINK_BYTES) * SINK_BYTES;
const SPARE_MAX = 4;
const PENDING_CHARS = 4096;
/** Buffer's own UTF-8 writer (Node 0.x to 24): write() without its argument parsing, which cost 5 % on small pieces. */
interface Utf8Write {
  utf8Write(s: string, offset: number): number;
}

/** Records to lines of JSON, into a TextSink. */
export function ndjsonEncoder<T>(sink: TextSink, serialise: (rec: T) => string): Emit<T> {
  return (rec) => sink.text(serialise(rec) + '\n');
}

export function preview(text: string): string {
  const t = text.length > 60 ? text.slice(0, 57) + '...' : text;
  return JSON.stringify(t);
}
