// gil-record's pipeline (record/pipeline.ts) on a recording stopped before
// perf wrote an event (Ctrl-C at once): no trace, no table, the outputs of an
// earlier run left as they were, and no stage blaming the set-up.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { runPipeline } from '../../record/pipeline.js';
import { firstRecordOf } from '../helpers/pipe-records.js';

const fx = fileURLToPath(new URL('../fixtures/perfdata/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'record-pipeline-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('a recording with no event: nothing made, the earlier trace and states kept, said once', async (t) => {
  // The pipe fixture up to its first SAMPLE: the header records, whole, and no event.
  const bytes = gunzipSync(readFileSync(fx + 'pipe.perf.data.gz'));
  const p = firstRecordOf(bytes, 9); // PERF_RECORD_SAMPLE
  t.ok(p > 16, `the first SAMPLE at byte ${p}`);
  const data = join(tmp, 'empty.data');
  writeFileSync(data, bytes.subarray(0, p));
  const output = join(tmp, 'gil-trace.json');
  const states = join(tmp, 'states.ndjson');
  writeFileSync(output, 'the trace of an earlier run\n');
  writeFileSync(states, 'the states of an earlier run\n');
  const said: string[] = [];
  const stderr = process.stderr.write.bind(process.stderr);
  const stdout = process.stdout.write.bind(process.stdout);
  const printed: string[] = [];
  process.stderr.write = ((s: string) => (printed.push(String(s)), true)) as typeof process.stderr.write;
  process.stdout.write = ((s: string) => (printed.push(String(s)), true)) as typeof process.stdout.write;
  let r;
  try {
    r = await runPipeline({ perfData: data, output, states, say: (m) => said.push(m) });
  } finally {
    process.stderr.write = stderr;
    process.stdout.write = stdout;
  }
  t.equal(r.empty, true);
  t.equal(readFileSync(output, 'utf8'), 'the trace of an earlier run\n', 'the earlier trace is left');
  t.equal(readFileSync(states, 'utf8'), 'the states of an earlier run\n', 'and the earlier states');
  t.match(said.join('\n'), /empty\.data holds no event \(perf was stopped before it recorded one\): no trace or table made/);
  t.notMatch(printed.join(''), /NO GIL EVENTS|no span records|Record the take_gil/, 'no stage blames the set-up');
  t.notMatch(printed.join(''), /^gil-stats$/m, 'no table');
});
