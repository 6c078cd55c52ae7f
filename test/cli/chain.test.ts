// The two ways to drive the same filters give the same bytes: chained in one
// process (test/helpers/in-process.ts) and as commands joined by pipes.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin } from '../helpers/run.js';
import { pipeline, statsJson, traceJson } from '../helpers/in-process.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fixtures = readdirSync(fx).filter((n) => n.endsWith('.perf.txt.gz'));

for (const f of fixtures) {
  t.test(`${f}: perf-parse | gil-state equals the in-process chain`, async (t) => {
    const piped = await execa('sh', ['-c', `node ${bin('perf-parse')} "$1" | node ${bin('gil-state')}`, 'sh', fx + f], { stripFinalNewline: false, reject: false });
    t.equal(piped.exitCode, 0);
    const chained = await pipeline(fx + f);
    t.ok(chained.ndjson.length > 0);
    t.ok(piped.stdout === chained.ndjson, `byte-identical (${chained.ndjson.length} bytes)`);
  });
}

for (const f of fixtures) {
  t.test(`${f}: perf-parse | gil-state | gil-stats and | to-trace equal the chain in one process`, async (t) => {
    const sh = (stage: string) =>
      execa('sh', ['-c', `node ${bin('perf-parse')} "$1" | node ${bin('gil-state')} | node ${bin(stage)} ${stage === 'gil-stats' ? '--format json' : ''}`, 'sh', fx + f], {
        stripFinalNewline: false,
        reject: false,
      });
    const [stats, trace] = await Promise.all([sh('gil-stats'), sh('to-trace')]);
    t.ok(stats.stdout === statsJson(fx + f), 'gil-stats: byte-identical');
    t.ok(trace.stdout === traceJson(fx + f), 'to-trace: byte-identical');
    // The commands' own chains: given perf script text, they run perf-parse and gil-state in process.
    const direct = await execa('sh', ['-c', `zcat "$1" | node ${bin('gil-stats')} --format json`, 'sh', fx + f], { stripFinalNewline: false, reject: false });
    t.ok(direct.stdout === stats.stdout, 'perf script text | gil-stats = the pipe');
    const traced = await execa('sh', ['-c', `zcat "$1" | node ${bin('to-trace')}`, 'sh', fx + f], { stripFinalNewline: false, reject: false });
    t.ok(traced.stdout === trace.stdout, 'perf script text | to-trace = the pipe');
  });
}
