#!/usr/bin/env node
// The pipeline benchmark: in one run, on one capture, how fast `perf script`
// emits it and how fast each gilpipe stage consumes it, plus peak memory on
// the capture and on a 10x copy of it; and the commands beside perf script on
// a real recording ten times as long (CPU, peak RSS). The machines are shared and noisy, so
// the runs interleave the commands and the table quotes medians.
//
//   npm run bench                  # records a fresh capture (root + perf), 3 runs
//   npm run bench -- --runs 5
//   npm run bench -- --text FILE   # no perf here: time the stages on a perf script text
//   npm run bench -- --per4m DIR   # also per4m's perf2trace beside to-trace (DIR: a checkout of
//                                  # github.com/maartenbreddels/per4m, run by $PER4M_PYTHON, or by
//                                  # the first of python3 and /usr/bin/python3 that can run it)
//
// Writes bench/results.json and prints a Markdown table for the README.
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? dflt : args[i + 1];
};
const RUNS = Number(opt('runs', 3));
const SCALE = Number(opt('scale', 10));
const SECONDS = Number(opt('seconds', 5));
const bin = (name) => join(root, 'dist', 'bin', `${name}.js`);
const TIME = '/usr/bin/time';
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-bench-'));
const group = `gilbench${process.pid}`;
let probesAdded = false;

