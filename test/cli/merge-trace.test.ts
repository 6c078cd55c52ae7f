// merge-trace end to end, against real VizTracer 1.1.1 output.
//
// test/fixtures/viztracer/*.json were recorded with VizTracer 1.1.1 (built
// from its source snapshot; progs/ holds the programs), and combine/*.json
// are what `viztracer --combine` / `--align_combine` wrote for them (how each
// was made: test/fixtures/viztracer/README.md). Those outputs are the ground
// truth: merge-trace must produce the same JSON, apart from the version stamp.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync, gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root, runBin } from '../helpers/run.js';
import { validateTrace, validateTraceFile } from '../helpers/validate-trace.js';

const FX = join(root, 'test/fixtures/viztracer');
const OURS = `"merge-trace (gilpipe ${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version})"`;
const tmp = mkdtempSync(join(tmpdir(), 'merge-trace-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

type Ev = Record<string, unknown> & { ts?: number; pid?: number; tid?: number; ph?: string };
type Trace = { traceEvents: Ev[]; viztracer_metadata: Record<string, unknown>; file_info: { files: Record<string, unknown>; functions: Record<string, unknown> } } & Record<string, unknown>;

const merge = (args: string[], opts: Parameters<typeof runBin>[2] = {}) => runBin('merge-trace', args, { cwd: FX, ...opts });
const fx = (name: string): Trace => JSON.parse(readFileSync(join(FX, name), 'utf8'));
const tsOf = (evs: Ev[]) => evs.filter((e) => typeof e.ts === 'number').map((e) => e.ts as number);

t.test('equals viztracer --combine on real VizTracer traces', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['combined.json', ['threads.json', 'fib.json', 'events.json', 'overflow.json']],
    ['aligned.json', ['--align', 'events.json', 'threads.json', 'fib.json']],
    ['plain-first.json', ['plain.json', 'fib.json', 'overflow.json']],
    ['skip-invalid.json', ['fib.json', 'truncated.json', 'threads.json']],
  ];
  for (const [want, args] of cases) {
    const r = await merge(args);
    t.equal(r.exitCode, 0, `${args.join(' ')}: exit 0`);
    const ours = JSON.parse(r.stdout as string) as Trace;
    const theirs = fx(`combine/${want}`);
    t.equal(ours.viztracer_metadata.version, JSON.parse(OURS), `${want}: version names merge-trace`);
    ours.viztracer_metadata.version = theirs.viztracer_metadata.version;
    t.strictSame(Object.keys(ours), Object.keys(theirs), `${want}: same members in the same order`);
    t.strictSame(ours.traceEvents, theirs.traceEvents, `${want}: same events in the same order`);
    t.strictSame(Object.keys(ours.viztracer_metadata), Object.keys(theirs.viztracer_metadata), `${want}: metadata keys in order`);
    t.strictSame(ours, theirs, `${want}: same JSON`);
    // Raw event bytes are copied and the rest is written with Python's separators, so even the bytes agree.
    const text = (r.stdout as string).replace(OURS, '"1.1.1"');
    t.ok(text === readFileSync(join(FX, 'combine', want), 'utf8'), `${want}: byte-identical apart from the version`);
  }
});

t.test('metadata merge rules (VizTracer combine_json)', async (t) => {
  const fib = fx('fib.json');
  const over = fx('overflow.json');
  const ev = fx('events.json');
  const r = await merge(['events.json', 'fib.json', 'overflow.json']);
  const m = JSON.parse(r.stdout as string).viztracer_metadata;
  t.equal(m.overflow, true, 'overflow is the OR: overflow.json has it');
  t.equal(String(m.baseTimeNanoseconds), String(over.viztracer_metadata.baseTimeNanoseconds), 'baseTimeNanoseconds from the last later file');
  t.equal(m.sync_marker, ev.viztracer_metadata.sync_marker, "the first file's other metadata stays");
  // Digits beyond 2^53 survive: compare the source text, not a double.
  const digits = /"baseTimeNanoseconds": (\d+)/.exec(r.stdout as string)![1];
  t.equal(digits, /"baseTimeNanoseconds": (\d+)/.exec(readFileSync(join(FX, 'overflow.json'), 'utf8'))![1], 'every digit of the big integer kept');
  const one = await merge(['fib.json']);
  t.equal((one.stdout as string).replace(OURS, '"1.1.1"'), readFileSync(join(FX, 'fib.json'), 'utf8'), 'one file in: the same bytes out (as with viztracer and stdlib json)');
  t.notOk(fib.viztracer_metadata.overflow, 'fixture sanity: fib.json did not overflow');
});

