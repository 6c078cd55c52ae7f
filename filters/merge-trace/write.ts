// Pass 2 of merge-trace: writes the first file's object with the merged
// members in place, and streams every file's events through: as one raw byte
// range when nothing in them changes (the common case: as fast as a copy), or
// through a light rewriter that replaces only the numbers of `ts`, `pid` and
// `tid` where --align, --shift or an id map asks for it. Everything else in
// an event keeps its exact bytes. A big regular file is rewritten in pieces
// on worker threads, cut where pass 1 marked the start of an event.
import { BrokenInputError, DataError } from '../../lib/errors.js';
import type { ByteConsumer } from '../../lib/file-bytes.js';
import { ReadError } from '../../lib/io.js';
import { ConsumerPool, workerThreads } from '../../lib/scan-workers.js';
import * as bytes from '../../lib/json-stream.js';
import { keyIs, numberValue } from '../../lib/json-stream.js';
import type { FileTransform, MergePlan } from './plan.js';
import type { TraceSummary } from './scan.js';

// The scanner's byte classes, as consts of this module: V8 folds those into
// the rewriter's loop, where an imported binding is loaded on every byte.
const PLAIN_IN_STRING = bytes.PLAIN_IN_STRING;
const BORING = bytes.BORING;
const NUMBER_BYTE = bytes.NUMBER_BYTE;

export interface ByteSink {
  /** Resolves when the sink wants more; `written` is called once it is done with `b` (then `b` may be filled again). */
  write(b: Uint8Array, written: () => void): Promise<void>;
}

/** An input's bytes from the start, as pass 1 read them (gunzipped); a chunk may be reused once the next is asked for. */
export type Bytes = AsyncIterable<Buffer> | Iterable<Buffer>;

/**
 * Writes the merged trace. `reopen(i)` gives plan.files[i]'s bytes again
 * from the start; `file(i)`, when given, its path if it is a regular file
 * as it is (not gzip), which may then be rewritten on several threads.
 */
export async function writeMerged(plan: MergePlan, sink: ByteSink, reopen: (i: number) => Promise<Bytes>, file?: (i: number) => string | undefined): Promise<void> {
  let pool: ConsumerPool<PieceJob, PieceResult> | undefined;
  try {
    await writeAll(plan, sink, reopen, (i) => {
      const path = file?.(i);
      const f = plan.files[i]!;
      if (path === undefined || THREADS < 2 || f.eventsEnd - f.eventsStart < PARALLEL_REWRITE || f.marks.length < 4) return undefined;
      pool ??= new ConsumerPool({ url: new URL(import.meta.url), name: 'pieceRewrite' }, THREADS - 1);
      return { path, pool };
    });
  } finally {
    await pool?.close();
  }
}

/** This thread, which writes, and the workers (lib/scan-workers.ts workerThreads: at most 3 in all). */
const THREADS = workerThreads();

/**
 * Below this many bytes of events, a rewrite on one thread costs no more
 * than starting a worker. --align, medians of 5 (2 CPUs): 13 MB 0.47 s on
 * a worker against 0.44 here, 26 MB about even, 60 MB 1.05 against 1.12.
 */
const PARALLEL_REWRITE = 32 << 20;

async function writeAll(plan: MergePlan, sink: ByteSink, reopen: (i: number) => Promise<Bytes>, threads: (i: number) => { path: string; pool: PiecePool } | undefined): Promise<void> {
  let out = '{';
  let wroteEvents = false;
  for (const [k, m] of plan.members.entries()) {
    out += `${k > 0 ? ', ' : ''}${m.rawKey}: `;
    if (m.raw !== undefined) {
      if (typeof m.raw === 'string') out += m.raw;
      else {
        await sink.write(Buffer.from(out), none);
        out = '';
        await sink.write(m.raw, none);
      }
      continue;
    }
    await sink.write(Buffer.from(out + '['), none);
    out = '';
    for (const [i, f] of plan.files.entries()) {
      if (f.events === 0) continue;
      const t = plan.transforms[i]!;
      const needScan = f.form === 'ndjson' || t.alignBy !== undefined || t.shiftBy !== undefined || t.liftBy !== undefined || t.pid !== undefined || t.tid !== undefined;
      if (wroteEvents) await sink.write(SEP, none);
      const on = needScan ? threads(i) : undefined;
      if (on !== undefined) await rewriteInPieces(f, t, on.path, on.pool, sink);
      else if (needScan) await rewriteEvents(f, t, again(f.name, await reopen(i)), sink);
      else await copyRange(f, again(f.name, await reopen(i)), sink);
      wroteEvents = true;
    }
    out = ']';
  }
  await sink.write(Buffer.from(out + '}'), none);
}

