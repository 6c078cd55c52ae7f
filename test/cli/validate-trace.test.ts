// The trace validator: every rule is shown broken by a small trace that breaks
// exactly that rule (and nothing else), and VizTracer-shaped traces pass.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { execa } from 'execa';
import { validateTrace, validateTraceFile } from '../helpers/validate-trace.js';

type Ev = Record<string, unknown>;
const P = 100, T = 101;
const M = (name: string, args: Ev, tid = T): Ev => ({ ph: 'M', pid: P, tid, name, args });
const X = (name: string, ts: number, dur: number, tid = T): Ev => ({ ph: 'X', pid: P, tid, ts, dur, name, cat: 'FEE' });

// A trace that uses every kind of event the rules look at, correctly.
function good(): Ev[] {
  return [
    M('process_name', { name: 'python' }, P),
    M('thread_name', { name: 'MainThread' }),
    X('outer', 10, 100),
    X('inner', 20, 30),
    X('inner2', 50, 60), // ends exactly where outer ends: 50 + 60 = 110
    { ph: 'B', pid: P, tid: T, ts: 200, name: 'be', args: { a: 1 } },
    { ph: 'E', pid: P, tid: T, ts: 250, args: { b: 2 } },
    { ph: 'i', pid: P, tid: T, ts: 15, name: 'mark', s: 't' },
    { ph: 'i', pid: P, tid: T, ts: 16, name: 'proc-mark', s: 'p' },
    { ph: 'C', pid: P, tid: T, ts: 10, name: 'GIL', args: { held: 1, waiting: 0 } },
    { ph: 'C', pid: P, tid: T, ts: 20, name: 'GIL', args: { held: 0 } },
    { ph: 'b', pid: P, tid: T, ts: 10, name: 'hold', cat: 'gil', id: 1 },
    { ph: 'b', pid: P, tid: T, ts: 12, name: 'nested', cat: 'gil', id: 1 },
    { ph: 'e', pid: P, tid: T, ts: 14, name: 'nested', cat: 'gil', id: 1 },
    { ph: 'e', pid: P, tid: T, ts: 40, name: 'hold', cat: 'gil', id: 1 },
    { ph: 'n', pid: P, tid: T, ts: 41, name: 'note', cat: 'gil', id2: { local: '0x7' } },
    { ph: 's', pid: P, tid: T, ts: 25, name: 'handoff', cat: 'gil', id: 5 },
    { ph: 'f', pid: P, tid: T, ts: 199, name: 'handoff', cat: 'gil', id: 5 }, // binds to "be" at 200
    { ph: 's', pid: P, tid: T, ts: 60, name: 'handoff', cat: 'gil', id: '0x1f' },
    { ph: 't', pid: P, tid: T, ts: 70, name: 'handoff', cat: 'gil', id: '0x1f' },
    { ph: 'f', pid: P, tid: T, ts: 210, name: 'handoff', cat: 'gil', id: '0x1f', bp: 'e' },
  ];
}
const wrap = (events: Ev[], extra: Ev = {}) => JSON.stringify({ traceEvents: events, ...extra });

t.test('the reference trace is valid, as text and as an object', async (t) => {
  t.same(validateTrace(wrap(good())), []);
  t.same(validateTrace({ traceEvents: good() }), []);
  t.same(validateTrace(JSON.stringify(good())), [], 'array form');
  t.same(validateTrace(`  \n${JSON.stringify(good())}`), [], 'leading whitespace is allowed');
});

