// Runs perf-parse's filter in-process through the real stage transform: the
// same code path as the command, without the cost of a process per file.
import { Readable } from 'node:stream';
import { Sink, lineTransform } from '../../lib/stage.js';
import { PerfParser, recordJson } from '../../filters/perf-parse.js';

export async function perfParse(input: Buffer | string): Promise<{ out: string; malformed: string[] }> {
  const sink = new Sink(recordJson);
  const malformed: string[] = [];
  const parser = new PerfParser({ emit: sink.emit, malformed: (line, why) => malformed.push(`${line}: ${why}`) });
  const t = lineTransform('latin1', parser, sink);
  // In 64 KiB pieces, as a file stream reads, so lines straddle chunks.
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 65536) chunks.push(bytes.subarray(i, i + 65536));
  Readable.from(chunks).pipe(t);
  let out = '';
  for await (const s of t) out += s;
  return { out, malformed };
}

import { GilState, DEFAULTS } from '../../filters/gil-state.js';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** perf-parse then gil-state on a capture file, in-process; records as objects. */
export async function pipeline(path: string): Promise<{ records: Array<Record<string, any>>; ndjson: string }> {
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw) : raw;
  const parsed = await perfParse(text);
  let ndjson = '';
  const state = new GilState((r) => {
    ndjson += JSON.stringify(r) + '\n';
  }, DEFAULTS);
  for (const line of parsed.out.split('\n')) if (line) state.record(JSON.parse(line));
  state.end();
  return { records: ndjson.split('\n').filter(Boolean).map((l) => JSON.parse(l)), ndjson };
}