const SEP = Buffer.from(', ');
const none = (): void => {};

/**
 * An input read the second time: a read error names it (exit 1), as in pass
 * 1, rather than passing for a bug. The event loop turns after each chunk.
 * Read and written synchronously (a file, and stdout on a file), it would
 * never turn in pass 2, and V8 frees some memory (dead typed-array views'
 * stores, the rest of a collection) only in tasks the loop runs: with
 * `--align > out.json` peak RSS grew to 137 MB for the 800 MB bench input,
 * 100 MB with -o; now 98 MB both. A chunk is a megabyte: the turns cost
 * nothing to see.
 */
async function* again(name: string, bytes: Bytes): AsyncGenerator<Buffer> {
  try {
    for await (const b of bytes) {
      yield b;
      await loopTurn();
    }
  } catch (e) {
    throw e instanceof DataError ? e : new ReadError(name, e as Error);
  }
}

async function copyRange(f: TraceSummary, stream: Bytes, sink: ByteSink): Promise<void> {
  const from = f.eventsStart;
  const to = f.eventsEnd;
  let base = 0;
  // Leaving the loop early (done, or the sink threw) destroys the stream.
  for await (const b of stream) {
    const end = base + b.length;
    if (end > from) {
      const s = Math.max(from - base, 0);
      const e = Math.min(to - base, b.length);
      // The chunk is read into again once the next is asked for: wait until the sink is done with it.
      if (e > s) {
        let written!: () => void;
        const done = new Promise<void>((resolve) => (written = resolve));
        await sink.write(b.subarray(s, e), written);
        await done;
      }
    }
    base = end;
    if (base >= to) break;
  }
  if (base < to) throw new ChangedError(f.name);
}

/** An input that is not what pass 1 read: nothing can be trusted, exit 1. */
export class ChangedError extends DataError {
  constructor(name: string) {
    super(`${name}: changed while being merged (it no longer matches what the first read found)`);
  }
}

const F_TS = 1;
const F_PID = 2;
const F_TID = 3;

/**
 * Streams one input's events (the byte range pass 1 found) joined by `, `,
 * replacing the numbers of ts/pid/tid where the transform says so. Pass 1
 * validated these bytes, so this only has to follow strings and brackets,
 * which is several times cheaper than the validating scanner. An event cut by
 * a chunk boundary is carried into the next chunk and read again.
 */
