// to-trace's output in the real Catapult viewer (headless Chromium): a real
// capture opens as a user would see it. What is asserted comes from the
// capture's raw take_gil/drop_gil lines, read here with a few lines of
// independent code, never from to-trace's output.
import t from 'tap';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, corpus, hasCorpus, root } from '../helpers/run.js';
import { gilLines } from '../helpers/raw-probes.js';
import { viewerAvailable, openInViewer } from '../helpers/viewer.js';

const tmp = mkdtempSync(join(tmpdir(), 'to-trace-viewer-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const noCorpus = hasCorpus ? false : 'the shared corpus (../shared/corpus) is not beside this checkout';
const ex1 = corpus + 'ex1-uprobes.perf.txt.gz';

type Ev = Record<string, any>;

/** perf-parse | gil-state | to-trace ARGS on a capture, as shell pipes. */
async function toTrace(capture: string, args: string[] = []): Promise<void> {
  const r = await execa('sh', ['-c', 'pp=$1 cap=$2 gs=$3 tt=$4; shift 4; node "$pp" "$cap" | node "$gs" | node "$tt" "$@"', 'sh', bin('perf-parse'), capture, bin('gil-state'), bin('to-trace'), ...args], {
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`to-trace on ${capture}: exit ${r.exitCode}: ${r.stderr}`);
}


t.test('the Catapult viewer opens a real capture as a user would', async (t) => {
  const why = await viewerAvailable();
  if (why) {
    console.log(`# skipping the viewer test: ${why}`);
    return t.skip(why);
  }
  if (noCorpus) return t.skip(noCorpus);
  const file = join(tmp, 'ex1-viewer.json');
  await toTrace(ex1, ['-o', file]);
  const events: Ev[] = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
  const artifacts = join(root, 'test/artifacts');
  mkdirSync(artifacts, { recursive: true });
  const s = await openInViewer({ file }, { screenshot: join(artifacts, 'to-trace-ex1-uprobes.png'), width: 1600, height: 1000 });
  t.same(s.importWarnings, [], 'imported without warnings');
  t.same(s.pageErrors, []);
  t.equal(s.processes.length, 1);
  const p = s.processes[0]!;
  t.equal(p.pid, 2578);
  t.equal(p.name, 'python3.11');
  const raw = gilLines(ex1);
  for (const tid of [2578, 2580, 2581]) {
    const th = p.threads.find((x) => x.tid === tid);
    t.ok(th, `thread ${tid} is there`);
    if (!th) continue;
    t.equal(th.name, tid === 2578 ? 'python3.11 (main thread)' : 'python3.11');
    const takes = raw.filter((r) => r.tid === tid && r.ev === 'take_gil__return').length;
    t.equal(th.asyncSlices['GIL held'], takes, `${tid}: one GIL held slice per take, under the thread`);
    t.equal(th.asyncSlices['GIL wait (take_gil)'], raw.filter((r) => r.tid === tid && r.ev === 'take_gil').length);
    t.ok(th.asyncSlices['running']! > 0, `${tid}: scheduler track`);
    t.same(th.undrawn, [], `${tid}: every slice has a drawn track`);
  }
  const counters = Object.fromEntries(p.counters.map((c) => [c.name, c]));
  t.ok(counters['GIL waiting']?.series[0]?.samples, 'GIL waiting counter');
  t.ok(counters['GIL holder']?.series[0]?.samples, 'GIL holder counter');
  t.ok(Math.max(...counters['GIL waiting']!.series[0]!.values) <= 2, 'at most the other two threads wait');
  t.same([...new Set(counters['GIL holder']!.series[0]!.values)].sort(), [0, 2578, 2580, 2581]);
  const flows = events.filter((e) => e.flow_out).length;
  t.ok(flows > 0);
  t.equal(s.flowEvents, flows, 'every handoff arrow imported');
  t.equal(s.flowEventsBound, flows, 'and bound to both threads');
});
