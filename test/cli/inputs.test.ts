// Each stage knows what it was given: it reads what it can (perf.data as a
// file, perf script text where records are expected) and names what it
// cannot, with what reads it, exit 1. Absurd values are malformed lines.
import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin, runBin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-inputs-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const data = join(tmp, 'two_cpu-short.perf.data');
writeFileSync(data, gunzipSync(readFileSync(fx + 'two_cpu-short.perf.data.gz')));
const text = fx + 'two_cpu-short.perf.txt.gz';
// What the commands make of the capture's text, which several tests read:
// each run once, by the first test that wants it.
const memo = new Map<string, Promise<any>>();
const once = <T>(key: string, run: () => Promise<T>): Promise<T> => memo.get(key) ?? memo.set(key, run()).get(key)!;
const textParsed = () => once('perf-parse TEXT', () => runBin('perf-parse', [text]));
const textStates = () => once('gil-state TEXT', () => runBin('gil-state', [text]));
const textPiped = () => once('perf-parse TEXT | gil-state', () => execa('sh', ['-c', `node ${bin('perf-parse')} "$1" | node ${bin('gil-state')}`, 'sh', text], { stripFinalNewline: false }));

t.test('a perf.data given as a file is read as with -i', async (t) => {
  const asFile = await runBin('perf-parse', [data]);
  const withI = await runBin('perf-parse', ['-i', data]);
  const fromText = await textParsed();
  t.equal(asFile.exitCode, 0, String(asFile.stderr));
  t.ok(asFile.stdout === withI.stdout, 'perf-parse FILE = perf-parse -i FILE');
  // perf-parse asks perf script for the header (record.sh's text has none): the one difference.
  const [head, ...rest] = String(asFile.stdout).split('\n');
  const header = JSON.parse(head!);
  const perfHeader = await execa('perf', ['report', '--header-only', '-i', data], { reject: false });
  const hostname = /^# hostname : (.*)$/m.exec(String(perfHeader.stdout))?.[1];
  t.equal(header.type, 'header');
  t.equal(header.meta.hostname, hostname, "the header's host is the one perf report --header-only shows");
  t.ok(rest.join('\n') === fromText.stdout, 'and the rest = perf-parse of the perf script text record.sh printed of it');
  const state = await runBin('gil-state', [data]);
  const piped = await textPiped();
  t.equal(state.exitCode, 0);
  const stateLines = String(state.stdout).trimEnd().split('\n');
  const pipedLines = String(piped.stdout).trimEnd().split('\n');
  const capture = JSON.parse(stateLines.pop()!);
  const pipedCapture = JSON.parse(pipedLines.pop()!);
  t.same(stateLines.slice(1), pipedLines, 'gil-state perf.data = perf-parse | gil-state, the header passed through first');
  t.same(capture, { ...pipedCapture, host: hostname, captured_on: header.meta['captured on'] }, 'and its capture record names the host and time of the header');
  // A file-mode one on a stream: copied to a temporary file (its section table is at its end), which goes with the command.
  const own = mkdtempSync(join(tmp, 'tmpdir-'));
  const env = { TMPDIR: own };
  // The same records as from its path, but for the file's time: a stream has none.
  const withoutTime = (out: string) => {
    const [h, ...rest] = out.split('\n');
    const hr = JSON.parse(h!);
    delete hr.meta['captured on'];
    return [JSON.stringify(hr), ...rest].join('\n');
  };
  const fromPath = withoutTime(String(asFile.stdout));
  for (const [how, r] of [
    ['on stdin', await runBin('perf-parse', [], { inputFile: data, env })],
    ['gzipped on stdin', await execa('sh', ['-c', `gzip -c "$1" | node ${bin('perf-parse')}`, 'sh', data], { reject: false, stripFinalNewline: false, env })],
    ['-i - on stdin', await runBin('perf-parse', ['-i', '-'], { inputFile: data, env })],
    ['as a FIFO', await execa('bash', ['-c', `node ${bin('perf-parse')} <(cat "$1")`, 'sh', data], { reject: false, stripFinalNewline: false, env })],
    // -i took a path as a file to seek in: ESPIPE on a FIFO and /dev/stdin.
    ['-i FIFO', await execa('bash', ['-c', `node ${bin('perf-parse')} -i <(cat "$1")`, 'sh', data], { reject: false, stripFinalNewline: false, env })],
    ['-i /dev/stdin on a pipe', await execa('sh', ['-c', `cat "$1" | node ${bin('perf-parse')} -i /dev/stdin`, 'sh', data], { reject: false, stripFinalNewline: false, env })],
  ] as const) {
    t.equal(r.exitCode, 0, `${how}: read (${String(r.stderr).trim()})`);
    t.equal(String(r.stderr), '', `${how}: nothing said`);
    t.notOk('captured on' in JSON.parse(String(r.stdout).split('\n')[0]!).meta, `${how}: no time of the file, which a stream does not have`);
    t.ok(String(r.stdout) === fromPath, `${how}: the records read from its path`);
    t.same(readdirSync(own), [], `${how}: its copy is removed`);
  }
  t.ok('captured on' in JSON.parse(String(asFile.stdout).split('\n')[0]!).meta, 'by its path the header has the file time the streams lack');
  const cut = await runBin('perf-parse', [], { input: readFileSync(data).subarray(0, 100_000), env });
  t.equal(cut.exitCode, 1, 'a cut one on stdin: exit 1');
  t.match(cut.stderr, /perf-parse: stdin: truncated at byte/, 'named as stdin, with where it breaks off');
  t.same(readdirSync(own), [], 'and its copy is removed');
  const pipeMode = join(tmp, 'pipe.perf.data');
  writeFileSync(pipeMode, gunzipSync(readFileSync(fx + 'perfdata/pipe.perf.data.gz')));
  const fromPipe = await runBin('perf-parse', [], { inputFile: pipeMode });
  t.equal(fromPipe.exitCode, 0, 'a pipe-mode one is read from stdin, as perf record -o - | perf-parse would');
  const fromItsText = String((await runBin('perf-parse', [fx + 'perfdata/pipe.perf.txt.gz'])).stdout);
  // After the header (which on stdin has no file time, and perf's has lines the reader leaves out: docs/perf-data.md).
  t.ok(String(fromPipe.stdout).split('\n').slice(1).join('\n') === fromItsText.split('\n').slice(1).join('\n'), 'the same records as its perf script text');
});