async function rewriteEvents(f: TraceSummary, t: FileTransform, stream: Bytes, sink: ByteSink): Promise<void> {
  let base = 0;
  let carry: Buffer | undefined;
  let count = 0;
  // The buffers a chunk is joined and built in are used again, not made per
  // chunk: garbage outside the JS heap is collected only when V8 counts
  // enough of it, and peak RSS grew with the input (83 MB for 32 MB of
  // events, 136 MB for 285 MB). An output buffer comes back once the sink is
  // done with it. Nothing here keeps a view of `chunk` past this iteration.
  let joined = Buffer.alloc(0);
  const spare: Buffer[] = [];
  let inFlight: Promise<void> | undefined;
  for await (const chunk of stream) {
    const from = Math.max(f.eventsStart - base, 0);
    const to = Math.min(f.eventsEnd - base, chunk.length);
    base += chunk.length;
    if (to <= from) {
      if (base >= f.eventsEnd) break;
      continue;
    }
    const last = base >= f.eventsEnd;
    const part = chunk.subarray(from, to);
    let b = part;
    if (carry !== undefined) {
      if (joined.length < carry.length + part.length) joined = Buffer.allocUnsafe(Math.max(carry.length + part.length, joined.length * 2));
      carry.copy(joined, 0);
      part.copy(joined, carry.length);
      b = joined.subarray(0, carry.length + part.length);
    }
    carry = undefined;
    // The chunk's output is built in one buffer: far fewer allocations than a slice per event.
    // Made with room to spare, so that the next chunk and its carried event fit too.
    const need = b.length + (b.length >> 1) + 4096;
    let out = spare.pop() ?? Buffer.allocUnsafe(2 * need);
    if (out.length < need) out = Buffer.allocUnsafe(2 * need);
    const built = { out, o: 0 };
    const r = rewriteBytes(b, last, t, count, built);
    count = r.count;
    if (r.cut >= 0) carry = Buffer.from(b.subarray(r.cut));
    out = built.out;
    if (built.o > 0) {
      const used = out;
      let written!: () => void;
      const done = new Promise<void>((resolve) => (written = resolve));
      await sink.write(out.subarray(0, built.o), () => {
        if (spare.length < 2) spare.push(used);
        written();
      });
      // At most two output buffers are out at a time: this one, and the one
      // before it, waited for here. A sink that wants more at once may still
      // hold each buffer until the event loop turns (stdout on a file writes
      // synchronously and calls back on the next tick), and the input, read
      // synchronously, never turns it: a new buffer per chunk, and with
      // `> out.json` peak RSS grew with the input (287 MB for 200 MB).
      await inFlight;
      inFlight = done;
    } else spare.push(out);
    if (base >= f.eventsEnd) break;
  }
  if (carry !== undefined && carry.length > 0) throw new ChangedError(f.name);
  if (count !== f.events) throw new ChangedError(f.name);
}

/**
 * rewriteEvents on worker threads, one per CPU but this one, which writes:
 * the events cut at pass 1's marks (a megabyte apart) into pieces, each
 * read and rewritten into a slot of shared memory, the slots written in
 * order. A slot is given out again once its bytes are written: a few
 * megabytes at any size. Measured on the 800 MB bench input with --align
 * (2 CPUs): 9.4 s before, 7.7 s so, peak RSS 95 and 94 MB. With this thread
 * rewriting every other piece too it took 6.0 s, but 121 MB: its young
 * generation grew to 16 MB beside the worker's. With a new buffer per
 * piece, cloned back to this thread, 220 MB for 200 MB: V8 frees such
 * memory late.
 */
export async function rewriteInPieces(f: TraceSummary, t: FileTransform, path: string, pool: PiecePool, sink: ByteSink): Promise<void> {
  const m = f.marks;
  const jobs: Array<Omit<PieceJob, 'slot'>> = [];
  for (let k = 0; k < m.length; k += 2) {
    const last = k + 2 >= m.length;
    jobs.push({ from: m[k]!, to: last ? f.eventsEnd : m[k + 2]!, before: m[k + 1]!, events: (last ? f.events : m[k + 3]!) - m[k + 1]!, t });
  }
  // Two per worker, so that each has the next piece at hand, and one being written.
  const free = Array.from({ length: 2 * (THREADS - 1) + 1 }, () => new SharedArrayBuffer(SLOT));
  let freed: (() => void) | undefined;
  const queued: Array<{ r: Promise<PieceResult>; slot: SharedArrayBuffer }> = [];
  let next = 0;
  while (next < jobs.length || queued.length > 0) {
    while (next < jobs.length && free.length > 0) {
      const slot = free.pop()!;
      const r = pool.consume({ path, args: { ...jobs[next++]!, slot } });
      // Those left waiting when one fails are not awaited: their failures are not news.
      r.catch(() => undefined);
      queued.push({ r, slot });
    }
    if (queued.length === 0) {
      // Every slot is being written: wait for one.
      await new Promise<void>((resolve) => (freed = resolve));
      continue;
    }
    const { r: pending, slot } = queued.shift()!;
    const r = await pending;
    if ('changed' in r) throw new ChangedError(f.name);
    if ('unreadable' in r) throw new BrokenInputError(`${f.name}: ${r.unreadable}`);
    const bytes = 'length' in r ? Buffer.from(slot, 0, r.length) : Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
    await sink.write(bytes, () => {
      free.push(slot);
      freed?.();
      freed = undefined;
    });
  }
}

/** Where pieces are rewritten: a ConsumerPool of pieceRewrite, or (in tests) this thread. */
export interface PiecePool {
  consume(job: { path: string; args: PieceJob }): Promise<PieceResult>;
}

