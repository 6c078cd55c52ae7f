#!/usr/bin/env node
// Why the stages do not use ndjson on their hot paths: the same records
// written by ndjson.stringify, by batched JSON.stringify (lib/ndjson.ts
// TextSink), and by the sample serialiser (filters/records.ts sampleJson);
// and read back by ndjson.parse and by the stages' reader (LineSplitter and
// NdjsonDecoder with the contract's narrow()).
// Medians of 5, one run, same records. Input: the shared corpus's benchmark
// capture, or a perf script text given as the first argument.
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import ndjson from 'ndjson';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { PerfParser } = await import(join(root, 'dist/filters/perf-parse.js'));
const { sampleJson, narrow } = await import(join(root, 'dist/filters/records.js'));
const { TextSink, ndjsonEncoder, NdjsonDecoder } = await import(join(root, 'dist/lib/ndjson.js'));
const { LineSplitter, JSON_LINES } = await import(join(root, 'dist/lib/lines.js'));
const { connect, collectingContext } = await import(join(root, 'dist/lib/filter.js'));
const src = process.argv[2] ?? join(root, '..', 'shared', 'corpus', 'many-uprobes.perf.txt.gz');
if (!existsSync(src)) {
  console.error(`bench/serialise: no input (${src})`);
  process.exit(2);
}
const raw = readFileSync(src);
const text = (src.endsWith('.gz') ? gunzipSync(raw) : raw).toString('latin1');
const records = [];
const parser = new PerfParser((r) => records.push(r), collectingContext());
for (const line of text.split('\n')) parser.write(line);
parser.end();
const median = (xs) => [...xs].sort((a, b) => a - b)[2];
const nul = () => new Writable({ write: (_c, _e, cb) => cb() });
const chunks = (s) => {
  const out = [];
  for (let i = 0; i < s.length; i += 65536) out.push(Buffer.from(s.slice(i, i + 65536)));
  return out;
};

async function time(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}
const cases = {
  'ndjson.stringify': () => pipeline(Readable.from(records, { objectMode: true }), ndjson.stringify(), nul()),
  'batched JSON.stringify': async () => {
    const sink = new TextSink();
    const emit = ndjsonEncoder(sink, JSON.stringify);
    const w = nul();
    for (let i = 0; i < records.length; i++) {
      emit(records[i]);
      if ((i & 511) === 511) w.write(sink.take());
    }
    w.end(sink.take());
  },
  'batched sampleJson': async () => {
    const sink = new TextSink();
    const emit = ndjsonEncoder(sink, sampleJson);
    const w = nul();
    for (let i = 0; i < records.length; i++) {
      emit(records[i]);
      if ((i & 511) === 511) w.write(sink.take());
    }
    w.end(sink.take());
  },
};
const ndText = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const reads = {
  'ndjson.parse': () => pipeline(Readable.from(chunks(ndText)), ndjson.parse(), new Writable({ objectMode: true, write: (_c, _e, cb) => cb() })),
  'stages (LineSplitter + NdjsonDecoder + narrow)': async () => {
    const ctx = collectingContext();
    let n = 0;
    const head = connect((emit) => new LineSplitter(emit, ctx, JSON_LINES), new NdjsonDecoder(() => n++, ctx, narrow));
    for (const c of chunks(ndText)) head.write(c);
    head.endInput();
    head.end();
  },
};
const out = [`${records.length} records (${(ndText.length / 1e6).toFixed(1)} MB of NDJSON); median of 5 ms`, ''];
out.push('| writing | ms | records/s |', '|---|---:|---:|');
for (const [name, fn] of Object.entries(cases)) {
  const ts = [];
  for (let i = 0; i < 5; i++) ts.push(await time(fn));
  out.push(`| ${name} | ${Math.round(median(ts))} | ${Math.round(records.length / median(ts))}k |`);
}
out.push('', '| reading | ms | records/s |', '|---|---:|---:|');
for (const [name, fn] of Object.entries(reads)) {
  const ts = [];
  for (let i = 0; i < 5; i++) ts.push(await time(fn));
  out.push(`| ${name} | ${Math.round(median(ts))} | ${Math.round(records.length / median(ts))}k |`);
}
console.log(out.join('\n'));
