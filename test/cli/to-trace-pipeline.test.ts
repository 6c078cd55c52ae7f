// to-trace as a user runs it: perf-parse | gil-state | to-trace on real
// captures. What is asserted comes from the captures themselves (the raw
// take_gil/drop_gil lines, read here with a few lines of independent code),
// and from the Trace Event rules (test/helpers/validate-trace.ts), never from
// to-trace's output. What the real viewer makes of it: test/viewer/to-trace-viewer.test.ts.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, corpus, hasCorpus, root, runBin } from '../helpers/run.js';
import { gilLines } from '../helpers/raw-probes.js';
import { pipeline } from '../helpers/in-process.js';
import { validateTrace, validateTraceFile } from '../helpers/validate-trace.js';
import { ToTrace, DEFAULTS } from '../../filters/to-trace.js';
import { narrow } from '../../filters/records.js';
import { collectingContext, connect, endAll } from '../../lib/filter.js';
import { NdjsonDecoder } from '../../lib/ndjson.js';

const tmp = mkdtempSync(join(tmpdir(), 'to-trace-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const noCorpus = hasCorpus ? false : 'the shared corpus (../shared/corpus) is not beside this checkout';
const fixtures = join(root, 'test/fixtures/');
const ex1 = corpus + 'ex1-uprobes.perf.txt.gz';

type Ev = Record<string, any>;
const ns = (us: number) => Math.round(us * 1000);

/** perf-parse | gil-state | to-trace ARGS on a capture, as shell pipes. */
async function toTrace(capture: string, args: string[] = []): Promise<{ text: string; stderr: string }> {
  const r = await execa('sh', ['-c', 'pp=$1 cap=$2 gs=$3 tt=$4; shift 4; node "$pp" "$cap" | node "$gs" | node "$tt" "$@"', 'sh', bin('perf-parse'), capture, bin('gil-state'), bin('to-trace'), ...args], {
    reject: false,
    stripFinalNewline: false,
  });
  if (r.exitCode !== 0) throw new Error(`to-trace on ${capture}: exit ${r.exitCode}: ${r.stderr}`);
  return { text: r.stdout as string, stderr: r.stderr as string };
}


function series(events: Ev[], name: string): Array<[number, number]> {
  return events.filter((e) => e.ph === 'C' && e.name === name).map((e) => [ns(e.ts), Object.values(e.args)[0] as number]);
}

t.test('every recorded fixture and corpus capture makes a trace the importers accept', async (t) => {
  const files = [
    ...(existsSync(fixtures) ? readdirSync(fixtures).filter((f) => f.endsWith('.perf.txt.gz')).map((f) => fixtures + f) : []),
    ...(hasCorpus ? ['ex0-sched', 'ex1-uprobes', 'ex1-dwarf', 'ex1-fp', 'ex1-stripped-libc', 'ex3-uprobes'].map((n) => `${corpus}${n}.perf.txt.gz`) : []),
  ];
  if (files.length === 0) return t.skip('no fixtures and no corpus here');
  for (const file of files) {
    const { records, ndjson } = await pipeline(file);
    const ctx = collectingContext(file);
    let text = '';
    const chain = connect((emit) => new NdjsonDecoder(emit, ctx, narrow), new ToTrace((s) => (text += s), ctx, { ...DEFAULTS, version: 'test' }));
    for (const line of ndjson.split('\n')) chain.write(line);
    endAll(chain);
    const name = file.replace(/.*\//, '');
    t.same(validateTrace(text), [], `${name}: valid`);
    const events: Ev[] = JSON.parse(text).traceEvents;
    const spans = records.filter((r) => r.type === 'span').length;
    t.equal(events.filter((e) => e.ph === 'b').length, spans, `${name}: every span drawn`);
  }
});

t.test('a real capture (ex1-uprobes): per4m names, thread metadata, counts from the raw probe lines', { skip: noCorpus }, async (t) => {
  const { text } = await toTrace(ex1);
  t.same(validateTrace(text), []);
  const events: Ev[] = JSON.parse(text).traceEvents;
  const raw = gilLines(ex1);
  const count = (ev: string) => raw.filter((r) => r.ev === ev).length;
  const drawn = (name: string) => events.filter((e) => e.ph === 'b' && e.name === name).length;
  // per4m draws take_gil, LOCK and drop_gil spans; ours are one span per probe pair.
  t.equal(drawn('GIL wait (take_gil)'), count('take_gil'), 'one wait per take_gil entry');
  t.equal(drawn('GIL held'), count('take_gil__return'), 'one hold per take_gil return');
  t.equal(drawn('GIL handoff (drop_gil)'), count('drop_gil'), 'one handoff span per drop_gil entry');
  t.ok(drawn('running') > 0 && drawn('runnable') > 0 && drawn('S(GIL)') > 0, 'scheduler states, GIL sleeps told apart');

  // Threads: the three of example1.py in one numeric process, the main one named so.
  const names = Object.fromEntries(events.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, e.args.name]));
  t.same(Object.keys(names).map(Number).sort(), [2578, 2580, 2581]);
  t.equal(names[2578], 'python3.11 (main thread)');
  t.equal(names[2580], 'python3.11');
  t.match(events.find((e) => e.ph === 'M' && e.name === 'process_name'), { pid: 2578, tid: 2578, args: { name: 'python3.11' } });
  t.same(events.filter((e) => !Number.isInteger(e.pid) || (e.tid !== undefined && !Number.isInteger(e.tid))), [], 'numeric pid and tid');
  t.same([...new Set(events.filter((e) => e.s !== 'g').map((e) => e.pid))], [2578], 'one process, as example1.py is');
  for (const tid of [2578, 2580, 2581]) {
    t.ok(events.some((e) => e.ph === 'b' && e.cat === 'gil' && e.id === tid && e.tid === tid), `${tid} has a GIL track`);
    t.ok(events.some((e) => e.ph === 'b' && e.cat === 'sched' && e.id === tid && e.tid === tid), `${tid} has a sched track`);
  }

  // Counters, recomputed from the raw lines: waiting = threads between take_gil
  // and its return; holder = the thread between take_gil return and drop_gil.
  const waiting = new Set<number>();
  let holder = 0;
  const wantWaiting: Array<[number, number]> = [];
  const wantHolder: Array<[number, number]> = [];
  const push = (list: Array<[number, number]>, ts: number, v: number) => {
    if (list.length > 0 && list.at(-1)![0] === ts) list.pop();
    if ((list.at(-1)?.[1] ?? 0) !== v) list.push([ts, v]);
  };
  for (const r of raw) {
    if (r.ev === 'take_gil') waiting.add(r.tid);
    else if (r.ev === 'take_gil__return') {
      waiting.delete(r.tid);
      holder = r.tid;
    } else if (r.ev === 'drop_gil' && holder === r.tid) holder = 0;
    push(wantWaiting, r.ts, waiting.size);
    push(wantHolder, r.ts, holder);
  }
  // The last hold never ends in the capture: gil-state closes it at the last event.
  const lastRaw = raw.at(-1)!.ts;
  const cut = (s: Array<[number, number]>) => s.filter(([ts]) => ts <= lastRaw);
  t.same(cut(series(events, 'GIL waiting')), wantWaiting, 'GIL waiting matches a sweep over the raw probe lines');
  t.same(cut(series(events, 'GIL holder')), wantHolder, 'GIL holder matches the raw probe lines');

  // Flows: one arrow each time the GIL went to another thread than its last holder.
  let changes = 0;
  let last: number | undefined;
  for (const r of raw.filter((x) => x.ev === 'take_gil__return')) {
    if (last !== undefined && r.tid !== last) changes++;
    last = r.tid;
  }
  const outs = events.filter((e) => e.flow_out);
  const ins = events.filter((e) => e.flow_in);
  t.equal(outs.length, changes);
  t.equal(ins.length, changes);
  for (const o of outs) {
    const i = ins.find((x) => x.bind_id === o.bind_id);
    t.ok(i && i.tid !== o.tid && ns(i.ts) >= ns(o.ts), 'an arrow goes forward in time to another thread');
  }
});

t.test('options through the command line', { skip: noCorpus }, async (t) => {
  const gs = join(tmp, 'ex1.gil.ndjson');
  await execa('sh', ['-c', 'node "$1" "$2" | node "$3" > "$4"', 'sh', bin('perf-parse'), ex1, bin('gil-state'), gs]);
  const plain = await runBin('to-trace', [gs]);
  t.equal(plain.exitCode, 0);

  const gz = join(tmp, 'ex1.json.gz');
  t.equal((await runBin('to-trace', [gs, '-o', gz])).exitCode, 0);
  t.equal(gunzipSync(readFileSync(gz)).toString(), plain.stdout, '-o FILE.gz writes the same trace, gzipped');

  const nd = await runBin('to-trace', [gs, '--format', 'ndjson']);
  const lines = (nd.stdout as string).split('\n').filter(Boolean).map((l) => JSON.parse(l));
  t.same(lines, JSON.parse(plain.stdout as string).traceEvents, '--format ndjson: the same events, one per line');

  const gil = JSON.parse((await runBin('to-trace', [gs, '--families', 'gil', '--no-counters', '--no-flows', '--min-dur', '1ms'])).stdout as string);
  const kinds = new Set(gil.traceEvents.filter((e: Ev) => e.ph !== 'M').map((e: Ev) => `${e.ph}:${e.cat}`));
  t.same([...kinds].sort(), ['b:gil', 'e:gil', 'n:gil'].concat(kinds.has('i:gilpipe') ? ['i:gilpipe'] : []).sort());
  const evs: Ev[] = gil.traceEvents;
  const short = evs.filter((e, i) => {
    if (e.ph !== 'b') return false;
    const end = evs.slice(i + 1).find((x) => x.ph === 'e' && x.cat === e.cat && x.id === e.id)!;
    return ns(end.ts) - ns(e.ts) < 1_000_000;
  });
  t.ok(evs.some((e) => e.ph === 'b'), 'spans of 1 ms and more are there');
  t.same(short, [], 'and none shorter');

  const win = JSON.parse((await runBin('to-trace', [gs, '--from', '154.1', '--to', '154.2'])).stdout as string);
  t.same(validateTrace(win), []);
  t.ok(win.traceEvents.length > 0);
  t.same(win.traceEvents.filter((e: Ev) => e.ts !== undefined && !(e.ts >= 154_099_999.999 && e.ts <= 154_200_000)), [], 'all inside the window');

  const other = JSON.parse((await runBin('to-trace', [gs, '--pid', '1'])).stdout as string);
  t.same(other.traceEvents, [], 'a pid that is not there: an empty trace');
});

t.test('empty, wrong and unusable input', async (t) => {
  const empty = await runBin('to-trace', [], { input: '' });
  t.equal(empty.exitCode, 0);
  t.same(validateTrace(empty.stdout as string), []);
  t.match(JSON.parse(empty.stdout as string), { traceEvents: [], viztracer_metadata: { overflow: false } });

  const bad = '{"type":"span","pid":1,"tid":1,"family":"gil","state":"hold","ts":5,"dur":5}\nnot json\n';
  const lenient = await runBin('to-trace', [], { input: bad });
  t.equal(lenient.exitCode, 0);
  t.match(lenient.stderr, /^to-trace: skipped 1 unusable record \(first: stdin:2: not JSON/m);
  t.same(validateTrace(lenient.stdout as string), []);
  const strict = await runBin('to-trace', ['--strict'], { input: bad });
  t.equal(strict.exitCode, 1);
  t.match(strict.stderr, /^to-trace: stdin:2: not JSON/);
  t.notMatch(strict.stderr, /\n\s+at /, 'no stack trace');

  const notGil = await runBin('to-trace', [], { input: '{"type":"sample","ts":1,"event":"sched:sched_switch"}\n' });
  t.equal(notGil.exitCode, 0);
  t.match(notGil.stderr, /no span records in the input/);

  for (const args of [['--families', 'gil,foo'], ['--min-dur', 'soon'], ['--from', 'yesterday'], ['--pid', 'x'], ['--from', '5', '--to', '4'], ['/no/such/file']]) {
    const r = await runBin('to-trace', args);
    t.equal(r.exitCode, 2, `${args.join(' ')}: usage error`);
    t.match(r.stderr, /^to-trace: /);
  }
});

t.test('a capture without GIL probes says so, in the trace and on stderr', { skip: noCorpus }, async (t) => {
  const { text, stderr } = await toTrace(corpus + 'ex0-sched.perf.txt.gz');
  t.same(validateTrace(text), []);
  const events: Ev[] = JSON.parse(text).traceEvents;
  t.ok(events.some((e) => e.ph === 'i' && e.s === 'g' && e.name === 'no GIL events'));
  t.same(events.filter((e) => e.cat === 'gil'), []);
  t.match(stderr, /to-trace: no GIL events in the input/);
});

const lostFixture = fixtures + 'lost.perf.txt.gz';
t.test('lost events show on the timeline where perf lost them', { skip: existsSync(lostFixture) ? false : 'test/fixtures/lost.perf.txt.gz has not been recorded' }, async (t) => {
  const { text } = await toTrace(lostFixture);
  t.same(validateTrace(text), []);
  const events: Ev[] = JSON.parse(text).traceEvents;
  // Every PERF_RECORD_LOST line of the capture, at its time.
  const lost = gunzipSync(readFileSync(lostFixture))
    .toString('latin1')
    .split('\n')
    .filter((l) => l.includes('PERF_RECORD_LOST'))
    .map((l) => {
      const m = /\s(\d+)\.(\d{9}):/.exec(l)!;
      return Number(m[1]) * 1e9 + Number(m[2]);
    });
  t.ok(lost.length > 0);
  const drawn = events.filter((e) => e.ph === 'i' && e.name === 'lost_events').map((e) => ns(e.ts));
  t.same(drawn.sort((a, b) => a - b), lost.sort((a, b) => a - b));
  t.ok(events.some((e) => e.ph === 'i' && /^unknown: /.test(e.name)), 'spans cut short by the loss are marked');
});

t.test('the benchmark capture streams into a valid file (many-uprobes)', { skip: noCorpus }, async (t) => {
  const out = join(tmp, 'many.json');
  await toTrace(corpus + 'many-uprobes.perf.txt.gz', ['-o', out]);
  t.same(await validateTraceFile(out, { maxProblems: 10 }), []);
});

// --- merging with VizTracer's function slices ------------------------------

const pairPerf = fixtures + 'viztracer/pair.perf.txt.gz';
const pairVt = fixtures + 'viztracer/pair.vt.json';
const noPair = existsSync(pairPerf) && existsSync(pairVt) ? false : 'the paired perf + VizTracer fixture (test/fixtures/viztracer/pair.*) is missing';

t.test('merged with VizTracer function slices of the same run: no partial overlaps on any track', { skip: noPair }, async (t) => {
  // One run of threads.py seen by perf and by VizTracer at once (fixture README).
  const gil = join(tmp, 'pair.gil.json');
  await toTrace(pairPerf, ['-o', gil]);
  const vt = JSON.parse(readFileSync(pairVt, 'utf8'));
  const vtThreads = new Set(vt.traceEvents.filter((e: Ev) => e.ph === 'X').map((e: Ev) => `${e.pid}/${e.tid}`));
  const ours: Ev[] = JSON.parse(readFileSync(gil, 'utf8')).traceEvents;
  const gilThreads = new Set(ours.filter((e) => e.ph === 'b' && e.cat === 'gil').map((e) => `${e.pid}/${e.tid}`));
  t.ok([...vtThreads].length >= 3 && [...vtThreads].every((k) => gilThreads.has(k)), 'every thread VizTracer traced has GIL spans: the same pids and tids');

  const merged = join(tmp, 'pair.merged.json');
  const m = await runBin('merge-trace', [gil, pairVt, '-o', merged]);
  t.equal(m.exitCode, 0, String(m.stderr));
  t.same(await validateTraceFile(merged, { maxProblems: 10 }), [], 'to-trace + VizTracer: valid, no partial overlap');

  // The check has teeth: the same GIL spans drawn as X slices on the threads'
  // own tracks collide with the function slices, and Perfetto would drop them.
  const { records } = await pipeline(pairPerf);
  const naive = records
    .filter((r) => r.type === 'span' && r.family === 'gil')
    .map((r) => ({ ph: 'X', pid: r.pid, tid: r.tid, ts: r.ts / 1000, dur: r.dur / 1000, name: r.state, cat: 'gil' }));
  const naivePath = join(tmp, 'naive.json');
  writeFileSync(naivePath, JSON.stringify({ traceEvents: naive, viztracer_metadata: { overflow: false } }));
  const naiveMerged = join(tmp, 'naive-merged.json');
  t.equal((await runBin('merge-trace', [naivePath, pairVt, '-o', naiveMerged])).exitCode, 0);
  const problems = await validateTraceFile(naiveMerged, { maxProblems: 5 });
  t.ok(problems.some((p) => /starts inside .* but ends after it|overlap/i.test(p)), `thread-track X spans would be dropped: ${problems[0]}`);
});
