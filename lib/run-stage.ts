// The command-line driver of a chain of filters: inputs in turn, chunk by
// chunk, into the chain's first filter (a LineSplitter); a regular file is
// read into two reused buffers, anything else as a stream; after each chunk,
// whatever the chain's last emit collected goes to the output, with
// backpressure. Ctrl-C stops reading a file at once (and a pipe at its end),
// then the chain is ended and flushed.
import type { FileHandle } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import through2 from 'through2';
import type { Filter } from './filter.js';
import type { BadInput } from './cli.js';
import { type Input, type Output, ReadError, openInput, stdinOnce } from './io.js';
import type { FileRegion } from './perf-data/file.js';
import type { TextSink } from './ndjson.js';
import { GRACE_MS, type Interrupt } from './signals.js';
import { BrokenInputError } from './errors.js';

export interface StageIO {
  out: Output;
  sink: TextSink;
  bad: BadInput;
  interrupt: Interrupt;
  /** More outputs a chain fills (a tee), flushed like the first. */
  also?: Array<{ out: Output; sink: TextSink }>;
}

/** Writes what every sink collected since the last time. */
async function flush(io: StageIO): Promise<void> {
  for (const o of [io, ...(io.also ?? [])]) await write(o);
}

/** A sink's bytes to its output, each buffer given back once written. */
async function write(o: { out: Output; sink: TextSink }, bufs: readonly Buffer[] = o.sink.take()): Promise<void> {
  for (const b of bufs) await o.out.write(b, () => o.sink.recycle(b));
}

/** Opens every name first, so a typo in the last one fails before any output. No names: stdin. */
export async function openInputs(names: string[]): Promise<Input[]> {
  stdinOnce(names);
  const inputs: Input[] = [];
  for (const name of names.length === 0 ? ['-'] : names) inputs.push(await openInput(name));
  return inputs;
}

/**
 * A filter chain as a stream: bytes in, the bytes its last emit collected out
 * (the sink's buffers of one input chunk, in object mode, so nothing is
 * copied on the way). The end of the stream is the end of one input.
 */
export function filterStream(head: Filter<Buffer>, sink: TextSink): Transform {
  return through2(
    { readableObjectMode: true },
    function transform(chunk: Buffer, _enc, cb) {
      try {
        head.write(chunk);
      } catch (e) {
        cb(e as Error);
        return;
      }
      const out = sink.take();
      cb(null, out.length > 0 ? out : undefined);
    },
    function flush(this: Transform, cb) {
      try {
        head.endInput?.();
      } catch (e) {
        cb(e as Error);
        return;
      }
      const out = sink.take();
      if (out.length > 0) this.push(out);
      cb();
    },
  );
}

/**
 * A stage's run: every input through `head`; when it fails, no half output
 * is left; then the unusable lines are summarised. The output is written
 * but not committed: the command says its notes first.
 */
export async function runStage(inputs: Input[], head: Filter<Buffer>, io: StageIO): Promise<void> {
  try {
    await pump(inputs, head, io);
  } catch (e) {
    io.out.discard();
    for (const o of io.also ?? []) o.out.discard();
    throw e;
  } finally {
    io.bad.summarise();
  }
}

/** Runs every input through `head`, then ends it; the output is written but not committed. */
export async function pump(inputs: Input[], head: Filter<Buffer>, io: StageIO): Promise<void> {
  for (let input of inputs) {
    if (!io.interrupt.requested && input.open !== undefined) input = await input.open(io.interrupt);
    if (io.interrupt.requested) {
      if (input.file !== undefined) await input.file.close();
      else input.stream.destroy();
      continue;
    }
    await pumpOne(input, head, io);
  }
  await finish(head, io);
  // Not this stage's input (a log, a summary, the wrong file): its output is whole, and the run fails.
  // Interrupted, the output is the partial one Ctrl-C asks for, and the summary names them.
  const unreadable = io.interrupt.requested ? undefined : io.bad.unreadableError();
  if (unreadable !== undefined) throw unreadable;
}

/** Ends the chain and writes what it makes at its end, part by part, each written before the next is made. */
async function finish(head: Filter<Buffer>, io: StageIO): Promise<void> {
  head.end();
  await flush(io);
  while (head.more?.() === true) await flush(io);
}