// Each case: what to do to the reference trace, and the one problem expected.
// A few rules cannot be broken alone: the count says how many problems follow.
const cases: Array<[string, () => string | object, RegExp, number?]> = [
  ['file does not start with { or [', () => `"x"`, /must start with \{ or \[/],
  ['byte order mark', () => `\ufeff${wrap(good())}`, /byte order mark/],
  ['array form not starting with [{"', () => '[]', /must start with \[\{"/],
  ['truncated object form', () => wrap(good()).slice(0, -20), /object form must be complete/],
  ['no traceEvents', () => '{"otherData":{}}', /no traceEvents/],
  ['missing comma between events', () => wrap(good()).replace('},{', '} {'), /not valid JSON/],
  ['trailing comma in traceEvents', () => wrap(good()).replace(']}', ',]}'), /not valid JSON/],
  ['double comma in array form', () => JSON.stringify(good()).replace('},{', '},,{'), /not valid JSON/],
  ['traceEvents not an array', () => '{"traceEvents":{}}', /traceEvents must be an array/],
  ['viztracer_metadata not an object', () => wrap(good(), { viztracer_metadata: [] }), /viztracer_metadata must be an object/],
  ['bad displayTimeUnit', () => wrap(good(), { displayTimeUnit: 'us' }), /displayTimeUnit must be "ms" or "ns"/],
  ['event not an object', () => wrap([...good(), 5 as unknown as Ev]), /event #21: not an object/],
  ['ph missing', () => wrap([...good(), { pid: P, tid: T, ts: 1, name: 'x' }]), /event #21: ph must be a string/],
  ['ph not a string', () => wrap([...good(), { ph: 88, pid: P, tid: T, ts: 1 }]), /ph must be a string, got 88/],
  ['unknown ph', () => wrap([...good(), { ph: 'Q', pid: P, tid: T, ts: 1 }]), /unknown phase ph="Q"/],
  ['ts missing', () => wrap([...good(), { ph: 'i', pid: P, tid: T, name: 'x' }]), /ts is missing/],
  ['ts negative', () => wrap([...good(), { ph: 'i', pid: P, tid: T, ts: -1, name: 'x' }]), /ts must be a non-negative finite number, got -1/],
  ['ts a string', () => wrap([...good(), { ph: 'i', pid: P, tid: T, ts: '12', name: 'x' }]), /ts must be a non-negative finite number, got "12"/],
  ['dur negative', () => wrap([...good(), X('neg', 500, -2)]), /dur must be a non-negative finite number, got -2/],
  ['X without dur', () => wrap([...good(), { ph: 'X', pid: P, tid: T, ts: 500, name: 'x' }]), /X event without dur/],
  ['pid a string', () => wrap([...good(), { ...X('s', 500, 1), pid: '100-GIL' }]), /pid must be an integer.*"100-GIL"/],
  ['tid a string', () => wrap([...good(), { ...X('s', 500, 1), tid: '101' }]), /tid must be an integer.*"101"/],
  ['tid missing on a thread event', () => wrap([...good(), { ph: 'X', pid: P, ts: 500, dur: 1, name: 'x' }]), /tid is missing/],
  ['args not an object', () => wrap([...good(), { ...X('a', 500, 1), args: [1] }]), /args must be an object/],
  ['both id and id2', () => wrap([...good(), { ph: 'n', pid: P, tid: T, ts: 5, name: 'n', cat: 'c', id: 1, id2: { local: 1 } }]), /both id and id2/],
  ['E without B', () => wrap([...good(), { ph: 'E', pid: P, tid: T, ts: 300 }]), /E at ts 300 \(event #21\) has no open B/],
  ['B never closed', () => wrap([...good(), { ph: 'B', pid: P, tid: T, ts: 300, name: 'open' }]), /B "open" at ts 300 \(event #21\) is never closed/],
  ['E names another slice', () => wrap([...good(), { ph: 'B', pid: P, tid: T, ts: 300, name: 'x' }, { ph: 'E', pid: P, tid: T, ts: 301, name: 'y' }]), /E "y" .* closes B "x"/],
  ['B and E both set an arg', () => wrap([...good(), { ph: 'B', pid: P, tid: T, ts: 300, name: 'x', args: { k: 1 } }, { ph: 'E', pid: P, tid: T, ts: 301, args: { k: 2 } }]), /both set args k/],
  ['B/E back in time in file order', () => wrap([...good(), { ph: 'E', pid: P, tid: T, ts: 301 }, { ph: 'B', pid: P, tid: T, ts: 300, name: 'x' }]), /1 B\/E events go back in time in file order/],
  ['partially overlapping X slices', () => wrap([...good(), X('late', 105, 10)]), /slice "late" \(event #21, ts 105, dur 10\) starts inside "inner2" .* but ends after it/],
  ['X overlapping a B/E slice', () => wrap([...good(), X('x', 240, 20)]), /slice "x" .* starts inside "be"/],
  ['child overruns its parent by 1 ns', () => wrap([...good(), X('c', 50, 60.001)]), /slice "c" .* starts inside "outer"/],
  ['async e without b', () => wrap([...good(), { ph: 'e', pid: P, tid: T, ts: 50, name: 'hold', cat: 'gil', id: 2 }]), /async gil id :2: e "hold" at ts 50 \(event #21\) has no open b/],
  ['async b never closed', () => wrap([...good(), { ph: 'b', pid: P, tid: T, ts: 50, name: 'hold', cat: 'gil', id: 3 }]), /async gil id :3: b "hold" at ts 50 \(event #21\) is never closed/],
  ['async e matches b of another cat', () => wrap([...good(), { ph: 'b', pid: P, tid: T, ts: 50, name: 'w', cat: 'a', id: 9 }, { ph: 'e', pid: P, tid: T, ts: 60, name: 'w', cat: 'b', id: 9 }]), /async b id :9: e "w" at ts 60 \(event #22\) has no open b/, 2],
  ['async child left open when its parent ends', () => wrap([...good(), { ph: 'b', pid: P, tid: T, ts: 50, name: 'p', cat: 'g', id: 4 }, { ph: 'b', pid: P, tid: T, ts: 51, name: 'c', cat: 'g', id: 4 }, { ph: 'e', pid: P, tid: T, ts: 52, name: 'p', cat: 'g', id: 4 }]), /b "c" \(event #22\) is still open when its parent "p" ends/],
  ['async without cat', () => wrap([...good(), { ph: 'n', pid: P, tid: T, ts: 5, name: 'n', id: 1 }]), /async event without cat/],
  ['async without id', () => wrap([...good(), { ph: 'n', pid: P, tid: T, ts: 5, name: 'n', cat: 'c' }]), /async event without id/],
  ['flow s without f', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 6 }]), /flow id 6: s at ts 30 \(event #21\) is never finished by an f/],
  ['flow f without s', () => wrap([...good(), { ph: 'f', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 7 }]), /flow id 7: f .* has no open flow start/],
  ['flow s outside every slice', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 150, name: 'h', cat: 'gil', id: 8 }, { ph: 'f', pid: P, tid: T, ts: 200, name: 'h', cat: 'gil', id: 8 }]), /flow id 8: s at ts 150 .* not inside any slice/, 2],
  ['flow f with no slice after it', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 8 }, { ph: 'f', pid: P, tid: T, ts: 900, name: 'h', cat: 'gil', id: 8 }]), /flow id 8: f at ts 900 .*no slice starts after it/],
  ['flow f next to a slice that starts at its ts but earlier in the file', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 8 }, X('t', 500, 5, 7), { ph: 'f', pid: P, tid: 7, ts: 500, name: 'h', cat: 'gil', id: 8 }]), /flow id 8: f at ts 500 .*no slice starts after it/],
  ['flow f bp:e outside every slice', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 8 }, { ph: 'f', pid: P, tid: T, ts: 150, name: 'h', cat: 'gil', id: 8, bp: 'e' }]), /flow id 8: f at ts 150 .*no enclosing slice/],
  ['flow bad bp', () => wrap([...good(), { ph: 'f', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 8, bp: 'x' }]), /binding point bp must be "e"/],
  ['flow id not hex', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil', id: 'gil-1' }]), /flow id "gil-1" is not a hex string/],
  ['flow without id', () => wrap([...good(), { ph: 's', pid: P, tid: T, ts: 30, name: 'h', cat: 'gil' }]), /flow event without id/],
  ['counter without args', () => wrap([...good(), { ph: 'C', pid: P, tid: T, ts: 30, name: 'c' }]), /counter without args/],
  ['counter with a string value', () => wrap([...good(), { ph: 'C', pid: P, tid: T, ts: 30, name: 'c', args: { v: '3' } }]), /counter series must be finite numbers: v="3"/],
  ['counter gains a series later', () => wrap([...good(), { ph: 'C', pid: P, tid: T, ts: 30, name: 'GIL', args: { held: 1, extra: 2 } }]), /counter series extra not in the counter's first sample/],
  ['thread_name without args.name', () => wrap([...good(), M('thread_name', {})]), /thread_name needs a non-empty string args.name/],
  ['process_name with an empty name', () => wrap([...good(), M('process_name', { name: '' }, P)]), /process_name needs a non-empty string args.name/],
  ['unknown metadata name', () => wrap([...good(), M('thread_color', { name: 'x' })]), /unknown metadata name "thread_color"/],
  ['instant with a bad scope', () => wrap([...good(), { ph: 'i', pid: P, tid: T, ts: 30, name: 'i', s: 'x' }]), /instant scope s must be/],
];

for (const [what, make, expected, count = 1] of cases) {
  t.test(`reports: ${what}`, async (t) => {
    const problems = validateTrace(make());
    t.equal(problems.length, count, `${count} problem(s): ${JSON.stringify(problems)}`);
    t.ok(problems.some((p) => expected.test(p)), `${expected}`);
  });
}

t.test('an array-form file may end without "]" (spec; Catapult and Perfetto repair it)', async (t) => {
  const text = JSON.stringify(good()).slice(0, -1) + ',\n';
  t.same(validateTrace(text), []);
});

t.test('ties: a slice may end exactly where its parent ends or where its sibling starts', async (t) => {
  // 0.1 + 0.2 != 0.3 in doubles; as written, the child ends where its parent does.
  t.same(validateTrace({ traceEvents: [X('p', 0, 0.3), X('c', 0.1, 0.2)] }), []);
  t.same(validateTrace({ traceEvents: [X('a', 1, 1), X('b', 2, 1), X('z', 2, 0)] }), []);
  // Children listed before parents (VizTracer writes in end order).
  t.same(validateTrace({ traceEvents: [X('c', 5, 1), X('p', 0, 10)] }), []);
});

// The shapes VizTracer 1.1.1 writes (notes/viztracer.md 2.1-2.2): metadata
// first without ts, X in end order with long float durations, instants with
// "args": null, counters without cat, object snapshots, sync marker.
const vizTracerStdlib = `{"traceEvents": [{"ph": "M", "pid": 8256, "tid": 8256, "name": "process_name", "args": {"name": "MainProcess"}}, {"ph": "M", "pid": 8256, "tid": 8287, "name": "thread_name", "args": {"name": "Thread-2"}}, {"ph": "M", "pid": 8256, "tid": 8286, "name": "thread_name", "args": {"name": "Thread-1"}}, {"ph": "M", "pid": 8256, "tid": 8256, "name": "thread_name", "args": {"name": "MainThread"}}, {"pid": 8256, "tid": 8286, "ts": 325724240.251, "ph": "X", "dur": 3.99615360973468, "name": "work (/root/example1.py:5)", "cat": "FEE"}, {"pid": 8256, "tid": 8286, "ts": 325724244.4, "ph": "X", "dur": 0.2104736328125, "name": "builtins.len", "cat": "FEE"}, {"pid": 8256, "tid": 8286, "ts": 325724240.032, "ph": "X", "dur": 1041.7734375, "name": "Thread.run (/usr/lib/python3.11/threading.py:975)", "cat": "FEE"}, {"pid": 8256, "tid": 8256, "ts": 325724300.5, "ph": "i", "cat": "INSTANT", "name": "checkpoint", "args": null, "s": "t"}, {"pid": 8256, "tid": 8256, "ts": 325724301.5, "ph": "i", "cat": "INSTANT", "name": "gc", "args": {"gen": 2}, "s": "p"}, {"pid": 8256, "tid": 8256, "ts": 325724302.5, "ph": "C", "name": "counter", "args": {"a": 1, "b": 2.5}}, {"pid": 8256, "tid": 8256, "ts": 325724303.0, "ph": "N", "id": "140455706521424", "name": "obj"}, {"pid": 8256, "tid": 8256, "ts": 325724303.5, "ph": "O", "id": "140455706521424", "name": "obj", "args": {"snapshot": {"x": 1}}}, {"pid": 8256, "tid": 8256, "ts": 325724304.0, "ph": "D", "id": "140455706521424", "name": "obj"}, {"pid": 8256, "tid": 8256, "ts": 325724100.0, "ph": "X", "dur": 310.0, "name": "<module> (/root/example1.py:1)", "cat": "FEE"}], "viztracer_metadata": {"version": "1.1.1", "overflow": false, "sync_marker": 325724100.0, "baseTimeNanoseconds": 1795314241455534028}, "file_info": {"files": {"/root/example1.py": ["import threading\\n", 1]}, "functions": {"work (/root/example1.py:5)": ["/root/example1.py", 5]}}}`;
// The C dumper (--ignore_multiprocess): compact, lowercase cat, dur with 3
// decimals, metadata only {"overflow": false} after the array.
const vizTracerRaw = `{"traceEvents":[{"ph":"M","pid":9703,"tid":9703,"name":"process_name","args":{"name":"MainProcess"}},{"ph":"M","pid":9703,"tid":9703,"name":"thread_name","args":{"name":"MainThread"}},{"pid":9703,"tid":9703,"ts":1000.125,"ph":"X","cat":"fee","dur":2.500,"name":"f (/tmp/busy.py:1)"},{"pid":9703,"tid":9703,"ts":999.000,"ph":"X","cat":"fee","dur":10.000,"name":"<module> (/tmp/busy.py:1)"}], "viztracer_metadata": {"overflow":false}}`;

t.test('VizTracer-shaped traces pass', async (t) => {
  t.same(validateTrace(vizTracerStdlib), [], 'stdlib json dump');
  t.same(validateTrace(vizTracerRaw), [], 'C dumper');
});

t.test('validateTraceFile streams and agrees with validateTrace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-vt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  t.same(await validateTraceFile(write('vt.json', vizTracerStdlib)), []);
  t.same(await validateTraceFile(write('raw.json', vizTracerRaw)), []);
  t.same(await validateTraceFile(write('pretty.json', JSON.stringify({ traceEvents: good(), otherData: { a: [1, '}'] } }, null, 2))), []);
  t.same(await validateTraceFile(write('arr.json', JSON.stringify(good()).slice(0, -1) + ',\n')), [], 'unterminated array form');
  for (const [what, make, expected] of cases) {
    const input = make();
    if (typeof input !== 'string') continue;
    const got = await validateTraceFile(write('case.json', input));
    t.ok(got.some((p) => expected.test(p)), `${what}: ${JSON.stringify(got)}`);
  }
});

t.test('a 100 MB trace validates in bounded memory', async (t) => {
  // Four threads of nested X slices (a parent with three children, over and
  // over), plus one planted partial overlap near the end: the only problem.
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-vt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'big.json');
  const out = createWriteStream(path);
  out.write('{"traceEvents":[\n');
  let bytes = 0, n = 0, buf = '';
  const pad = 'x'.repeat(100); // fewer, fatter events: the file size is the point
  const emit = (s: string) => {
    buf += (n++ ? ',\n' : '') + s;
    if (buf.length > 1 << 20) {
      bytes += buf.length;
      const ok = out.write(buf);
      buf = '';
      return ok;
    }
    return true;
  };
  let ts = 1000;
  outer: for (;;) {
    for (let tid = 1; tid <= 4; tid++) {
      const ev = (name: string, at: number, dur: number) =>
        `{"pid":1,"tid":${tid},"ts":${at.toFixed(3)},"ph":"X","dur":${dur},"name":"${name} ${pad}","cat":"FEE"}`;
      let ok = emit(ev('child-a', ts + 0.5, 1.25)) && emit(ev('child-b', ts + 2, 3)) && emit(ev('child-c', ts + 5, 4.5));
      ok = emit(ev('parent', ts, 9.5)) && ok;
      if (!ok) await once(out, 'drain');
    }
    ts += 10;
    if (bytes > 100e6) break outer;
  }
  emit(`{"pid":1,"tid":2,"ts":${ts + 1},"ph":"X","dur":5,"name":"p2"}`);
  emit(`{"pid":1,"tid":2,"ts":${ts + 3},"ph":"X","dur":5,"name":"straddles"}`);
  out.end(`${buf}\n],"viztracer_metadata":{}}\n`);
  await once(out, 'finish');

  // In a child with a 300 MB heap cap: JSON.parse of the whole file alone
  // would need several times that.
  const script = join(dir, 'run.mts');
  writeFileSync(script, `import { validateTraceFile } from ${JSON.stringify(new URL('../helpers/validate-trace.ts', import.meta.url).pathname)};
const problems = await validateTraceFile(${JSON.stringify(path)});
console.log(JSON.stringify({ problems, rss: process.memoryUsage().rss }));`);
  const r = await execa(process.execPath, ['--max-old-space-size=300', '--import', 'tsx', script]);
  const { problems, rss } = JSON.parse(r.stdout) as { problems: string[]; rss: number };
  t.equal(problems.length, 1, JSON.stringify(problems));
  t.match(problems[0] ?? '', /pid 1 tid 2: slice "straddles" .* starts inside "p2"/);
  t.ok(rss < 600e6, `rss ${Math.round(rss / 1e6)} MB for a ${Math.round(bytes / 1e6)} MB file`);
});

// Real VizTracer 1.1.1 output, committed by merge-trace's tests.
const fixtures = new URL('../fixtures/viztracer/', import.meta.url);
t.test('real VizTracer traces', async (t) => {
  for (const f of ['events.json', 'fib.json', 'overflow.json', 'threads.json', 'plain.json',
    'combine/combined.json', 'combine/plain-first.json', 'combine/skip-invalid.json']) {
    const path = fileURLToPath(new URL(f, fixtures));
    t.same(validateTrace(readFileSync(path, 'utf8')), [], f);
    t.same(await validateTraceFile(path), [], `${f}, streamed`);
  }
});

t.test('VizTracer --align_combine output: every negative ts is reported, nothing else', async (t) => {
  const path = fileURLToPath(new URL('combine/aligned.json', fixtures));
  const text = readFileSync(path, 'utf8');
  // Counted independently of the validator (jq agrees: 370).
  const negative = (JSON.parse(text) as { traceEvents: Ev[] }).traceEvents.filter((e) => typeof e.ts === 'number' && e.ts < 0).length;
  t.ok(negative > 0);
  const problems = validateTrace(text);
  t.equal(problems.length, negative);
  t.ok(problems.every((p) => /ts must be a non-negative finite number, got -/.test(p)));
});

t.test('a truncated VizTracer trace is reported as incomplete', async (t) => {
  const path = fileURLToPath(new URL('truncated.json', fixtures));
  t.match(validateTrace(readFileSync(path, 'utf8')), [/object form must be complete/]);
  t.match(await validateTraceFile(path), [/object form must be complete/]);
});
