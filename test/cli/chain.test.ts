// The two ways to drive the same filters give the same bytes: chained in one
// process (test/helpers/in-process.ts) and as commands joined by pipes; and
// a command given what comes before its input runs the missing stages itself
// with the same result.
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin } from '../helpers/run.js';
import { ndjsonStatsAndTraceJson } from '../helpers/in-process.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
// One capture of each kind: the other recordings of a kind (another Python
// version, a shorter run, the same program without stacks) take the same code
// paths through both drives, and four processes a capture make this file one
// of the suite's slowest.
const SAME_KIND = new Set(['pool_hog-py311', 'pool_hog-py312', 'two_cpu-short', 'two_cpu-probes-dwarf', 'comm_names', 'two_procs', 'two_cpu-stripped-libc']);
const fixtures = readdirSync(fx).filter((n) => n.endsWith('.perf.txt.gz') && !SAME_KIND.has(n.slice(0, -'.perf.txt.gz'.length)));
const tmp = mkdtempSync(join(tmpdir(), 'chain-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const run = (cmd: string, ...args: string[]) => execa('sh', ['-c', cmd, 'sh', ...args], { stripFinalNewline: false, reject: false });
// The one-process chain of a capture, run once: gil-state's records, and
// gil-stats and to-trace on them, for every test of that capture.
const inProcess = new Map<string, ReturnType<typeof ndjsonStatsAndTraceJson>>();
const chain = (f: string) => inProcess.get(f) ?? inProcess.set(f, ndjsonStatsAndTraceJson(fx + f)).get(f)!;

for (const f of fixtures) {
  t.test(`${f}: the pipe and the one-process chain give the same bytes`, async (t) => {
    const piped = await run(`node ${bin('perf-parse')} "$1" | node ${bin('gil-state')}`, fx + f);
    t.equal(piped.exitCode, 0);
    const chained = chain(f);
    t.ok(chained.ndjson.length > 0);
    t.ok(piped.stdout === chained.ndjson, `perf-parse | gil-state: byte-identical (${chained.ndjson.length} bytes)`);
    // gil-state's output, read from stdin as the pipe would: the inputs are named alike.
    const states = join(tmp, `${f}.ndjson`);
    writeFileSync(states, piped.stdout as string);
    const [stats, trace] = await Promise.all([
      run(`node ${bin('gil-stats')} --format json < "$1"`, states),
      run(`node ${bin('to-trace')} < "$1"`, states),
    ]);
    t.ok(stats.stdout === chained.stats, '| gil-stats: byte-identical');
    t.ok(trace.stdout === chained.trace, '| to-trace: byte-identical');
  });
}

for (const f of ['gil_hog.perf.txt.gz', 'two_procs.default.perf.txt.gz', 'lost.perf.txt.gz', 'two_cpu-dwarf.perf.txt.gz']) {
  t.test(`${f}: perf script text straight into gil-stats and to-trace`, async (t) => {
    const [stats, trace] = await Promise.all([
      run(`zcat "$1" | node ${bin('gil-stats')} --format json`, fx + f),
      run(`zcat "$1" | node ${bin('to-trace')}`, fx + f),
    ]);
    const chained = chain(f);
    t.ok(stats.stdout === chained.stats, 'perf script text | gil-stats = perf-parse | gil-state | gil-stats');
    t.ok(trace.stdout === chained.trace, 'perf script text | to-trace = perf-parse | gil-state | to-trace');
  });
}