t.test('input forms: array, array without ], trailing comma, NDJSON, gzip', async (t) => {
  const fib = fx('fib.json');
  const evs = fib.traceEvents;
  const dir = join(tmp, 'forms');
  mkdirSync(dir);
  const files: Record<string, string | Buffer> = {
    'array.json': JSON.stringify(evs),
    'open-array.json': '[' + evs.map((e) => JSON.stringify(e)).join(',\n') + ',\n',
    'trailing-comma.json': '[' + evs.map((e) => JSON.stringify(e)).join(', ') + ', ]',
    'events.ndjson': evs.map((e) => JSON.stringify(e)).join('\n') + '\n',
    'fib.json.gz': gzipSync(readFileSync(join(FX, 'fib.json'))),
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  for (const name of Object.keys(files)) {
    const r = await merge([join(dir, name), join(FX, 'plain.json')]);
    t.equal(r.exitCode, 0, `${name}: exit 0`);
    // fib.json and plain.json were never one run: only the time-overlap warning is expected.
    t.equal((r.stderr as string).replace(/^merge-trace: these inputs overlap no other in time: .*\n/m, ''), '', `${name}: no other complaint`);
    const out = JSON.parse(r.stdout as string) as Trace;
    t.strictSame(out.traceEvents, [...evs, ...fx('plain.json').traceEvents], `${name}: its events, then plain.json's`);
    t.strictSame(Object.keys(out), name.endsWith('.gz') ? Object.keys(fib) : ['traceEvents', 'viztracer_metadata', 'file_info'], `${name}: object members`);
  }
  // A one-event NDJSON file is a single object with "ph": an event, not a trace object.
  writeFileSync(join(dir, 'one.ndjson'), JSON.stringify(evs[2]) + '\n');
  const one = await merge([join(FX, 'plain.json'), join(dir, 'one.ndjson')]);
  t.strictSame(JSON.parse(one.stdout as string).traceEvents.at(-1), evs[2], 'one-line NDJSON is one event');
  // A crash cuts the last line: the complete events are kept, with a warning.
  writeFileSync(join(dir, 'cut.ndjson'), (files['events.ndjson'] as string).slice(0, -25));
  const cut = await merge([join(dir, 'cut.ndjson')]);
  t.equal(cut.exitCode, 0, 'cut NDJSON: exit 0');
  t.match(cut.stderr, /cut\.ndjson: ends inside an event at byte \d+ \(cut short\?\): kept the 28 complete events/, 'cut NDJSON: says what it kept');
  t.strictSame(JSON.parse(cut.stdout as string).traceEvents, evs.slice(0, -1), 'cut NDJSON: all but the cut event');
});

t.test('bad inputs: clear messages, right exit codes, no output file left', async (t) => {
  const dir = join(tmp, 'bad');
  mkdirSync(dir);
  writeFileSync(join(dir, 'empty.json'), '');
  writeFileSync(join(dir, 'binary.json'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
  // Gzip is told by its magic bytes, not by the name: broken gzip starts like gzip.
  writeFileSync(join(dir, 'bad.json.gz'), Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('this is not gzip')]));
  writeFileSync(join(dir, 'garbage.json'), '{"traceEvents": [{"ph": "X", "ts": 1, "dur": 2 "name": "f"}]}');
  const out = join(dir, 'out.json');
  const cases: Array<[string, string[], number, RegExp]> = [
    ['missing file', ['nosuch.json', 'fib.json'], 2, /^merge-trace: nosuch\.json: no such file\n$/],
    ['a directory', [dir, 'fib.json'], 2, /is a directory, not a trace file\n$/],
    ['an empty file', [join(dir, 'empty.json')], 1, /empty\.json: empty \(no JSON in it\): skipped\nmerge-trace: no usable input among the 1 given: nothing written\n$/],
    ['a truncated object', ['truncated.json'], 1, /truncated\.json: ends before its JSON object does \(truncated\?\): skipped/],
    ['a binary file', [join(dir, 'binary.json')], 1, /binary\.json:1: not JSON text \(it starts with byte 0x7f; a binary file\?\): skipped/],
    ['broken gzip', [join(dir, 'bad.json.gz')], 1, /bad\.json\.gz: not valid gzip data/],
    ['a syntax error', [join(dir, 'garbage.json')], 1, /garbage\.json:1: not valid JSON at byte 47: expected ',' or '}', got '"': skipped/],
    ['no inputs', [], 2, /no input files/],
    ['a bad --shift', ['fib.json', '--shift', 'other.json=5'], 2, /--shift other\.json=5: other\.json is not one of the inputs/],
    ['a bad --map-pid', ['fib.json', '--map-pid', '12=x'], 2, /expected \[FILE:\]HOST=NS/],
  ];
  for (const [what, args, code, msg] of cases) {
    const r = await merge([...args, '-o', out]);
    t.equal(r.exitCode, code, `${what}: exit ${code}`);
    t.match(r.stderr, msg, `${what}: message`);
    t.notMatch(r.stderr, /\bat .*\.js:\d+/, `${what}: no stack trace`);
    t.notOk(existsSync(out), `${what}: no output file`);
    t.strictSame(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], `${what}: no temp file left`);
  }
  // Beside a good input, a bad one is skipped with a warning and the merge goes on.
  const r = await merge([join(dir, 'empty.json'), 'fib.json', join(dir, 'binary.json')]);
  t.equal(r.exitCode, 0, 'bad inputs beside a good one: exit 0');
  t.equal((r.stderr as string).match(/: skipped$/gm)?.length, 2, 'one warning per skipped input');
  t.strictSame(JSON.parse(r.stdout as string).traceEvents, fx('fib.json').traceEvents, 'the good input merged alone');
  const strict = await merge(['--strict', 'fib.json', join(dir, 'empty.json'), '-o', out]);
  t.equal(strict.exitCode, 1, '--strict: an unusable input is fatal');
  t.notOk(existsSync(out), '--strict: no output file');
});