async function pumpOne(input: Input, head: Filter<Buffer>, io: StageIO): Promise<void> {
  io.bad.startInput(input.name);
  try {
    if (input.file !== undefined) await pumpFile(input.name, input.file, head, io, input.region);
    else await pumpStream(input, head, io);
  } catch (e) {
    // A read error (a gzip cut short): as for a broken input, the chain is flushed, then the run fails.
    if (e instanceof ReadError && !io.interrupt.requested) await finish(head, io);
    throw e;
  }
  const broken = io.bad.brokenInput;
  // Ctrl-C cuts a file anywhere, mid-record too: that is the interrupt's partial output, not a broken input.
  if (broken !== undefined && !io.interrupt.requested) {
    // Whatever later inputs hold, this one's records are all there is: the chain is flushed, then the run fails.
    await finish(head, io);
    throw new BrokenInputError(broken);
  }
  if (!io.interrupt.requested) io.bad.endInput();
  await input.done?.();
}

/** A stream's chunks (a pipe, a gunzipped file, a child's output) through the chain. */
async function pumpStream(input: Input, head: Filter<Buffer>, io: StageIO): Promise<void> {
  const t = filterStream(head, io.sink);
  let grace: NodeJS.Timeout | undefined;
  const cut = (): void => {
    input.stream.unpipe(t);
    input.stream.destroy();
    t.end();
  };
  // A file stops at once; a pipe gets a grace second for what its producer is flushing.
  const stop = (): void => {
    if (!input.isPipe) return cut();
    grace = setTimeout(cut, GRACE_MS);
    grace.unref();
  };
  const off = io.interrupt.onRequest(stop);
  let readError: Error | undefined;
  input.stream.on('error', (e: Error) => {
    // What was read before the error still goes through the chain; then it fails.
    readError = e;
    input.stream.unpipe(t);
    t.end();
  });
  input.stream.pipe(t);
  try {
    for await (const b of t) {
      await write(io, b as readonly Buffer[]);
      for (const o of io.also ?? []) await write(o);
    }
  } finally {
    off();
    if (grace) clearTimeout(grace);
  }
  if (readError) throw new ReadError(input.name, readError);
}

/** The size of a file read: a chunk's text stays below V8's large-object size, so it dies young. */
const FILE_CHUNK = 64 * 1024;

/**
 * A regular file through the chain, read into two buffers that take turns:
 * the next read runs while the chain takes the last one. A stream would
 * allocate a Buffer a read, which the collector frees only when it gets to
 * them: up to 80 MB of them on a long input. Ctrl-C stops at once. With a
 * region (a perf.data's records), its prelude and then only its bytes.
 */
async function pumpFile(name: string, fh: FileHandle, head: Filter<Buffer>, io: StageIO, region?: FileRegion): Promise<void> {
  const bufs = [Buffer.allocUnsafe(FILE_CHUNK), Buffer.allocUnsafe(FILE_CHUNK)];
  let pos = region?.start ?? 0;
  const end = region !== undefined ? region.start + region.len : Infinity;
  const read = (b: Buffer): Promise<number> =>
    pos >= end ? Promise.resolve(0) : fh.read(b, 0, Math.min(b.length, end - pos), pos).then((r) => ((pos += r.bytesRead), r.bytesRead));
  let turn = 0;
  let next: Promise<number> | undefined = read(bufs[0]!);
  let readError: Error | undefined;
  try {
    if (region !== undefined) {
      head.write(region.prelude);
      await flush(io);
    }
    while (!io.interrupt.requested) {
      let n: number;
      try {
        n = await next!;
      } catch (e) {
        // What was read before the error still goes through the chain; then it fails.
        readError = e as Error;
        next = undefined;
        break;
      }
      next = undefined;
      if (n === 0) break;
      const b = bufs[turn]!;
      turn ^= 1;
      next = read(bufs[turn]!);
      head.write(b.subarray(0, n));
      await flush(io);
    }
    head.endInput?.();
    await flush(io);
  } finally {
    // A read still running when the chain threw or Ctrl-C came: let it land before the file closes.
    await next?.catch(() => undefined);
    await fh.close();
  }
  if (readError) throw new ReadError(name, readError);
}
