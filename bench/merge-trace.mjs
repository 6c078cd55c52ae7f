#!/usr/bin/env node
// Benchmark: merge-trace on ~800 MB of VizTracer-shaped JSON, beside a plain
// `cat` of the same bytes (the physical limit of reading and writing them).
// Generates two inputs (60% / 40%, like the big1/big2 pair measured for
// viztracer --combine), runs each command 3 times, prints medians of wall time,
// MB/s and peak RSS (from /usr/bin/time), then deletes everything.
//
//   node bench/merge-trace.mjs            # ~800 MB (MB=200 for a quick look)
//   MB=800 RUNS=3 node bench/merge-trace.mjs
//   BASELINE=/tmp/old/dist/bin/merge-trace.js node bench/merge-trace.mjs   # beside another build
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, statSync, readFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir, availableParallelism } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const bin = join(here, '..', 'dist', 'bin', 'merge-trace.js');
const totalMB = Number(process.env.MB ?? 800);
const runs = Number(process.env.RUNS ?? 3);
if (!existsSync(bin)) {
  console.error('build first: npx tsc -p .');
  process.exit(2);
}
const baseline = process.env.BASELINE;
if (baseline && !existsSync(baseline)) {
  console.error(`BASELINE=${baseline}: no such file (another build's dist/bin/merge-trace.js)`);
  process.exit(2);
}
if (!existsSync('/usr/bin/time')) {
  console.error('needs /usr/bin/time (GNU time) for peak RSS');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'merge-trace-bench-'));
const cleanup = () => rmSync(dir, { recursive: true, force: true });
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

// One VizTracer trace: M events, then X events as the C tracer records them
// (by end time, stdlib json separators), then metadata and file_info.
function generate(path, bytes, pid) {
  const fd = openSync(path, 'w');
  const src = 'def f(n):\n    return n * 2\n\n\ndef g(n):\n    return f(n) + 1\n';
  let ts = 643105628.094;
  let written = 0;
  const put = (s) => {
    writeSync(fd, s);
    written += Buffer.byteLength(s);
  };
  put(`{"traceEvents": [{"ph": "M", "pid": ${pid}, "tid": ${pid}, "name": "process_name", "args": {"name": "MainProcess"}}, `);
  put(`{"ph": "M", "pid": ${pid}, "tid": ${pid}, "name": "thread_name", "args": {"name": "MainThread"}}`);
  // 16 distinct batches of 20,000 events, cycled: generating is then mostly writing.
  const batches = [];
  for (let k = 0; k < 16; k++) {
    let batch = '';
    for (let e = 0; e < 20000; e++) {
      const m = k * 20000 + e;
      const dur = 0.2 + ((m * 7919) % 1000) / 3331.123456789;
      const name = m % 2 === 0 ? 'f (/tmp/busy.py:1)' : 'g (/tmp/busy.py:5)';
      batch += `, {"pid": ${pid}, "tid": ${pid}, "ts": ${ts.toFixed(3)}, "ph": "X", "dur": ${dur}, "name": "${name}", "cat": "FEE"}`;
      ts += 0.731;
    }
    batches.push(Buffer.from(batch));
  }
  let n = 0;
  for (let k = 0; written < bytes; k++) {
    writeSync(fd, batches[k % 16]);
    written += batches[k % 16].length;
    n += 20000;
  }
  put(
    `], "viztracer_metadata": {"version": "1.1.1", "overflow": false, "baseTimeNanoseconds": 1795314241455534028}, ` +
      `"file_info": {"files": {"/tmp/busy.py": ${JSON.stringify([src, 6]).replace(',6]', ', 6]')}}, "functions": {"f (/tmp/busy.py:1)": ["/tmp/busy.py", 1], "g (/tmp/busy.py:5)": ["/tmp/busy.py", 5]}}}`,
  );
  closeSync(fd);
  return n + 2;
}

const a = join(dir, 'big1.json');
const b = join(dir, 'big2.json');
const out = join(dir, 'out.json');
process.stderr.write(`generating ${totalMB} MB in ${dir} ...\n`);
const events = generate(a, totalMB * 0.6e6, 4242) + generate(b, totalMB * 0.4e6, 4343);
const inBytes = statSync(a).size + statSync(b).size;

function timed(argv, outPath) {
  const fd = openSync(outPath, 'w');
  const timeFile = join(dir, 'time.txt');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', '-o', timeFile, ...argv], { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [wall, kb, user, sys] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  return { wall, cpu: user + sys, rssMB: kb / 1024, outBytes: statSync(outPath).size };
}

const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
// BASELINE=path/to/other/dist/bin/merge-trace.js also times another build on
// the same files: on a shared machine whose speed varies by 3x in a day, that
// tells the code's change from the machine's (checked above).
const cases = [
  ['cat A B', ['cat', a, b]],
  ['merge-trace A B', ['node', bin, a, b]],
  ...(baseline ? [['merge-trace A B (BASELINE build)', ['node', baseline, a, b]]] : []),
  ['merge-trace --align A B', ['node', bin, '--align', a, b]],
  ...(baseline ? [['merge-trace --align A B (BASELINE build)', ['node', baseline, '--align', a, b]]] : []),
];
// Interleaved (run k of every case, then run k+1): a slow minute falls on
// all of them. In the opposite order every other run: a run's time depends
// on what ran just before it (writing 800 MB into the page cache after
// another command freed 800 MB of it cost one build 0.25 s more kernel time
// right after `cat` than right after another merge), so a fixed order
// favours a case by its place.
const results = cases.map(() => []);
for (let k = 0; k < runs; k++) {
  const order = cases.map((_c, c) => c);
  if (k % 2 === 1) order.reverse();
  for (const c of order) {
    results[c].push(timed(cases[c][1], out));
    rmSync(out, { force: true });
  }
}
const rows = cases.map(([label], c) => {
  const res = results[c];
  const wall = median(res.map((r) => r.wall));
  return { label, wall, cpu: median(res.map((r) => r.cpu)), mbs: inBytes / 1e6 / wall, rss: median(res.map((r) => r.rssMB)), out: res[0].outBytes };
});
console.log(`input: 2 files, ${(inBytes / 1e6).toFixed(1)} MB, ${events.toLocaleString('en')} events; median of ${runs} runs, the cases in turn and every other run in the opposite order; output to a file on the same disk`);
console.log(`load average before: ${loadBefore}, after: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (on ${availableParallelism()} CPUs)`);
console.log('| command | wall s | MB/s (input / wall) | CPU s (user+sys) | peak RSS MB | output MB |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.label} | ${r.wall.toFixed(2)} | ${r.mbs.toFixed(0)} | ${r.cpu.toFixed(2)} | ${r.rss.toFixed(0)} | ${(r.out / 1e6).toFixed(1)} |`);