t.test('--align: a file without metadata aligns on its first ts instead of crashing', async (t) => {
  const r = await merge(['--align', 'plain.json', 'fib.json']);
  t.equal(r.exitCode, 0, 'exit 0 (viztracer --align_combine raises KeyError here)');
  const out = JSON.parse(r.stdout as string) as Trace;
  const plain = fx('plain.json').traceEvents;
  const fib = fx('fib.json').traceEvents;
  const minPlain = Math.min(...tsOf(plain));
  const minFib = Math.min(...tsOf(fib));
  t.strictSame(tsOf(out.traceEvents.slice(0, plain.length)), tsOf(plain).map((v) => v - minPlain), 'plain.json shifted by its own minimum');
  t.strictSame(tsOf(out.traceEvents.slice(plain.length)), tsOf(fib).map((v) => v - minFib), 'fib.json shifted by its own minimum');
});

t.test('--no-negative: the sync-marker alignment made valid for Perfetto', async (t) => {
  const aligned = fx('combine/aligned.json');
  const problems = validateTrace(aligned);
  t.ok(problems.some((p) => /ts must be a non-negative/.test(p)), 'fixture sanity: viztracer --align_combine output has negative ts');
  const r = await merge(['--align', '--no-negative', 'events.json', 'threads.json', 'fib.json']);
  const out = JSON.parse(r.stdout as string) as Trace;
  const got = tsOf(out.traceEvents);
  const want = tsOf(aligned.traceEvents);
  const lift = -Math.min(...want);
  t.equal(Math.min(...got), 0, 'the earliest event is at exactly 0');
  t.ok(got.every((v, i) => Math.abs(v - (want[i]! + lift)) < 1e-6), 'every ts moved by the same amount');
  t.strictSame(validateTrace(out), [], 'passes the importer validator');
});

t.test('shifts that would take a ts past the range of numbers: a data error naming the file, no output', async (t) => {
  // -1e308 lifts every file by +1e308, which takes plain.json's +1e308 to Infinity: not JSON.
  const out = join(tmp, 'out-of-range.json');
  const r = await merge(['fib.json', 'plain.json', '--shift', 'fib.json=-1e308', '--shift', 'plain.json=1e308', '--no-negative', '-o', out]);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /^merge-trace: plain\.json: its ts [\d.]+ moved by --shift 1e\+308, --no-negative \(\+1e\+308\) is out of the range of numbers/);
  t.notOk(existsSync(out), 'no output file');
  const piped = await merge(['fib.json', 'plain.json', '--shift', 'fib.json=-1e308', '--shift', 'plain.json=1e308', '--no-negative']);
  t.equal(piped.exitCode, 1);
  t.notMatch(piped.stdout as string, /Infinity/, 'no Infinity written to stdout');
});

