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
  //
  // They land in slabs of SLAB bytes, and a take is a slice of one: the next
  // text goes on after it. A slab is filled again once the writer has given
  // back every slice of it. Buffers sized to each take, kept when they fit
  // the next, did not fit often (takes run from 6 KB to a megabyte): on a 10x
  // perf.data to-trace allocated 154 of them, 41 MB, which V8 frees late,
  // outside its heap (ArrayBuffers up to 25 MB at its peak).
  private slab: Buffer = Buffer.allocUnsafe(SLAB);
  /** The first byte of the slab not yet taken. */
  private start = 0;
  /** The first byte of the slab not yet filled. */
  private used = 0;
  private pending = '';
  /** Slices of this take in slabs filled before this one (a burst: megabytes of counters at once). */
  private full: Buffer[] = [];
  /** Per slab, its slices the writer has not given back. */
  private readonly writing = new Map<ArrayBufferLike, number>();
  /** Slabs all given back, to fill again. */
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
    const most = s.length * 3;
    if (this.used + most > SLAB) {
      if (most > SLAB) {
        // Bigger than a slab (one text of megabytes): a buffer of its own, after what is there.
        this.cut();
        this.full.push(Buffer.from(s, 'utf8'));
        return;
      }
      this.nextSlab();
    }
    this.used += (this.slab as unknown as Utf8Write).utf8Write(s, this.used);
  }

  /**
   * The bytes appended since the last take, in order: slices the writer may
   * hold after we go on, usually one. Each is given back by recycle().
   */
  take(): readonly Buffer[] {
    if (this.pending.length > 0) this.settle();
    this.cut();
    if (this.full.length === 0) return NOTHING;
    const out = this.full;
    this.full = [];
    return out;
  }

  /** A take's slice is written: once all of a slab's are, it may be filled again. */
  recycle(b: Buffer): void {
    const whole = b.buffer;
    const n = this.writing.get(whole);
    if (n === undefined) return;
    if (n > 1) {
      this.writing.set(whole, n - 1);
      return;
    }
    this.writing.delete(whole);
    if (whole === this.slab.buffer) {
      // All of the current slab is written: start it again from the top.
      if (this.start === this.used) this.start = this.used = 0;
    } else if (this.spare.length < SPARE_MAX) {
      this.spare.push(Buffer.from(whole, 0, SLAB));
    }
  }

  /** What was filled since the last cut, as a slice of its own the writer will give back. */
  private cut(): void {
    if (this.used === this.start) return;
    this.full.push(this.slab.subarray(this.start, this.used));
    this.writing.set(this.slab.buffer, (this.writing.get(this.slab.buffer) ?? 0) + 1);
    this.start = this.used;
  }

  /** Moves on to an empty slab: this one again if nothing of it is being written, else a spare or a new one. */
  private nextSlab(): void {
    this.cut();
    if (this.writing.has(this.slab.buffer)) this.slab = this.spare.pop() ?? Buffer.allocUnsafe(SLAB);
    this.start = this.used = 0;
  }
}

const NOTHING: readonly Buffer[] = Object.freeze([]);
/** A slab: a few of them in flight at most (a file's write stream holds up to a megabyte). */
const SLAB = 1 << 20;
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
