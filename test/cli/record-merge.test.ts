// gil-record's merge with VizTracer's trace (record/pipeline.ts) on a trace
// over 64 MB, where pass 1 runs on worker threads and cuts the biggest input
// in parts (merge-trace/split.ts). Run from the build in a process of its
// own, as gil-record runs it: the workers load the built modules. The
// recording is a fixture, so no perf and no root are needed.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const pipeline = fileURLToPath(new URL('../../dist/record/pipeline.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'record-merge-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** record/pipeline.ts's runPipeline in a child process: what gil-record does once perf has stopped. */
function runPipeline(o: { perfData: string; output: string; viztracer?: string }): void {
  // A file, not -e: the workers would inherit --input-type.
  const script = join(tmp, 'run.mjs');
  writeFileSync(script, `import { runPipeline } from ${JSON.stringify(pipeline)};\nawait runPipeline({ ...${JSON.stringify(o)}, say: () => {} });\n`);
  execFileSync(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe'] });
}

t.test('gil-record --viztracer with a trace over 64 MB: scanned on threads, cut in parts, and merged whole', async (t) => {
  const data = join(tmp, 'short.data');
  writeFileSync(data, gunzipSync(readFileSync(fileURLToPath(new URL('../fixtures/two_cpu-short.perf.data.gz', import.meta.url)))));
  // VizTracer's shape, 600,000 X events numbered in their args: 72 MB.
  const vt = join(tmp, 'vt.json');
  const N = 600_000;
  const events: string[] = [];
  for (let k = 0; k < N; k++) events.push(`{"pid": 7, "tid": 7, "ts": ${2380925334 + k * 0.25}, "ph": "X", "dur": 0.125, "name": "work (/app/job.py:${k % 40})", "args": {"k": ${k}}}`);
  writeFileSync(vt, `{"traceEvents": [${events.join(', ')}], "viztracer_metadata": {"version": "1.1.1", "overflow": false}}`);
  t.ok(readFileSync(vt).length > 64 << 20, 'over 64 MB');
  const alone = join(tmp, 'alone.json');
  runPipeline({ perfData: data, output: alone });
  const merged = join(tmp, 'merged.json');
  runPipeline({ perfData: data, output: merged, viztracer: vt });
  const gil = (JSON.parse(readFileSync(alone, 'utf8')) as { traceEvents: unknown[] }).traceEvents;
  const m = JSON.parse(readFileSync(merged, 'utf8')) as { traceEvents: Array<{ args?: { k?: number } }> };
  t.ok(gil.length > 100, `the GIL trace alone: ${gil.length} events`);
  t.equal(m.traceEvents.length, gil.length + N, "merged: the GIL trace's events and every one of VizTracer's");
  t.same(m.traceEvents.slice(0, gil.length), gil, 'the GIL trace first, as it was');
  let inOrder = 0;
  for (let k = 0; k < N; k++) if (m.traceEvents[gil.length + k]?.args?.k === k) inOrder++;
  t.equal(inOrder, N, "then VizTracer's, each once and in order");
  // gil-record's merge is merge-trace's, whose tests hold it to viztracer --combine.
  const cli = execFileSync(process.execPath, [fileURLToPath(new URL('../../dist/bin/merge-trace.js', import.meta.url)), alone, vt], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 30 });
  t.ok(cli.equals(readFileSync(merged)), 'the bytes merge-trace writes for the GIL trace and VizTracer\'s');
});