t.test('--shift and --map-pid/--map-tid change only what they name', async (t) => {
  const fib = fx('fib.json');
  const plain = fx('plain.json');
  const r = await merge(['fib.json', 'plain.json', '--shift', 'plain.json=-250.5', '--map-pid', 'plain.json:4242=7', '--map-tid', 'plain.json:4243=8,4242=7']);
  t.equal(r.exitCode, 0);
  const out = JSON.parse(r.stdout as string) as Trace;
  t.strictSame(out.traceEvents.slice(0, fib.traceEvents.length), fib.traceEvents, 'fib.json untouched');
  const moved = out.traceEvents.slice(fib.traceEvents.length);
  t.strictSame(
    moved,
    plain.traceEvents.map((e) => ({ ...e, pid: 7, tid: e.tid === 4243 ? 8 : 7, ...(typeof e.ts === 'number' ? { ts: e.ts - 250.5 } : {}) })),
    'plain.json: ts shifted, host ids replaced',
  );
  // Other members of a rewritten event keep their exact bytes (key order, number spelling).
  t.match(r.stdout as string, /\{"ph": "X", "pid": 7, "tid": 8, "ts": -150\.0, "dur": 2\.25, "name": "hold", "cat": "gil"\}/, 'rewritten in place');
  const all = await merge(['fib.json', '--map-pid', `${fib.traceEvents[0]!.pid}=1`]);
  t.ok((JSON.parse(all.stdout as string) as Trace).traceEvents.every((e) => e.pid === 1), 'a map without FILE applies to every input');
});

t.test('a warning when inputs do not overlap in time', async (t) => {
  // fib.json and threads.json are separate runs: minutes apart on CLOCK_MONOTONIC.
  const r = await merge(['fib.json', 'threads.json']);
  t.match(r.stderr, /these inputs overlap no other in time: fib\.json \(ts [\d.]+ to [\d.]+ µs\), threads\.json/, 'names both');
  t.match(r.stderr, /-k CLOCK_MONOTONIC/, 'points at the usual cause');
  const fib = fx('fib.json');
  const minFib = Math.min(...tsOf(fib.traceEvents));
  const minPlain = Math.min(...tsOf(fx('plain.json').traceEvents));
  const ok = await merge(['fib.json', 'plain.json', '--shift', `plain.json=${minFib - minPlain + 1}`]);
  t.equal(ok.stderr, '', 'no warning once --shift moves plain.json into fib.json\'s time range');
  const al = await merge(['--align', 'fib.json', 'threads.json']);
  t.equal(al.stderr, '', 'no warning with --align (every input starts at 0)');
});

t.test('output: -o FILE.gz writes gzip; stdin works as an input', async (t) => {
  const plainOut = await merge(['fib.json', 'threads.json']);
  const gz = join(tmp, 'out.json.gz');
  const r = await merge(['fib.json', 'threads.json', '-o', gz]);
  t.equal(r.exitCode, 0);
  t.equal(gunzipSync(readFileSync(gz)).toString('utf8'), plainOut.stdout, '.gz holds the same bytes');
  const piped = await merge(['-', 'threads.json'], { input: readFileSync(join(FX, 'fib.json')) });
  t.equal(piped.exitCode, 0);
  t.equal((piped.stdout as string).replace(/stdin/g, 'fib.json'), plainOut.stdout, 'stdin read like a file');
  t.strictSame(readdirSync(tmpdir()).filter((f) => f.startsWith(`merge-trace-${piped.pid}-`)), [], 'the spool of stdin is removed');
});

t.test('the spool of stdin is a file of its own: a symlink at a name that can be guessed is not followed', async (t) => {
  // The spool used to be $TMPDIR/merge-trace-PID-0.json, opened for writing:
  // a symlink planted there overwrote what it pointed to.
  const own = mkdtempSync(join(tmp, 'spool-'));
  const victim = join(own, 'victim');
  writeFileSync(victim, 'precious\n');
  const r = await execa('sh', ['-c', 'ln -s "$1" "$TMPDIR/merge-trace-$$-0.json" && exec node "$2" - threads.json < fib.json', 'sh', victim, bin('merge-trace')], {
    cwd: FX,
    env: { TMPDIR: own },
    reject: false,
  });
  t.equal(r.exitCode, 0);
  t.ok((r.stdout as string).startsWith('{"traceEvents"'), 'merged as before');
  t.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the file the symlink points to is untouched');
  const left = readdirSync(own).filter((f) => f !== 'victim');
  t.equal(left.length, 1, 'the spool and its directory are gone');
  t.match(left[0], /^merge-trace-\d+-0\.json$/, 'the symlink is left as it was');
});