function cleanup() {
  if (probesAdded) spawnSync('perf', ['probe', '-q', '-d', `${group}:*`]);
  rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const say = (m) => process.stderr.write(`bench: ${m}\n`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lines = (f) => Number(execFileSync('sh', ['-c', `wc -l < '${f}'`]).toString().trim());

/** Runs `sh -c cmd` under /usr/bin/time: wall and CPU seconds, peak RSS of the measured command. */
function measure(cmd) {
  const r = spawnSync(TIME, ['-f', '%e %U %S %M', 'bash', '-c', `set -o pipefail; ${cmd}`], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const last = r.stderr.trim().split('\n').pop() ?? '';
  const [wall, user, sys, rssKb] = last.split(' ').map(Number);
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr.slice(0, 500)}`);
  return { wall, cpu: user + sys, rssMb: rssKb / 1024 };
}

// per4m is checked before anything is recorded: a python that cannot import its
// modules (tabulate is the one pyenv's interpreters lack) would otherwise fail
// after the quarter of an hour the rest of the bench takes.
const per4mDir = opt('per4m');
const per4mCorpus = join(root, '..', 'shared', 'corpus', 'many-uprobes.perf.txt.gz');
let per4mPython;
if (per4mDir !== undefined) {
  if (!existsSync(per4mCorpus)) say(`per4m: ${per4mCorpus} is missing: not compared`);
  else if (!existsSync(join(per4mDir, 'per4m', 'perf2trace.py'))) say(`per4m: ${per4mDir} holds no per4m/perf2trace.py (a checkout of github.com/maartenbreddels/per4m): not compared`);
  else {
    const head = join(tmp, 'per4m-head.txt');
    execFileSync('sh', ['-c', `gzip -dc '${per4mCorpus}' | head -n 2000 > '${head}'`]);
    const tried = [];
    for (const py of process.env.PER4M_PYTHON ? [process.env.PER4M_PYTHON] : ['python3', '/usr/bin/python3']) {
      const r = spawnSync(py, ['-m', 'per4m', 'perf2trace', 'gil', '-q', '-o', join(tmp, 'per4m-head.json')], {
        input: readFileSync(head),
        env: { ...process.env, PYTHONPATH: [per4mDir, process.env.PYTHONPATH].filter(Boolean).join(':') },
        encoding: 'utf8',
      });
      if (r.status === 0) {
        per4mPython = py;
        break;
      }
      const why = r.error ? r.error.message : (r.stderr.trim().split('\n').filter((l) => !l.startsWith('ignoring ')).pop() ?? `exit ${r.status}`);
      tried.push(`${py}: ${why}`);
    }
    if (per4mPython) say(`per4m: run by ${per4mPython}`);
    else say(`per4m: no python here runs it (${tried.join('; ')}); Debian's python3-tabulate, or PER4M_PYTHON=a python that imports tabulate: not compared`);
  }
}

// ------------------------------------------------------------ the capture
let data;
let bigData;
let perfArgs = '';
let text = opt('text');
if (!existsSync(TIME)) {
  say(`${TIME} is missing (Debian package 'time'): cannot measure`);
  process.exit(2);
}
if (text === undefined) {
  const root0 = process.getuid?.() === 0;
  const perf = spawnSync('perf', ['--version']).status === 0;
  if (!root0 || !perf) {
    const corpus = join(root, '..', 'shared', 'corpus', 'many-uprobes.perf.txt.gz');
    if (!existsSync(corpus)) {
      say('needs root and perf to record, or --text FILE');
      process.exit(2);
    }
    say(`no ${root0 ? 'perf' : 'root'}: timing the stages on ${corpus}; perf script itself is not measured`);
    text = join(tmp, 'capture.txt');
    execFileSync('sh', ['-c', `gzip -dc '${corpus}' > '${text}'`]);
  } else {
    const py = process.env.GILPIPE_PYTHON ?? '/root/.pyenv/versions/3.11.7/bin/python';
    const lib = execFileSync('sh', ['-c', `ldd '${py}' | awk '/libpython/ {print $3; exit}'`]).toString().trim() || py;
    say(`recording examples/workloads/busy_many.py (8 threads napping 0.5 ms every 1000 loops, ${SECONDS} s: the corpus benchmark's shape) with GIL probes on ${lib}`);
    execFileSync('perf', ['probe', '-q', '-x', lib, '-a', `${group}:take_gil_${process.pid}=take_gil`, '-a', `${group}:take_gil_${process.pid}=take_gil%return`, '-a', `${group}:drop_gil_${process.pid}=drop_gil`, '-a', `${group}:drop_gil_${process.pid}=drop_gil%return`]);
    probesAdded = true;
    data = join(tmp, 'capture.data');
    const sched = ['sched_switch', 'sched_waking', 'sched_wakeup', 'sched_wakeup_new', 'sched_process_fork', 'sched_process_exit'].flatMap((e) => ['-e', `sched:${e}`]);
    const record = (out, seconds) =>
      execFileSync('perf', ['record', '-q', '--switch-events', '-k', 'CLOCK_MONOTONIC', ...sched, '-e', `${group}:*`, '-o', out, '--', py, join(root, 'examples', 'workloads', 'busy_many.py'), String(seconds), '8', '0.0005'], { stdio: ['ignore', 'ignore', 'inherit'] });
    record(data, SECONDS);
    // A real recording SCALE times as long: the copies below are made of text and
    // records, and only a real perf.data shows what the reader keeps at that size.
    say(`recording it again for ${SECONDS * SCALE} s: a ${SCALE}x perf.data`);
    bigData = join(tmp, 'big.data');
    record(bigData, SECONDS * SCALE);
    spawnSync('perf', ['probe', '-q', '-d', `${group}:*`]);
    probesAdded = false;
    text = join(tmp, 'capture.txt');
    const { PERF_SCRIPT_ARGS } = await import(join(root, 'dist', 'lib', 'perf.js'));
    perfArgs = PERF_SCRIPT_ARGS.join(' ');
    execFileSync('sh', ['-c', `perf script -i '${data}' ${perfArgs} > '${text}'`]);
  }
}

const parsed = join(tmp, 'parsed.ndjson');
const state = join(tmp, 'state.ndjson');
execFileSync('sh', ['-c', `node '${bin('perf-parse')}' '${text}' > '${parsed}'`]);
execFileSync('sh', ['-c', `node '${bin('gil-state')}' '${parsed}' > '${state}' 2>/dev/null`]);
const textLines = lines(text);
const events = lines(parsed);
const spans = lines(state);
say(`capture: ${textLines} lines of perf script text (${(statSync(text).size / 1e6).toFixed(1)} MB), ${events} records, ${spans} gil-state records`);

// A 10x input: the capture repeated with its times shifted past the previous copy, so
// every stage sees ten times the events of the same threads, in time order.
async function scaled(src, dst, isText) {
  const span = (() => {
    // The first record with a time: a recording's records begin with its header,
    // and perf's synthesised COMM records of the threads alive at the start have ts 0.
    // (Taking one of those made a gap of the machine's uptime between the copies.)
    const first = JSON.parse(execFileSync('sh', ['-c', `grep -m 1 -E '"ts":[1-9]' '${parsed}'`]).toString());
    const lastLine = execFileSync('sh', ['-c', `tail -n 1 '${parsed}'`]).toString();
    return JSON.parse(lastLine).ts - first.ts + 1e9;
  })();
  const out = createWriteStream(dst);
  for (let k = 0; k < SCALE; k++) {
    const rl = createInterface({ input: createReadStream(src), crlfDelay: Infinity });
    for await (let line of rl) {
      if (k > 0) {
        if (isText) {
          line = line.replace(/(\s)(\d+)\.(\d{9}):/, (m, sp, s, ns) => {
            const t = BigInt(s) * 1000000000n + BigInt(ns) + BigInt(k) * BigInt(span);
            return `${sp}${t / 1000000000n}.${String(t % 1000000000n).padStart(9, '0')}:`;
          });
        } else if (line.startsWith('{')) {
          const r = JSON.parse(line);
          for (const key of ['ts', 'first_ts', 'last_ts', 'released_ts', 'woken_ts']) if (typeof r[key] === 'number') r[key] += k * span;
          line = JSON.stringify(r);
        }
      }
      if (!out.write(line + '\n')) await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
}

const stages = [
  { name: 'perf-parse', input: text, cmd: (i) => `node '${bin('perf-parse')}' '${i}'` },
  { name: 'gil-state', input: parsed, cmd: (i) => `node '${bin('gil-state')}' '${i}' 2>/dev/null` },
  { name: 'gil-stats', input: state, cmd: (i) => `node '${bin('gil-stats')}' --format json '${i}'` },
  { name: 'to-trace', input: state, cmd: (i) => `node '${bin('to-trace')}' '${i}'` },
].filter((s) => existsSync(bin(s.name)));

// The answer as users ask for it: one command on the recording, perf script
// piped into one command, and the four-process NDJSON pipe.
const head = data ? `perf script -i '${data}' ${perfArgs} 2>/dev/null` : `cat '${text}'`;
const chains = [
  ...(data
    ? [
        { name: 'perf-parse -i perf.data (native reader)', cmd: `node '${bin('perf-parse')}' -i '${data}' 2>/dev/null` },
        { name: 'gil-stats perf.data (one command)', cmd: `node '${bin('gil-stats')}' --format json '${data}' 2>/dev/null` },
        // The same through perf script's text (the path before the native reader), for the reader's share.
        { name: 'gil-stats perf.data through perf script', cmd: `GILPIPE_PERF_SCRIPT=1 node '${bin('gil-stats')}' --format json '${data}' 2>/dev/null` },
      ]
    : []),
  { name: `${data ? 'perf script' : 'cat'} | gil-stats`, cmd: `${head} | node '${bin('gil-stats')}' --format json 2>/dev/null` },
  { name: `${data ? 'perf script' : 'cat'} | to-trace`, cmd: `${head} | node '${bin('to-trace')}' 2>/dev/null` },
  { name: `${data ? 'perf script' : 'cat'} | perf-parse | gil-state | gil-stats`, cmd: `${head} | node '${bin('perf-parse')}' | node '${bin('gil-state')}' 2>/dev/null | node '${bin('gil-stats')}' --format json` },
  { name: `${data ? 'perf script' : 'cat'} | perf-parse | gil-state | to-trace`, cmd: `${head} | node '${bin('perf-parse')}' | node '${bin('gil-state')}' 2>/dev/null | node '${bin('to-trace')}'` },
];
const results = { perf_script: [] };
for (const s of stages) results[s.name] = [];
for (const c of chains) results[c.name] = [];
for (let r = 0; r < RUNS; r++) {
  say(`run ${r + 1}/${RUNS}`);
  if (data) results.perf_script.push(measure(`perf script -i '${data}' ${perfArgs} > /dev/null 2>&1`));
  for (const s of stages) results[s.name].push(measure(`${s.cmd(s.input)} > /dev/null`));
  for (const c of chains) results[c.name].push(measure(`${c.cmd} > /dev/null`));
}

say(`memory on a ${SCALE}x input`);
const big = {};
const bigText = join(tmp, 'big.txt');
const bigParsed = join(tmp, 'big.ndjson');
const bigState = join(tmp, 'bigstate.ndjson');
await scaled(text, bigText, true);
execFileSync('sh', ['-c', `node '${bin('perf-parse')}' '${bigText}' > '${bigParsed}'`]);
execFileSync('sh', ['-c', `node '${bin('gil-state')}' '${bigParsed}' > '${bigState}' 2>/dev/null`]);
const bigInput = { 'perf-parse': bigText, 'gil-state': bigParsed, 'gil-stats': bigState, 'to-trace': bigState };
for (const s of stages) big[s.name] = measure(`${s.cmd(bigInput[s.name])} > /dev/null`);

// The commands on the real 10x recording, beside perf script on it: CPU and peak RSS.
const bigDataCommands = bigData
  ? [
      { name: 'perf script', cmd: `perf script -i '${bigData}' ${perfArgs} > /dev/null 2>&1` },
      { name: 'perf-parse -i', cmd: `node '${bin('perf-parse')}' -i '${bigData}' > /dev/null 2>&1` },
      { name: 'gil-state', cmd: `node '${bin('gil-state')}' '${bigData}' > /dev/null 2>&1` },
      { name: 'gil-stats', cmd: `node '${bin('gil-stats')}' --format json '${bigData}' > /dev/null 2>&1` },
      { name: 'to-trace -o', cmd: `node '${bin('to-trace')}' '${bigData}' -o '${join(tmp, 'big.json')}' > /dev/null 2>&1` },
    ]
  : [];
const bigDataRuns = Object.fromEntries(bigDataCommands.map((c) => [c.name, []]));
for (let r = 0; r < RUNS && bigData; r++) {
  say(`${SCALE}x perf.data: run ${r + 1}/${RUNS}`);
  for (const c of bigDataCommands) bigDataRuns[c.name].push(measure(c.cmd));
}

// ------------------------------------------------------------ report
const row = (name, runs, n) => {
  const wall = median(runs.map((x) => x.wall));
  const cpu = median(runs.map((x) => x.cpu));
  return { name, wall, cpu, rate: n / wall, rssMb: median(runs.map((x) => x.rssMb)) };
};
const table = [];
if (data) table.push({ ...row('perf script (emits the text)', results.perf_script, textLines), unit: 'lines' });
const units = { 'perf-parse': [textLines, 'lines'], 'gil-state': [events, 'records'], 'gil-stats': [spans, 'records'], 'to-trace': [spans, 'records'] };
for (const s of stages) table.push({ ...row(s.name, results[s.name], units[s.name][0]), unit: units[s.name][1], bigRss: big[s.name].rssMb });
for (const c of chains) table.push({ ...row(c.name, results[c.name], textLines), unit: 'lines' });
const ps = table[0].name.startsWith('perf script') ? table[0] : undefined;

const fmt = (x, d = 2) => x.toFixed(d);
// A pipe in a command's name would end its Markdown cell.
const cell = (name) => name.replace(/\|/g, '\\|');
const out = [];
out.push(`Capture: ${textLines.toLocaleString('en')} lines of \`perf script\` text (${(statSync(text).size / 1e6).toFixed(1)} MB), ${events.toLocaleString('en')} events, ${spans.toLocaleString('en')} gil-state records; median of ${RUNS} interleaved runs on ${execFileSync('nproc').toString().trim()} CPUs.`);
out.push('');
out.push(`| command | wall s | CPU s | rate | wall / perf script's | CPU / perf script's | peak RSS MB | on ${SCALE}x input |`);
out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of table) {
  const wall = ps && r !== ps ? `${fmt(r.wall / ps.wall, 1)}x` : '';
  const cpu = ps && r !== ps ? `${fmt(r.cpu / ps.cpu, 1)}x` : '';
  out.push(`| ${cell(r.name)} | ${fmt(r.wall)} | ${fmt(r.cpu)} | ${Math.round(r.rate / 1000)}k ${r.unit}/s | ${wall} | ${cpu} | ${Math.round(r.rssMb)} | ${r.bigRss ? Math.round(r.bigRss) : ''} |`);
}
const traceBytes = existsSync(bin('to-trace')) ? Number(execFileSync('sh', ['-c', `node '${bin('to-trace')}' '${state}' | wc -c`]).toString().trim()) : undefined;
if (traceBytes) out.push('', `to-trace output: ${(traceBytes / 1e6).toFixed(1)} MB, ${Math.round(traceBytes / textLines)} bytes per input line (per4m: 132 MB for 378,798 lines, 348 bytes per line).`);

let bigDataTable;
if (bigData) {
  const n = Number(execFileSync('sh', ['-c', `perf script -i '${bigData}' ${perfArgs} 2>/dev/null | wc -l`]).toString().trim());
  bigDataTable = bigDataCommands.map((c) => row(c.name, bigDataRuns[c.name], n));
  const ps10 = bigDataTable[0];
  out.push(
    '',
    `On a ${SCALE}x recording (${SECONDS * SCALE} s, ${(statSync(bigData).size / 1e6).toFixed(0)} MB of perf.data, ${n.toLocaleString('en')} lines of perf script text), median of ${RUNS}:`,
    '',
    '| command on the perf.data | CPU s | CPU / perf script\'s | peak RSS MB |',
    '|---|---:|---:|---:|',
    ...bigDataTable.map((r) => `| ${r.name} | ${fmt(r.cpu)} | ${r === ps10 ? '' : `${fmt(r.cpu / ps10.cpu, 2)}x`} | ${Math.round(r.rssMb)} |`),
  );
}

// per4m's perf2trace against to-trace on the capture per4m was measured on (../shared/notes/per4m.md),
// from a checkout of its source, interleaved with to-trace.
let per4m;
if (per4mPython) {
  const many = join(tmp, 'many-uprobes.perf.txt');
  execFileSync('sh', ['-c', `gzip -dc '${per4mCorpus}' > '${many}'`]);
  const env = `PYTHONPATH='${per4mDir}'\${PYTHONPATH:+:\$PYTHONPATH}`;
  const runs = { per4m: [], toTrace: [] };
  say(`per4m: perf2trace gil and to-trace on ${per4mCorpus}, ${RUNS} runs`);
  try {
    for (let r = 0; r < RUNS; r++) {
      runs.per4m.push(measure(`${env} '${per4mPython}' -m per4m perf2trace gil -q -o '${join(tmp, 'per4m.json')}' < '${many}'`));
      runs.toTrace.push(measure(`node '${bin('to-trace')}' '${many}' -o '${join(tmp, 'to-trace.json')}' 2>/dev/null`));
    }
  } catch (err) {
    // The table above is already measured: keep it, and say why per4m is not in it.
    say(`per4m: ${err.message.split('\n')[0]}: not compared`);
  }
  if (runs.toTrace.length === RUNS) {
    const n = lines(many);
    per4m = { lines: n, python: per4mPython, per4m: row('per4m perf2trace gil', runs.per4m, n), toTrace: row('to-trace', runs.toTrace, n) };
    out.push(
      '',
      `per4m's perf2trace on many-uprobes (${n.toLocaleString('en')} lines): ${fmt(per4m.per4m.wall)} s wall, ${Math.round(per4m.per4m.rssMb)} MB; to-trace ${fmt(per4m.toTrace.wall)} s, ${Math.round(per4m.toTrace.rssMb)} MB: ${fmt(per4m.per4m.wall / per4m.toTrace.wall, 1)}x faster (medians of ${RUNS}, interleaved).`,
    );
  }
}

console.log(out.join('\n'));
writeFileSync(join(root, 'bench', 'results.json'), JSON.stringify({ date: new Date().toISOString(), textLines, events, spans, runs: RUNS, scale: SCALE, table, traceBytes, ...(bigDataTable ? { bigData: bigDataTable } : {}), ...(per4m ? { per4m } : {}) }, null, 2) + '\n');
