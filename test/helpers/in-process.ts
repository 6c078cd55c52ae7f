// Runs perf-parse's filter in-process through the real stage transform: the
// same code path as the command, without the cost of a process per file.
import { Readable } from 'node:stream';
import { Sink, lineTransform } from '../../lib/stage.js';
import { PerfParser } from '../../filters/perf-parse.js';

export async function perfParse(input: Buffer | string): Promise<{ out: string; malformed: string[] }> {
  const sink = new Sink();
  const malformed: string[] = [];
  const parser = new PerfParser({ emit: sink.emit, malformed: (line, why) => malformed.push(`${line}: ${why}`) });
  const t = lineTransform('latin1', parser, sink);
  Readable.from([typeof input === 'string' ? Buffer.from(input, 'latin1') : input]).pipe(t);
  let out = '';
  for await (const s of t) out += s;
  return { out, malformed };
}