t.test('stdin merged into a pipe closed early (| head): exit 0, and the spool of stdin is removed', async (t) => {
  const own = mkdtempSync(join(tmp, 'closed-'));
  const fib = fx('fib.json');
  // Far more than a pipe holds, so that pass 2 is still writing when head leaves.
  const big = join(own, 'big.json');
  const events = JSON.stringify(fib.traceEvents).slice(1, -1);
  writeFileSync(big, `{"traceEvents": [${Array.from({ length: Math.ceil(8e6 / events.length) }, () => events).join(',')}]}`);
  const r = await execa('sh', ['-c', 'node "$1" --align - threads.json < "$2" | head -c 100 > /dev/null', 'sh', bin('merge-trace'), big], {
    cwd: FX,
    env: { TMPDIR: own },
    reject: false,
  });
  t.equal(r.exitCode, 0);
  t.equal(r.stderr, '', 'nothing said: a closed pipe is a normal end');
  t.strictSame(readdirSync(own).filter((f) => f.startsWith('merge-trace-')), [], 'no spool left in TMPDIR');
});

t.test('--embed-sources reads the sources VizTracer would', async (t) => {
  // fib.json without its file_info: the names still say where fib() lives.
  const fib = fx('fib.json');
  const { file_info: _dropped, ...bare } = fib;
  const p = join(tmp, 'bare.json');
  writeFileSync(p, JSON.stringify(bare));
  const without = JSON.parse((await merge([p])).stdout as string) as Trace;
  t.strictSame(without.file_info, { files: {}, functions: {} }, 'without the flag: nothing read from disk');
  const withSrc = JSON.parse((await merge(['--embed-sources', p])).stdout as string) as Trace;
  const src = join(FX, 'progs/fib.py');
  const recorded = fib.file_info.files[Object.keys(fib.file_info.files)[0]!] as [string, number];
  if (!Object.keys(fib.file_info.files).includes(src)) {
    t.skip(`fixture paths are from ${Object.keys(fib.file_info.files)[0]}, not this checkout`);
    return;
  }
  const text = readFileSync(src, 'utf8');
  t.strictSame(withSrc.file_info.files[src], [text, text.split('\n').length - 1], 'the source text and its line count, read now');
  t.strictSame(withSrc.file_info.files[src], recorded, 'the same as VizTracer embedded when recording');
  t.strictSame(withSrc.file_info.functions, fib.file_info.functions, 'the same function table as VizTracer wrote');
});

