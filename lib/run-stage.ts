// The command-line driver of a chain of filters: inputs in turn, chunk by
// chunk, into the chain's first filter (a LineSplitter); after each chunk,
// whatever the chain's last emit collected goes to the output, with
// backpressure. Ctrl-C stops reading a file at once (and a pipe at its end),
// then the chain is ended and flushed.
import type { Filter } from './filter.js';
import type { BadInput } from './cli.js';
import { type Input, type Output, ReadError, openInput } from './io.js';
import type { TextSink } from './ndjson.js';
import type { Interrupt } from './signals.js';

export interface StageIO {
  out: Output;
  sink: TextSink;
  bad: BadInput;
  interrupt: Interrupt;
}

/** Opens every name first, so a typo in the last one fails before any output. No names: stdin. */
export async function openInputs(names: string[]): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const name of names.length === 0 ? ['-'] : names) inputs.push(await openInput(name));
  return inputs;
}

/** Runs every input through `head`, then ends it; the output is written but not committed. */
export async function pump(inputs: Input[], head: Filter<Buffer>, io: StageIO): Promise<void> {
  for (const input of inputs) {
    if (io.interrupt.requested) {
      input.stream.destroy();
      continue;
    }
    await pumpOne(input, head, io);
  }
  head.end();
  await io.out.write(io.sink.take());
}

async function pumpOne(input: Input, head: Filter<Buffer>, io: StageIO): Promise<void> {
  io.bad.where.file = input.name;
  io.bad.where.line = 0;
  let stop = false;
  const off = io.interrupt.onRequest(() => {
    if (input.isPipe) return;
    stop = true;
    // A file that is being read is stopped at once, not at the next chunk.
    input.stream.destroy();
  });
  try {
    for await (const chunk of input.stream) {
      head.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      await io.out.write(io.sink.take());
      if (stop) break;
    }
  } catch (e) {
    if (!stop) {
      // What was read before the error still counts: flush it, then fail.
      head.endInput?.();
      await io.out.write(io.sink.take());
      throw new ReadError(input.name, e as Error);
    }
  } finally {
    off();
  }
  head.endInput?.();
  await io.out.write(io.sink.take());
}