/** The size of a slot: a megabyte's piece and what its numbers may grow by. A bigger piece (an event of megabytes) comes back as a copy. */
const SLOT = 2 << 20;

/** One piece of an input's events, rewritten on a worker thread. */
export interface PieceJob {
  /** Its bytes in the file: from the first byte of an event to the first of the next piece's. */
  from: number;
  to: number;
  /** The events before it in the file, and in it. */
  before: number;
  events: number;
  t: FileTransform;
  /** Where the rewritten bytes go when they fit. */
  slot: SharedArrayBuffer;
}

/** A piece's bytes rewritten: their length in the slot, or a copy; or the file is not what pass 1 read; or it could not be read (why, in the user's words). */
export type PieceResult = { length: number } | { bytes: Uint8Array } | { changed: true } | { unreadable: string };

/** Buffers for the pieces a thread reads, used again: V8 frees a buffer's memory late. */
const spareBytes: Buffer[] = [];

class PieceRewrite implements ByteConsumer<PieceResult> {
  readonly startsAt: number;
  private readonly b: Buffer;
  private got = 0;

  private readonly whole: Buffer;

  constructor(private readonly job: PieceJob) {
    this.startsAt = job.from;
    const n = job.to - job.from;
    const spare = spareBytes.pop();
    this.whole = spare !== undefined && spare.length >= n ? spare : Buffer.allocUnsafe(n);
    this.b = this.whole.subarray(0, n);
  }

  private done(r: PieceResult): PieceResult {
    spareBytes.push(this.whole);
    return r;
  }

  feed(chunk: Buffer): void {
    this.got += chunk.copy(this.b, this.got, 0, Math.min(chunk.length, this.b.length - this.got));
  }

  wantsMore(): boolean {
    return this.got < this.b.length;
  }

  finish(): PieceResult {
    if (this.got < this.b.length) return this.done({ changed: true });
    const slot = Buffer.from(this.job.slot);
    const built = { out: slot, o: 0 };
    const r = rewriteBytes(this.b, true, this.job.t, this.job.before, built);
    if (r.cut >= 0 || r.count !== this.job.before + this.job.events) return this.done({ changed: true });
    // Outgrown, the slot was left for a buffer of its own.
    return this.done(built.out === slot ? { length: built.o } : { bytes: built.out.subarray(0, built.o) });
  }

  fail(e: unknown): PieceResult {
    this.done({ changed: true });
    throw e;
  }

  unusable(why: string): PieceResult {
    return this.done({ unreadable: why });
  }
}

/** The factory a worker thread calls by name (lib/scan-workers.ts). */
export function pieceRewrite(_path: string, job: PieceJob): ByteConsumer<PieceResult> {
  return new PieceRewrite(job);
}

/** A buffer being filled: `out[0..o)` is written; it is replaced by a bigger one when full. */
interface Built {
  out: Buffer;
  o: number;
}

/**
 * The events in `b` (separators between and around them), after `count`
 * events already written, into `built`: joined by `, `, numbers replaced as
 * `t` says. Returns the count after them, and the offset in `b` of an event
 * that `b` ends inside, to be read again with the bytes after it (-1: none;
 * with `last`, a bare number at the end is whole).
 */