t.test('a big input scanned in parts on two threads merges to the same bytes as one read from its start', async (t) => {
  // Past 64 MB the biggest input is cut in parts, scanned each on a worker
  // thread (filters/merge-trace/split.ts); gzip is read from its start only.
  // (Cuts that land in strings are the unit test's: here the cut is right.)
  // A line a block, so that a message's line number means something.
  const evs: string[] = [];
  for (let i = 0; i < 4000; i++) evs.push(`{"pid": ${1 + (i % 3)}, "tid": ${i % 5}, "ts": ${1000 + i * 0.75}, "ph": "X", "dur": ${i % 17}, "name": "f${i % 23}", "cat": "FEE"}`);
  const block = evs.join(', ') + ',\n';
  const big = join(tmp, 'split-big.json');
  // 196 blocks are the least past 64 MB (a block is 344 KB); 200 leave 1.7 MB to spare.
  const blocks = 200;
  const text = `{"traceEvents": [${block.repeat(blocks).slice(0, -2)}], "viztracer_metadata": {"version": "1.1.1"}}`;
  writeFileSync(big, text);
  t.ok(statSync(big).size > 64 << 20, `${(statSync(big).size / 1e6).toFixed(0)} MB: past the 64 MB scanned on threads`);
  const gz = join(tmp, 'split-big.json.gz');
  writeFileSync(gz, gzipSync(readFileSync(big), { level: 1 }));
  for (const extra of [[], ['--align'], ['--no-negative', '--shift', `${big}=-5000`]]) {
    const parts = await merge([...extra, big, join(FX, 'threads.json'), '-o', join(tmp, 'split-a.json')]);
    const whole = await merge([...extra.map((x) => x.replace(big, gz)), gz, join(FX, 'threads.json'), '-o', join(tmp, 'split-b.json')]);
    t.equal(parts.exitCode, 0, 'in parts: exit 0');
    t.equal(whole.exitCode, 0, 'gzip, from its start: exit 0');
    t.equal(String(parts.stderr), String(whole.stderr).replaceAll(gz, big), `${extra.join(' ') || 'plain'}: the same warnings`);
    t.ok(readFileSync(join(tmp, 'split-a.json')).equals(readFileSync(join(tmp, 'split-b.json'))), `${extra.join(' ') || 'plain'}: the same bytes`);
  }
  // An event's first byte broken in the last block, past the cut: the part after it is not usable, and the message
  // is a scan's from the start (the line is the block's, counted from the file's first byte).
  const at = text.lastIndexOf('{"pid"', text.length - 1000);
  const broken = join(tmp, 'split-broken.json');
  writeFileSync(broken, text.slice(0, at) + '#' + text.slice(at + 1));
  const line = text.slice(0, at).split('\n').length;
  const r = await merge(['--strict', broken, join(FX, 'threads.json'), '-o', join(tmp, 'split-c.json')]);
  t.equal(r.exitCode, 1, 'broken past the cut, --strict: exit 1');
  t.equal(String(r.stderr), `merge-trace: ${broken}:${line}: not valid JSON at byte ${at}: expected a value, got '#'\n`, `the file, line ${line} and byte ${at}, no stack trace`);
  t.notOk(existsSync(join(tmp, 'split-c.json')), 'nothing written');
});

t.test('memory does not grow with input size', async (t) => {
  if (!existsSync('/usr/bin/time')) return t.skip('needs /usr/bin/time (GNU time) to read peak RSS');
  const ev = '{"pid": 4242, "tid": 4242, "ts": 643105628.094, "ph": "X", "dur": 0.28041759048385895, "name": "f (/tmp/busy.py:1)", "cat": "FEE"}';
  const make = (name: string, n: number) => {
    const p = join(tmp, name);
    const block = Array(1000).fill(ev).join(', ');
    writeFileSync(p, '{"traceEvents": [' + Array(n / 1000).fill(block).join(', ') + '], "viztracer_metadata": {}}');
    return p;
  };
  // To a file, with -o or as stdout (`> out.json`): process.stdout on a
  // file writes synchronously, and its callbacks wait for the event loop.
  const peak = async (file: string, extra: string[], dest: '-o' | '>') => {
    const out = join(tmp, 'rss-out.json');
    // A shell's redirection: execa's own `stdout: { file }` hands the child a pipe.
    const argv = ['/usr/bin/time', '-f', '%M', 'node', bin('merge-trace'), ...extra, file];
    const r = await (dest === '-o'
      ? execa(argv[0]!, [...argv.slice(1), '-o', out], { reject: false })
      : execa('sh', ['-c', '"$@" > "$0"', out, ...argv], { reject: false }));
    t.equal(r.exitCode, 0);
    return Number(String(r.stderr).trim().split('\n').pop()) / 1024;
  };
  // Node's heap settles after the first tens of MB (GC lets it grow that far
  // first), so compare two sizes beyond that: 2x the input, the same RSS
  // (one that kept more than a quarter of the 72 MB more it read is past the
  // 20 MB allowed).
  // Both past the 64 MB from which inputs are scanned on worker threads,
  // each with a heap of its own: what those cost does not grow either.
  const small = make('small.json', 540_000); // about 72 MB
  const large = make('large.json', 1_080_000); // about 144 MB
  for (const [extra, dest] of [[[], '-o'], [['--align'], '-o'], [['--align'], '>']] as const) {
    const a = await peak(small, [...extra], dest);
    const b = await peak(large, [...extra], dest);
    t.ok(b - a < 20 && b < 200, `${extra.join(' ') || 'plain'}, ${dest === '-o' ? '-o FILE' : '> FILE'}: peak RSS ${a.toFixed(0)} MB for 72 MB in, ${b.toFixed(0)} MB for 144 MB in`);
  }
});

