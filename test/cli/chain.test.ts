// The two ways to drive the same filters give the same bytes: chained in one
// process (test/helpers/in-process.ts) and as commands joined by pipes.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin } from '../helpers/run.js';
import { pipeline } from '../helpers/in-process.js';

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