t.test('perf-parse given records or a trace says what it got and what reads it', async (t) => {
  const records = join(tmp, 'records.ndjson');
  writeFileSync(records, (await textParsed()).stdout as string);
  const r = await runBin('perf-parse', [records]);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /records\.ndjson: this is NDJSON records \(perf-parse's output\?\), not perf script text: give it to gil-state/);
  t.equal(r.stdout, '', 'nothing written');
  const trace = await runBin('perf-parse', [], { input: '{"traceEvents": []}\n' });
  t.equal(trace.exitCode, 1);
  t.match(trace.stderr, /this is trace JSON/);
});

t.test('gil-state reads perf script text itself, and refuses its own output', async (t) => {
  const direct = await textStates();
  const piped = await textPiped();
  t.ok(direct.stdout === piped.stdout, 'gil-state TEXT = perf-parse TEXT | gil-state');
  const states = join(tmp, 'states.ndjson');
  writeFileSync(states, direct.stdout as string);
  const again = await runBin('gil-state', [states]);
  t.equal(again.exitCode, 1);
  t.match(again.stderr, /gil-state: .*states\.ndjson:\d+: this is gil-state's output already \(a span record\): give it to gil-stats or to-trace/);
});

t.test('no GIL probe matched: gil-state names the probes it saw and the options that map them', async (t) => {
  const r = await execa('sh', ['-c', `node ${bin('perf-parse')} "$1" | node ${bin('gil-state')} --take-gil '^nothing$' --drop-gil '^nothing$'`, 'sh', text], { reject: false });
  t.match(r.stderr, /NO GIL EVENTS in the input: no probe matched take_gil or drop_gil\. The probes it has: gilfix:take_gil/);
  t.match(r.stderr, /--take-gil REGEX --drop-gil REGEX/);
});

t.test('no GIL probe matched, in gil-stats: the advice names gil-state, whose options they are, and following it works', async (t) => {
  // The probes under other names, as a user's own perf probe -a NAME=take_gil makes them.
  const renamed = join(tmp, 'renamed.perf.txt');
  const text0 = String((await execa('sh', ['-c', 'gzip -dc "$1" | sed "s/take_gil/grab_lock/g; s/drop_gil/free_lock/g"', 'sh', fx + 'gil_hog.perf.txt.gz'])).stdout);
  writeFileSync(renamed, text0 + '\n');
  const r = await runBin('gil-stats', [renamed, '--format', 'json']);
  t.match(r.stderr, /say which to gil-state: gil-state --take-gil REGEX --drop-gil REGEX/);
  t.equal(JSON.parse(String(r.stdout)).gil_data, false, 'no GIL data without them');
  const advised = await execa('sh', ['-c', `node ${bin('gil-state')} --take-gil '^grab_lock$' --drop-gil '^free_lock$' "$1" | node ${bin('gil-stats')} --format json`, 'sh', renamed]);
  t.equal(JSON.parse(String(advised.stdout)).gil_data, true, 'gil-state with them, into gil-stats: the GIL is back');
});

t.test('microsecond times are warned about once', async (t) => {
  const r = await runBin('perf-parse', [fx + 'two_cpu.default.perf.txt.gz']);
  const lines = String(r.stderr).split('\n').filter((l) => /microsecond times/.test(l));
  t.equal(lines.length, 1);
  t.match(lines[0], /perf script --ns/);
  const ns = await runBin('perf-parse', [fx + 'two_cpu.perf.txt.gz']);
  t.notMatch(ns.stderr, /microsecond/);
});

t.test('absurd values and missing fields are malformed lines, in every stage; --strict stops', async (t) => {
  const cases: Array<[string, object]> = [
    ['ts 1e26', { type: 'sample', ts: 1e26, tid: 1, event: 'sched:sched_switch' }],
    ['negative ts', { type: 'sample', ts: -5, tid: 1, event: 'x:y' }],
    ['no event', { type: 'sample', ts: 5, tid: 1 }],
  ];
  // A usable record beside the bad one: an input with none is the wrong input (the next test).
  const good = JSON.stringify({ type: 'sample', ts: 5, tid: 1, event: 'x:y' });
  for (const [what, rec] of cases) {
    const r = await runBin('gil-state', [], { input: JSON.stringify(rec) + '\n' + good + '\n' });
    t.equal(r.exitCode, 0, `${what}: lenient`);
    t.match(r.stderr, /skipped 1 malformed line \(first: stdin:1: sample record: /, what);
    const s = await runBin('gil-state', ['--strict'], { input: JSON.stringify(rec) + '\n' });
    t.equal(s.exitCode, 1, `${what}: --strict exits 1`);
  }
  const span = { type: 'span', pid: 1, tid: 1, family: 'gil', state: 'hold', ts: 100 };
  // 1e400 is Infinity once parsed; a duration of 1e30 ns is 30 trillion years.
  const lines = ['{"type":"span","pid":1,"tid":1,"family":"gil","state":"hold","ts":100,"dur":1e400}', JSON.stringify({ ...span, dur: 1e30 }), JSON.stringify(span), JSON.stringify({ ...span, dur: 10 })];
  for (const stage of ['to-trace', 'gil-stats']) {
    const r = await runBin(stage, ['--format', 'json'], { input: lines.join('\n') + '\n' });
    t.equal(r.exitCode, 0, stage);
    t.match(r.stderr, /skipped 3 unusable records \(first: stdin:1: span record: "dur" is not an integer >= 0/, stage);
    const s = await runBin(stage, ['--strict'], { input: lines.join('\n') + '\n' });
    t.equal(s.exitCode, 1, `${stage} --strict`);
    t.equal(String(s.stderr).trim().split('\n').length, 1, `${stage} --strict: one line, the record it stopped at (nothing was skipped)`);
    t.match(s.stderr, /stdin:1: span record: "dur" is not an integer >= 0/);
  }
});

t.test('an input of which no line can be read is the wrong input: named, exit 1, the output of the others whole', async (t) => {
  const wrong = join(tmp, 'app.log');
  // Its blank lines are neither used nor bad: the three others decide.
  writeFileSync(wrong, 'INFO starting\n\nINFO listening on :8080\n\nWARN slow request 1.5s\n');
  for (const stage of ['perf-parse', 'gil-state', 'gil-stats', 'to-trace']) {
    const alone = await runBin(stage, [wrong]);
    t.equal(alone.exitCode, 1, `${stage}: exit 1`);
    t.match(alone.stderr, new RegExp(`^${stage}: \\S*app\\.log: none of its 3 lines could be read \\(first: \\S*app\\.log:1: `), `${stage}: names the input, its lines and the first problem`);
    t.notMatch(alone.stderr, /skipped/, `${stage}: not said twice`);
    const piped = await runBin(stage, [], { input: 'hello\n' });
    t.equal(piped.exitCode, 1, `${stage} on stdin`);
    t.match(piped.stderr, /stdin: its one line could not be read/, `${stage} on stdin`);
    // Beside a real capture: its output is all there, then the run fails.
    const out = join(tmp, `beside-${stage}.out`);
    const beside = await runBin(stage, [text, wrong]);
    const withO = await runBin(stage, [text, wrong, '-o', out]);
    const good = stage === 'perf-parse' ? await textParsed() : stage === 'gil-state' ? await textStates() : await runBin(stage, [text]);
    t.equal(beside.exitCode, 1, `${stage} beside a capture`);
    t.match(beside.stderr, new RegExp(`^${stage}: \\S*app\\.log: none of its 3 lines could be read`, 'm'), `${stage}: named once, not after "... and 1 more input"`);
    if (stage === 'gil-stats') t.equal(beside.stdout, '', 'gil-stats: no summary that would pass for the two inputs\'');
    else t.ok(beside.stdout === good.stdout, `${stage}: the capture's output, whole`);
    t.equal(withO.exitCode, 1);
    t.same(readdirSync(tmp).filter((f) => f.includes(`beside-${stage}`)), [], `${stage}: -o not written, no temp file`);
  }
  // A later input that breaks off ends the run with its own error: the unreadable one is still named, once.
  const cut = join(tmp, 'cut.data');
  writeFileSync(cut, readFileSync(data).subarray(0, Math.floor(readFileSync(data).length / 2)));
  for (const stage of ['perf-parse', 'gil-stats', 'to-trace']) {
    const r = await runBin(stage, [wrong, cut]);
    t.equal(r.exitCode, 1, `${stage}: a log, then a cut perf.data`);
    t.match(r.stderr, /cut\.data: truncated at byte/, `${stage}: the break`);
    t.equal(String(r.stderr).match(/app\.log: none of its 3 lines could be read/g)?.length, 1, `${stage}: and the log, once`);
    t.match(r.stderr, new RegExp(`^${stage}: \\S*app\\.log: none`, 'm'), `${stage}: by its name alone, not after "... and 1 more input"`);
    t.notMatch(r.stderr, /skipped/, `${stage}: its lines not counted again as skipped`);
  }
  // A line that can be read keeps the input: a bad line among good ones is skipped, exit 0.
  const mixed = await runBin('perf-parse', [], { input: gunzipSync(readFileSync(text)).toString('latin1').split('\n').slice(0, 50).join('\n') + '\nINFO starting\n' });
  t.equal(mixed.exitCode, 0);
  t.match(mixed.stderr, /skipped 1 malformed line/);
});

t.test('merge-trace refuses records that are not trace events', async (t) => {
  const records = join(tmp, 'events.ndjson');
  writeFileSync(records, (await textParsed()).stdout as string);
  const alone = await runBin('merge-trace', [records, '-o', join(tmp, 'm.json')]);
  t.equal(alone.exitCode, 1);
  t.match(alone.stderr, /events\.ndjson: records of gilpipe's stages \(a "type", no "ph"\), not trace events: to-trace makes a trace of them/);
  t.match(alone.stderr, /no usable input among the 1 given: nothing written/);
  const viz = fileURLToPath(new URL('../fixtures/viztracer/threads.json', import.meta.url));
  const beside = await runBin('merge-trace', [records, viz]);
  t.equal(beside.exitCode, 0, 'the usable input is merged alone, the other skipped with the reason');
  t.notMatch(beside.stdout, /"type":"sample"/);
});

t.test('an input that cannot be read is named with the reason, exit 2, for every stage and form', async (t) => {
  // Root reads any file: the commands then run as nobody, who must reach the file but not read it.
  const asRoot = process.getuid?.() === 0;
  const dir = join(tmp, 'unreadable');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(tmp, 0o755);
  const files = { 'perf.data': join(dir, 'x.perf.data'), text: join(dir, 'x.perf.txt') };
  writeFileSync(files['perf.data'], readFileSync(data));
  writeFileSync(files.text, gunzipSync(readFileSync(text)));
  for (const f of Object.values(files)) chmodSync(f, 0);
  // As nobody (tap's hook, which would write beside the checkout, is kept out of children: test/helpers/plain-children.ts).
  const run = (stage: string, args: readonly string[]) =>
    asRoot ? runBin(stage, [...args], { uid: 65534, gid: 65534 }) : runBin(stage, [...args]);
  for (const [what, f] of Object.entries(files)) {
    for (const [stage, args] of [['perf-parse', [f]], ['perf-parse', ['-i', f]], ['gil-state', [f]], ['gil-stats', [f]], ['to-trace', [f]]] as const) {
      const r = await run(stage, args);
      t.equal(r.exitCode, 2, `${stage} ${args.join(' ')}: exit 2 (${what})`);
      t.equal(r.stderr, `${stage}: ${f}: permission denied\n`, `${stage} ${args.join(' ')}: the file and the reason, no internal error`);
    }
  }
});

t.test('a write that fails is exit 1, with the path and the reason; 2 stays for usage', async (t) => {
  for (const stage of ['perf-parse', 'gil-state', 'to-trace', 'gil-stats']) {
    const missing = await runBin(stage, [text, '-o', join(tmp, 'no-such-dir', 'out.json')]);
    t.equal(missing.exitCode, 1, `${stage}: a missing directory`);
    t.match(missing.stderr, new RegExp(`^${stage}: \\S*no-such-dir/out\\.json: cannot write: its folder \\S*no-such-dir does not exist`), 'the output and its missing folder, not the input, first');
    const full = await runBin(stage, [text, '-o', '/dev/full']);
    t.equal(full.exitCode, 1, `${stage}: a full disk`);
    t.match(full.stderr, /\/dev\/full: cannot write: no space left on the device/);
  }
  const stdout = await execa('sh', ['-c', `node ${bin('perf-parse')} "$1" > /dev/full`, 'sh', text], { reject: false });
  t.equal(stdout.exitCode, 1, 'stdout on a full disk');
  t.match(stdout.stderr, /^perf-parse: cannot write to stdout: no space left on the device/m);
  t.equal((await runBin('perf-parse', ['--no-such-option'])).exitCode, 2, 'usage is 2');
});

t.test('a file that fills its disk (a small tmpfs) is exit 1, with the path and the reason, and no half file is left', async (t) => {
  // /dev/full above is a device, written in place; a regular file is written beside and renamed, by its own writer.
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a tmpfs');
  const disk = mkdtempSync(join(tmpdir(), 'gilpipe-full-'));
  const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', disk], { reject: false });
  if (mounted.exitCode !== 0) {
    rmSync(disk, { recursive: true, force: true });
    return t.skip(`cannot mount a tmpfs: ${String(mounted.stderr).trim()}`);
  }
  t.teardown(async () => {
    await execa('umount', [disk], { reject: false });
    rmSync(disk, { recursive: true, force: true });
  });
  const trace = join(tmp, 'full-source.json');
  writeFileSync(trace, JSON.stringify({ traceEvents: Array.from({ length: 5000 }, (_x, i) => ({ ph: 'X', pid: 1, tid: 1, ts: i, dur: 1, name: `f${i}` })) }));
  const runs: Array<[string, string[]]> = [
    ...['perf-parse', 'gil-state', 'to-trace'].map((stage): [string, string[]] => [stage, [text, '-o', join(disk, 'out.json')]]),
    ['merge-trace', [trace, trace, '-o', join(disk, 'out.json')]],
  ];
  for (const [stage, args] of runs) {
    const r = await runBin(stage, args);
    t.equal(r.exitCode, 1, `${stage}: exit 1`);
    t.match(r.stderr, new RegExp(`^${stage}: \\S*/out\\.json: cannot write: no space left on the device$`, 'm'), `${stage}: the output and the reason`);
    t.notMatch(r.stderr, /\n\s+at /, `${stage}: no stack trace`);
    t.same(readdirSync(disk), [], `${stage}: nothing left on the disk`);
  }
});

t.test('bounds: --interval too fine is a usage error; a 200 MB line and 100,000-deep nesting are malformed lines, memory flat', async (t) => {
  const fine = await runBin('gil-stats', [text, '--interval', '1ns']);
  t.equal(fine.exitCode, 2);
  t.match(fine.stderr, /--interval wants at least 100us, not '1ns'/);
  const long = join(tmp, 'long.txt');
  // 200 MB without a newline, then real lines: they are still read.
  await execa('sh', ['-c', `head -c 209715200 /dev/zero | tr '\\0' x > "$1"; echo >> "$1"; zcat "$2" >> "$1"`, 'sh', long, text]);
  const hasTime = (await execa('/usr/bin/time', ['-f', '%M', 'true'], { reject: false })).exitCode === 0;
  const r = hasTime ? await execa('/usr/bin/time', ['-f', 'rss %M', 'node', bin('perf-parse'), long], { reject: false }) : await runBin('perf-parse', [long]);
  t.equal(r.exitCode, 0);
  t.match(r.stderr, /skipped 1 malformed line \(first: .*long\.txt:1: a line longer than the limit of 16777216 characters: skipped\)/);
  t.ok(String(r.stdout).split('\n').length > 1000, 'the lines after it are read');
  if (hasTime) {
    const kb = Number(/rss (\d+)/.exec(String(r.stderr))![1]);
    t.ok(kb < 150 * 1024, `peak RSS ${Math.round(kb / 1024)} MB`);
  }
  const deep = `{"type":"x","a":${'['.repeat(100_000)}${']'.repeat(100_000)}}\n{"type":"y"}\n`;
  const d = await runBin('gil-state', [], { input: deep });
  t.equal(d.exitCode, 0);
  t.match(d.stderr, /stdin:1: nested deeper than 1000 levels/);
  t.match(d.stdout, /\{"type":"y"\}/, 'the next line is read');
  t.equal((await runBin('gil-state', ['--strict'], { input: deep })).exitCode, 1, '--strict stops at it');
});

t.test('a new thread every few hundred lines (1,500 of them over 72 MB): memory flat, every line read', async (t) => {
  // perf-parse remembers what it read of each line prefix (comm, pid/tid, cpu): what it keeps
  // must not hold on to the chunks the lines came in (it did: 162 MB of RSS here, 90 MB without).
  const hasTime = (await execa('/usr/bin/time', ['-f', '%M', 'true'], { reject: false })).exitCode === 0;
  if (!hasTime) return t.skip('/usr/bin/time is missing (Debian package time): peak RSS not measured');
  const file = join(tmp, 'threads.txt');
  const lines: string[] = [];
  for (let i = 0; i < 600_000; i++) {
    const tid = 10000 + Math.floor(i / 400);
    lines.push(`          python ${String(tid).padStart(7)}/${tid} [00${i % 2}]   100.${String(i).padStart(9, '0')}: sched:sched_wakeup: comm=python pid=${tid} prio=120 target_cpu=001`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  const r = await execa('/usr/bin/time', ['-f', 'rss %M', 'sh', '-c', 'node "$1" "$2" | wc -l', 'sh', bin('perf-parse'), file], { reject: false });
  t.equal(r.exitCode, 0, `exit 0 ${String(r.stderr).slice(-300)}`);
  t.equal(Number(String(r.stdout).trim()), 600_000, 'a record a line');
  const kb = Number(/rss (\d+)/.exec(String(r.stderr))![1]);
  t.ok(kb < 150 * 1024, `peak RSS ${Math.round(kb / 1024)} MB`);
});

t.test('-i given a directory is a usage error with its name, not an internal error', async (t) => {
  const r = await runBin('perf-parse', ['-i', tmpdir()]);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, new RegExp(`${tmpdir()}: is a directory`));
  t.notMatch(r.stderr, /internal error/);
});

t.test('-i takes a gzipped perf.data as a FILE argument does', async (t) => {
  const gz = fileURLToPath(new URL('../fixtures/two_cpu-short.perf.data.gz', import.meta.url));
  const [viaI, viaFile] = await Promise.all([runBin('perf-parse', ['-i', gz]), runBin('perf-parse', [gz])]);
  t.equal(viaI.exitCode, 0, String(viaI.stderr));
  // The fixture's own perf script text has one line per record: an independent count.
  const text = gunzipSync(readFileSync(fileURLToPath(new URL('../fixtures/two_cpu-short.perf.txt.gz', import.meta.url)))).toString();
  const events = text.split('\n').filter((l) => /^\s*\S.*\d+\.\d{9}:/.test(l)).length;
  t.equal(String(viaI.stdout).split('\n').filter((l) => l && !l.startsWith('{"type":"header"')).length, events, `${events} events, one record each`);
  t.equal(viaI.stdout, viaFile.stdout, 'the same records as the file given as it is');
});

t.test('more inputs than `ulimit -n` allows descriptors: each is opened when it is read, and their shared note is one line', async (t) => {
  // A folder of recordings given at once used to open every file before reading
  // the first: EMFILE past the limit, nothing written.
  const dir = mkdtempSync(join(tmp, 'many-'));
  const lines = gunzipSync(readFileSync(text)).toString().split('\n');
  const files = [data];
  // 100 distinct captures (different slices of one text), so none is refused as given twice.
  for (let i = 1; i <= 100; i++) {
    const f = join(dir, `slice-${String(i).padStart(3, '0')}.txt`);
    writeFileSync(f, lines.slice(i * 3, i * 3 + 300).join('\n') + '\n');
    files.push(f);
  }
  const r = await execa('sh', ['-c', 'ulimit -n 48 && exec node "$@"', 'sh', bin('gil-stats'), ...files, '--format', 'json'], { reject: false });
  t.equal(r.exitCode, 0, String(r.stderr).slice(0, 300));
  const s = JSON.parse(String(r.stdout));
  t.equal(s.captures, 101, 'every input is a capture');
  t.same(s.sources, files, 'and a source, in the order given');
  // Slices cut calls open at their first line: most have a return_without_entry, told once for all of them.
  const notes = String(r.stderr).trimEnd().split('\n');
  t.equal(notes.length, 1, `one note: ${notes[0]}`);
  t.match(notes[0], new RegExp(`^gil-stats: \\S+slice-\\d+\\.txt: anomalies: 1 return_without_entry \\(see the diagnostic records\\); the same in \\S+slice-\\d+\\.txt and \\d+ more inputs$`));
  // A missing one still fails at the start, before anything is read.
  const missing = await runBin('gil-stats', [...files.slice(0, 3), join(dir, 'absent.txt')]);
  t.equal(missing.exitCode, 2);
  t.match(missing.stderr, /absent\.txt/);
  t.equal(missing.stdout, '', 'nothing written');
});

t.test("perf script text whose first line is not an event (perf's warning on 2>&1, frames of a cut callchain) is read as text by every stage", async (t) => {
  const dir = mkdtempSync(join(tmp, 'first-'));
  const capture = gunzipSync(readFileSync(fx + 'gil_hog.perf.txt.gz')).toString('latin1');
  // perf script prints this on stderr when events were out of order; 2>&1 puts it first.
  const warned = join(dir, 'warned.txt');
  writeFileSync(warned, 'Warning:\n  2 out of order events recorded.\n' + capture, 'latin1');
  const framed = join(dir, 'framed.txt');
  writeFileSync(framed, '\t    ffffffff81000000 schedule ([kernel.kallsyms])\n' + capture, 'latin1');
  const plain = join(dir, 'plain.txt');
  writeFileSync(plain, capture, 'latin1');
  const threads = (out: string) => JSON.parse(out).threads.map((x: Record<string, number>) => [x.tid, x.hold_ns, x.wait_ns]);
  const want = threads(String((await runBin('gil-stats', ['--format', 'json', plain])).stdout));
  const said = new Map<string, string>();
  for (const [what, f] of [['a warning', warned], ['a frame', framed]] as const) {
    const r = await runBin('gil-stats', ['--format', 'json', f]);
    said.set(f, String(r.stderr));
    t.equal(r.exitCode, 0, `gil-stats, first ${what}: exit 0 ${String(r.stderr).slice(0, 200)}`);
    t.same(threads(String(r.stdout)), want, `gil-stats, first ${what}: the figures of the capture without it`);
    const s = await runBin('gil-state', [f]);
    t.equal(s.exitCode, 0, `gil-state, first ${what}`);
    t.ok(String(s.stdout).includes('"type":"capture"'), `gil-state, first ${what}: read as a capture`);
    const tr = await runBin('to-trace', [f, '-o', join(dir, 'out.json')]);
    t.equal(tr.exitCode, 0, `to-trace, first ${what}`);
  }
  // The frame that belongs to no event is named, not dropped in silence.
  t.match(said.get(framed), /framed\.txt:1: /);
  // The warning is perf's, both its lines, indented or not: no malformed line.
  const parsed = await runBin('perf-parse', [warned]);
  t.equal(parsed.stderr, '', 'perf-parse: nothing said of the warning');
  const messages = String(parsed.stdout).split('\n').slice(0, 2).map((l) => JSON.parse(l));
  t.same(messages, [{ type: 'perf_message', text: 'Warning:' }, { type: 'perf_message', text: '  2 out of order events recorded.' }]);
});