function rewriteBytes(b: Buffer, last: boolean, t: FileTransform, count: number, built: Built): { count: number; cut: number } {
  const moveTs = t.alignBy !== undefined || t.shiftBy !== undefined || t.liftBy !== undefined;
  const want = (s: number, e: number): number => {
    if (moveTs && keyIs(b, s, e, 'ts')) return F_TS;
    if (t.pid !== undefined && keyIs(b, s, e, 'pid')) return F_PID;
    if (t.tid !== undefined && keyIs(b, s, e, 'tid')) return F_TID;
    return 0;
  };
  const n = b.length;
  let out = built.out;
  let o = built.o;
  const room = (k: number): void => {
    if (o + k <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, o + k));
    out.copy(bigger, 0, 0, o);
    out = bigger;
  };
  const put = (s0: number, e0: number): void => {
    room(e0 - s0);
    if (e0 - s0 > 64) {
      o += b.copy(out, o, s0, e0);
    } else {
      // Short runs: a loop beats the cost of calling into copy().
      for (let k = s0; k < e0; k++) out[o++] = b[k]!;
    }
  };
  let cut = -1;
  let i = 0;
  for (;;) {
    // Between events: separators.
    while (i < n && (b[i] === 0x2c || b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
    if (i >= n) break;
    const start = i;
    let copied = start;
    const o0 = o;
    if (count > 0) {
      room(2);
      out[o++] = 0x2c;
      out[o++] = 0x20;
    }
    let depth = 0;
    let done = false;
    let lastStrStart = -1;
    let lastStrEnd = -1;
    while (i < n) {
      const ch = b[i]!;
      if (ch === 0x22) {
        const s0 = i;
        i++;
        for (;;) {
          while (i < n && PLAIN_IN_STRING[b[i]!] === 1) i++;
          if (i >= n) break;
          if (b[i] === 0x5c) {
            i += 2;
            continue;
          }
          break; // the closing quote
        }
        if (i >= n) break;
        i++;
        lastStrStart = s0;
        lastStrEnd = i;
        if (depth === 0) {
          done = true; // an event that is a bare string
          break;
        }
      } else if (ch === 0x7b || ch === 0x5b) {
        depth++;
        i++;
      } else if (ch === 0x7d || ch === 0x5d) {
        depth--;
        i++;
        if (depth === 0) {
          done = true;
          break;
        }
      } else if (ch === 0x3a && depth === 1 && lastStrEnd >= 0) {
        // A member of the event: is it one to rewrite?
        const field = want(lastStrStart, lastStrEnd);
        i++;
        if (field !== 0) {
          while (i < n && (b[i] === 0x20 || b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x09)) i++;
          const v0 = i;
          if (i < n && (b[i] === 0x2d || (b[i]! >= 0x30 && b[i]! <= 0x39))) {
            while (i < n && NUMBER_BYTE[b[i]!] === 1) i++;
            if (i >= n) break;
            const r = replacement(field, b, v0, i, t);
            if (r !== undefined) {
              put(copied, v0);
              room(r.length);
              // A dozen ASCII characters: a loop beats the call into write().
              for (let k = 0; k < r.length; k++) out[o++] = r.charCodeAt(k);
              copied = i;
            }
          }
        }
      } else if (depth === 0) {
        // An event that is a bare number or literal: up to the next separator.
        while (i < n && b[i] !== 0x2c && b[i] !== 0x20 && b[i] !== 0x0a && b[i] !== 0x0d && b[i] !== 0x09) i++;
        if (i < n || last) done = true;
        break;
      } else {
        // Numbers, literals, commas, blanks: nothing to look at until the next quote or bracket.
        i++;
        while (i < n && BORING[b[i]!] === 1) i++;
      }
    }
    if (!done) {
      // Cut by the end of b: forget its output, read it again with the bytes after it.
      o = o0;
      cut = start;
      break;
    }
    put(copied, i);
    count++;
  }
  built.out = out;
  built.o = o;
  return { count, cut };
}

/** The new text of the number `b[s..e)`, or undefined to keep it as it is. */
function replacement(field: number, b: Buffer, s: number, e: number, t: FileTransform): string | undefined {
  const { v, float: isFloat } = numberValue(b, s, e);
  if (!Number.isFinite(v)) return undefined;
  if (field === F_TS) {
    let x = v;
    let float = isFloat;
    if (t.alignBy !== undefined) {
      x = x - t.alignBy;
      float ||= t.alignFloat === true;
    }
    if (t.shiftBy !== undefined) {
      x = x + t.shiftBy;
      float ||= !Number.isInteger(t.shiftBy);
    }
    if (t.liftBy !== undefined) {
      x = x + t.liftBy;
      float ||= !Number.isInteger(t.liftBy);
    }
    const str = String(x);
    // Python writes a float that happens to be whole as `0.0`: same value, same bytes.
    return float && Number.isInteger(x) && Math.abs(x) < 1e16 ? `${str}.0` : str;
  }
  const to = (field === F_PID ? t.pid : t.tid)?.get(v);
  return to === undefined ? undefined : String(to);
}

/** Resolves once the event loop has run its pending tasks. */
function loopTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