t.test('merged with to-trace output, passes the importer validator', async (t) => {
  // pair.*: one run of progs/threads.py under VizTracer, recorded by perf at the
  // same time (gil-record --record-only, -k CLOCK_MONOTONIC): perf script text
  // and VizTracer's own JSON.
  const toTrace = bin('to-trace');
  if (!existsSync(toTrace)) return t.skip('dist/bin/to-trace.js is not built');
  const gil = join(tmp, 'pair-gil.json');
  // gil-state's output is kept (tee) for to-trace's NDJSON form below.
  const states = join(tmp, 'pair-states.ndjson');
  const pipe = await execa(`set -o pipefail; node ${bin('perf-parse')} pair.perf.txt.gz | node ${bin('gil-state')} | tee ${states} | node ${toTrace} -o ${gil}`, { shell: 'bash', cwd: FX, reject: false });
  t.equal(pipe.exitCode, 0, 'perf-parse | gil-state | to-trace');
  if (pipe.exitCode !== 0) return;
  const out = join(tmp, 'pair-merged.json');
  const r = await merge([gil, 'pair.vt.json', '-o', out]);
  t.equal(r.exitCode, 0);
  t.equal(r.stderr, '', 'no warning: one run, one clock, so the time ranges overlap');
  t.strictSame(await validateTraceFile(out), [], 'the merged file passes the importer validator');
  const merged = JSON.parse(readFileSync(out, 'utf8')) as Trace;
  const a = JSON.parse(readFileSync(gil, 'utf8')) as Trace;
  const b = fx('pair.vt.json');
  t.strictSame(merged.traceEvents, [...a.traceEvents, ...b.traceEvents], "to-trace's events, then VizTracer's");
  t.strictSame(Object.keys(merged), [...new Set([...Object.keys(a), 'viztracer_metadata', 'file_info'])], "to-trace's object is the base");
  t.equal(String(merged.viztracer_metadata.baseTimeNanoseconds), String(b.viztracer_metadata.baseTimeNanoseconds), "VizTracer's wall-clock base carried over");
  t.strictSame(merged.file_info.functions, b.file_info.functions, "VizTracer's function table carried over");
  // to-trace's NDJSON form (one event per line) merges the same way.
  const nd = join(tmp, 'pair-gil.ndjson');
  const ndPipe = await execa(`node ${toTrace} --format ndjson -o ${nd} < ${states}`, { shell: true, cwd: FX, reject: false });
  t.equal(ndPipe.exitCode, 0, 'to-trace --format ndjson');
  const ndOut = await merge([nd, 'pair.vt.json']);
  t.equal(ndOut.exitCode, 0);
  const lines = readFileSync(nd, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Ev);
  t.strictSame((JSON.parse(ndOut.stdout as string) as Trace).traceEvents, [...lines, ...b.traceEvents], 'NDJSON lines, then VizTracer\'s events');
  // The shared clock, checked: VizTracer's main thread is a thread to-trace drew too.
  const vtPid = b.traceEvents[0]!.pid;
  t.ok(a.traceEvents.some((e) => e.pid === vtPid), 'the traced process appears in both');
});

t.test('Ctrl-C while writing: exit 130, no half-written file', async (t) => {
  const ev = '{"pid": 1, "tid": 1, "ts": 643105628.094, "ph": "X", "dur": 0.25, "name": "f (/tmp/busy.py:1)", "cat": "FEE"}';
  const input = join(tmp, 'sigint-in.json');
  writeFileSync(input, '{"traceEvents": [' + Array(500).fill(Array(1000).fill(ev).join(', ')).join(', ') + ']}');
  const dir = join(tmp, 'sigint');
  mkdirSync(dir);
  const child = execa('node', [bin('merge-trace'), '--align', input, '-o', join(dir, 'out.json')], { reject: false });
  // Wait for pass 2 to start writing (its temporary file appears), then interrupt.
  let sawTmp = false;
  for (let k = 0; k < 3000 && !sawTmp && child.exitCode === null; k++) {
    sawTmp = readdirSync(dir).some((f) => f.includes('.tmp-'));
    if (!sawTmp) await new Promise((r) => setTimeout(r, 5));
  }
  if (!sawTmp) {
    await child;
    return t.skip('the merge finished before it could be interrupted');
  }
  child.kill('SIGINT');
  const r = await child;
  t.equal(r.exitCode, 130, 'exit 130');
  t.match(String(r.stderr), /merge-trace: interrupted: the merge did not finish: .* is not written/, 'and says so');
  t.strictSame(readdirSync(dir), [], 'neither the output nor its temporary file is left');
});
