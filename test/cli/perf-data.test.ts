// The commands on perf.data, read natively (lib/perf-data/): the same
// answers as from the perf script text of the same recording, a cut file
// kept up to the cut with the byte it broke at and exit 1, frame-pointer
// callchains named here as perf script names them (DWARF ones handed to perf
// script with a note), and the old path still there for comparison.
import t from 'tap';
import { chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runBin } from '../helpers/run.js';
import { schemaErrors } from '../helpers/schema.js';
import { validateTrace } from '../helpers/validate-trace.js';

const dir = fileURLToPath(new URL('../fixtures/perfdata/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-perfdata-cli-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const hasPerf = (await execa('perf', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0;

/** The texts were printed from copies dated so: perf script --header prints a file's time as `captured on`, gil-stats as `captured_on`. */
const PRINTED_AT = Date.parse('2026-12-01T13:40:00Z') / 1000;

function fixture(name: string): string {
  const path = join(tmp, `${name}.data`);
  writeFileSync(path, gunzipSync(readFileSync(dir + `${name}.perf.data.gz`)));
  utimesSync(path, PRINTED_AT, PRINTED_AT);
  return path;
}

/** A summary without its input names, which differ by design (the .data and the .txt.gz). */
function summary(stdout: string): unknown {
  return JSON.parse(stdout.replace(/"(sources|source)":(\[[^\]]*\]|"[^"]*")/g, '"$1":null'));
}

t.test('gil-stats and to-trace on a perf.data answer as on its perf script text', async (t) => {
  for (const name of ['file', 'pipe', 'py313']) {
    const data = fixture(name);
    const text = dir + `${name}.perf.txt.gz`;
    const a = await runBin('gil-stats', ['--format', 'json', data]);
    const b = await runBin('gil-stats', ['--format', 'json', text]);
    t.equal(a.exitCode, 0, String(a.stderr));
    t.same(summary(String(a.stdout)), summary(String(b.stdout)), `${name}: the same summary`);
    const ta = await runBin('to-trace', [data]);
    const tb = await runBin('to-trace', [text]);
    t.ok(String(ta.stdout).length > 1000 && String(ta.stdout).replaceAll(data, '') === String(tb.stdout).replaceAll(text, ''), `${name}: the same trace`);
  }
});

t.test('a cut perf.data: the records before the cut, the byte it broke at, exit 1, no stack trace', async (t) => {
  for (const name of ['pipe', 'file']) {
    const whole = readFileSync(fixture(name));
    const cut = join(tmp, `${name}-cut.data`);
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6) + 3));
    const r = await runBin('perf-parse', [cut]);
    t.equal(r.exitCode, 1, `${name}: exit 1`);
    t.match(String(r.stderr), new RegExp(`perf-parse: .*${name}-cut\\.data: truncated at byte \\d+ \\(in a [A-Z_0-9]+ record\\)`), String(r.stderr));
    t.notMatch(String(r.stderr), /\n\s+at /, 'no stack trace');
    const out = String(r.stdout);
    t.ok(out.split('\n').length > 1000, `${name}: ${out.split('\n').length - 1} records kept`);
    t.same(schemaErrors(out), [], 'whole, valid records');
    const s = await runBin('gil-stats', [cut, '--format', 'json']);
    t.equal(s.exitCode, 1, `${name}: gil-stats exits 1 too`);
    t.match(String(s.stderr), /truncated at byte \d+/);
    // And on stdout the summary of what was read, marked partial: the one the kept records give.
    const partial = JSON.parse(String(s.stdout).replaceAll(JSON.stringify(cut), '"stdin"'));
    const kept = JSON.parse(String((await runBin('gil-stats', ['--format', 'json'], { input: out })).stdout));
    t.equal(partial.partial, true, `${name}: the summary says it is partial`);
    t.ok(partial.threads.length > 0, `${name}: ${partial.threads.length} threads`);
    t.same([partial.threads, partial.processes], [kept.threads, kept.processes], `${name}: the figures of the records perf-parse kept`);
    const table = await runBin('gil-stats', [cut, '--format', 'table']);
    t.match(String(table.stdout), /^ {2}partial: the input was cut short/m, `${name}: the table says it is partial too`);
    t.notMatch(String((await runBin('gil-stats', ['--format', 'table'], { input: out })).stdout), /partial:/, `${name}: a whole input's table does not`);
    const o = join(tmp, `${name}-cut.json`);
    t.equal((await runBin('gil-stats', [cut, '-o', o])).exitCode, 1);
    t.notOk(existsSync(o), `${name}: -o FILE: not written, as for any failed run`);
    // On stdout (which a failed run cannot take back) the trace of what was read is whole, its end included.
    const tr = await runBin('to-trace', [cut]);
    t.equal(tr.exitCode, 1, `${name}: to-trace exits 1 too`);
    t.same(validateTrace(String(tr.stdout)), [], `${name}: and its trace on stdout is whole and valid (${String(tr.stdout).length} bytes)`);
  }
  const empty = join(tmp, 'empty.data');
  writeFileSync(empty, Buffer.from('PERFILE2'));
  const e = await runBin('perf-parse', ['-i', empty]);
  t.equal(e.exitCode, 1);
  t.match(String(e.stderr), /empty\.data: truncated at byte 8 \(in the file header\)/);
});

t.test('a recording with frame-pointer callchains is read here: every record and frame of its text', async (t) => {
  const data = fixture('callchain');
  const r = await runBin('perf-parse', [data]);
  t.equal(r.exitCode, 0, String(r.stderr));
  t.notMatch(String(r.stderr), /perf script/, 'perf script is not run');
  const text = await runBin('perf-parse', [dir + 'callchain.perf.txt.gz']);
  const frames = (out: string) => out.split('\n').filter(Boolean).map((l) => (JSON.parse(l).callchain ?? []).map((f: { addr: string; dso?: string | null }) => `${f.addr} ${f.dso}`));
  const [a, b] = [frames(String(r.stdout)), frames(String(text.stdout))];
  t.ok(a.flat().length > 1000, `${a.flat().length} frames`);
  t.same(a, b, "every frame's address and file as perf printed them (symbols: test/unit/perf-data.test.ts, where this machine has the files)");
});

t.test('a recording of code samples (cpu-clock) is read here: the records perf script gives, period and offsets in symbols too', async (t) => {
  if (!hasPerf || process.getuid?.() !== 0) return t.skip('needs perf and root to record');
  const data = join(tmp, 'cpu-clock.data');
  const rec = await execa('perf', ['record', '-q', '-F', '2000', '-k', 'CLOCK_MONOTONIC', '-o', data, '-e', 'cpu-clock', '--', 'sh', '-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'], { reject: false });
  if (rec.exitCode !== 0) return t.skip(`perf record failed here: ${rec.stderr}`);
  const records = (s: string) => s.split('\n').filter((l) => l.length > 0 && !l.startsWith('{"type":"header"'));
  const native = await runBin('perf-parse', [data]);
  const old = await runBin('perf-parse', [data], { env: { GILPIPE_PERF_SCRIPT: '1' } });
  t.equal(native.exitCode, 0, String(native.stderr));
  t.notMatch(String(native.stderr), /perf script/, 'perf script is not run');
  const samples = records(String(native.stdout)).filter((l) => l.includes('"event":"cpu-clock"'));
  t.ok(samples.length > 20 && samples.every((l) => /"period":\d+/.test(l)), `${samples.length} samples, each with its period`);
  t.ok(samples.some((l) => /"ip":\{"addr":"[0-9a-f]+","sym":"[^"]+","off":\d+,"dso":"[^"]+"\}/.test(l)), 'ips named with their offset in the symbol');
  t.same(records(String(native.stdout)), records(String(old.stdout)), 'every record as perf script gives it');
});

t.test('a recording with DWARF callchains goes through perf script, said once', async (t) => {
  if (!hasPerf || process.getuid?.() !== 0) return t.skip('needs perf and root to record');
  const data = join(tmp, 'dwarf.data');
  const rec = await execa('perf', ['record', '-q', '--call-graph', 'dwarf,4096', '-k', 'CLOCK_MONOTONIC', '-o', data, '-e', 'sched:sched_switch', '--', 'sleep', '0.05'], { reject: false });
  if (rec.exitCode !== 0) return t.skip(`perf record failed here: ${rec.stderr}`);
  const r = await runBin('perf-parse', [data]);
  t.equal(r.exitCode, 0, String(r.stderr));
  t.equal((String(r.stderr).match(/read through perf script: it has DWARF callchains/g) ?? []).length, 1, 'said once');
  t.match(String(r.stdout), /"callchain":\[\{"addr":"[0-9a-f]+","sym":"[^"]+"/, 'perf unwound and named its frames');
  // A file-mode one on stdin is copied to a file, so perf script reads it too; the copy's time is not the recording's.
  const fromStdin = await runBin('perf-parse', [], { inputFile: data });
  t.equal(fromStdin.exitCode, 0, String(fromStdin.stderr));
  t.match(String(fromStdin.stderr), /stdin: read through perf script: it has DWARF callchains/, 'on stdin too, named as stdin');
  const [head, ...rest] = String(fromStdin.stdout).split('\n');
  const [pathHead, ...pathRest] = String(r.stdout).split('\n');
  t.notOk('captured on' in JSON.parse(head!).meta, 'no file time: a stream has none');
  t.ok('captured on' in JSON.parse(pathHead!).meta, 'by its path, the file time');
  t.ok(rest.join('\n') === pathRest.join('\n'), 'the same records as by its path');
  // Another user's: perf refuses it (its -f is not passed), and the message says what to do.
  const theirs = join(tmp, 'dwarf-theirs.data');
  copyFileSync(data, theirs);
  chownSync(theirs, 65534, 65534);
  const refused = await runBin('perf-parse', [theirs]);
  t.equal(refused.exitCode, 1, 'exit 1');
  t.match(String(refused.stderr), /not owned by current user or root/, "perf's reason");
  t.match(String(refused.stderr), /perf reads only a recording of yours or root's: if you trust this one, read a copy of your own \(cp .*dwarf-theirs\.data mine\.data\)/, 'and what to do');
  // On stdin perf script cannot read it: the kernel frames are named here, and the rest is said to be missing.
  const piped = join(tmp, 'dwarf-pipe.data');
  const prec = await execa('sh', ['-c', 'perf record -q --call-graph dwarf,4096 -k CLOCK_MONOTONIC -o - -e sched:sched_switch -- sleep 0.05 > "$1"', 'sh', piped], { reject: false });
  if (prec.exitCode !== 0) return t.comment(`perf record -o - failed here: ${prec.stderr}`);
  const s = await runBin('perf-parse', [], { inputFile: piped });
  t.equal(s.exitCode, 0, String(s.stderr));
  t.match(String(s.stderr), /samples have DWARF callchains .* only their kernel frames are here/, 'on stdin: said');
  t.match(String(s.stdout), /"sym":"__schedule","dso":"\[kernel\.kallsyms\]"/, 'its kernel frames named');
});

t.test('GILPIPE_PERF_SCRIPT=1 reads through perf script: the same records', { skip: hasPerf ? false : 'perf is not installed' }, async (t) => {
  const data = fixture('noswitch');
  const native = String((await runBin('perf-parse', [data])).stdout).split('\n');
  const old = await runBin('perf-parse', [data], { env: { GILPIPE_PERF_SCRIPT: '1' } });
  t.equal(old.exitCode, 0, String(old.stderr));
  const text = String(old.stdout).split('\n');
  t.ok(native.length > 1000 && native.slice(1).join('\n') === text.slice(1).join('\n'), 'every record after the header byte for byte');
  // The header: the lines the reader writes, as perf wrote them (docs/perf-data.md names the ones it leaves out).
  const [nh, th] = [JSON.parse(native[0]!), JSON.parse(text[0]!)];
  t.same(Object.fromEntries(Object.keys(nh.meta).map((k) => [k, th.meta[k]])), nh.meta);
  t.same(nh.events, th.events);
});

t.test('Ctrl-C while reading a perf.data: exit 130, the partial note, no truncation reported', async (t) => {
  // A long pipe-mode stream: the recording's records (its header records too) again and again.
  const one = readFileSync(fixture('pipe'));
  const big = join(tmp, 'long-pipe.data');
  writeFileSync(big, Buffer.concat([one, ...Array.from({ length: 200 }, () => one.subarray(16))]));
  const out = join(tmp, 'interrupted.ndjson');
  const p = execa('node', [fileURLToPath(new URL('../../dist/bin/perf-parse.js', import.meta.url)), '-o', out, big], { reject: false });
  // Signalled once it is writing its output (the temp file beside -o has records), not after a fixed time.
  const writing = () => readdirSync(tmp).some((f) => f.includes('interrupted.ndjson.tmp-') && statSync(join(tmp, f)).size > 0);
  for (let i = 0; i < 600 && !writing(); i++) await new Promise((res) => setTimeout(res, 50));
  p.kill('SIGINT');
  const r = await p;
  t.equal(r.exitCode, 130, String(r.stderr));
  t.match(String(r.stderr), /interrupted: the output holds what was read before/);
  t.notMatch(String(r.stderr), /truncated at byte/, 'a cut made by Ctrl-C is not a broken file');
  const text = readFileSync(out, 'utf8');
  t.ok(text.length > 0 && text.endsWith('\n'), 'whole lines');
  t.same(schemaErrors(text), [], 'valid records');
  t.ok(text.split('\n').length - 1 < 201 * 7509, 'it stopped early');
});

t.test('a pipe-mode recording with callchains, by its path and on stdin: the records perf script gives', async (t) => {
  if (!hasPerf || process.getuid?.() !== 0) return t.skip('needs perf and root to record');
  const data = join(tmp, 'callchain-pipe.data');
  const rec = await execa('sh', ['-c', 'perf record -q -g -k CLOCK_MONOTONIC -o - -e sched:sched_switch -- sleep 0.05 > "$1"', 'sh', data], { reject: false });
  if (rec.exitCode !== 0) return t.skip(`perf record failed here: ${rec.stderr}`);
  const old = await runBin('perf-parse', [data], { env: { GILPIPE_PERF_SCRIPT: '1' } });
  t.equal(old.exitCode, 0, String(old.stderr));
  const records = (s: string) => s.split('\n').filter((l) => l.length > 0 && !l.startsWith('{"type":"header"'));
  const perf = records(String(old.stdout));
  t.ok(perf.some((l) => /"callchain":\[\{"addr":"[0-9a-f]+","sym":"[^"]+"/.test(l)), "perf script's records have named frames");
  for (const [how, r] of [
    ['by its path', await runBin('perf-parse', [data])],
    ['on stdin', await runBin('perf-parse', [], { inputFile: data })],
  ] as const) {
    t.equal(r.exitCode, 0, String(r.stderr));
    t.notMatch(String(r.stderr), /perf script|unnamed/, `${how}: no perf script, nothing left unnamed`);
    t.same(records(String(r.stdout)), perf, `${how}: every record and frame as perf script gives them`);
  }
});

t.test('a gzipped file-mode perf.data is read through a temporary copy, removed after; a cut archive keeps what unzips', async (t) => {
  const gz = join(tmp, 'file.perf.data.gz');
  writeFileSync(gz, readFileSync(dir + 'file.perf.data.gz'));
  utimesSync(gz, PRINTED_AT, PRINTED_AT);
  const scratch = mkdtempSync(join(tmp, 'scratch-'));
  const env = { TMPDIR: scratch };
  const zipped = await runBin('perf-parse', [gz], { env });
  const plain = await runBin('perf-parse', [fixture('file')]);
  t.equal(zipped.exitCode, 0, String(zipped.stderr));
  t.ok(String(zipped.stdout).length > 0 && zipped.stdout === plain.stdout, 'the same records (and header, dated as the archive)');
  t.same(readdirSync(scratch), [], 'no temporary copy left');
  const cut = join(tmp, 'cut.perf.data.gz');
  writeFileSync(cut, readFileSync(gz).subarray(0, 20000));
  const r = await runBin('perf-parse', [cut], { env });
  t.equal(r.exitCode, 1);
  t.match(String(r.stderr), /cut\.perf\.data\.gz: not valid gzip data .*reading the part that unzips/);
  t.match(String(r.stderr), /cut\.perf\.data\.gz: truncated at byte \d+ \(in a [A-Z_]+ record\)/);
  t.ok(String(r.stdout).split('\n').length > 1000, 'records kept');
  t.same(readdirSync(scratch), [], 'no temporary copy left');
});

t.test('perf script text in a gzip cut short: what unzips goes through every stage, then exit 1', async (t) => {
  const whole = gunzipSync(readFileSync(join(fileURLToPath(new URL('../fixtures/', import.meta.url)), 'gil_hog.perf.txt.gz')));
  const cut = join(tmp, 'cut-text.txt.gz');
  const gz = gzipSync(whole);
  writeFileSync(cut, gz.subarray(0, Math.floor(gz.length / 2)));
  const records = await runBin('perf-parse', [cut]);
  t.equal(records.exitCode, 1);
  t.match(String(records.stderr), /cut-text\.txt\.gz: not valid gzip data/);
  const s = await runBin('gil-stats', [cut, '--format', 'json']);
  t.equal(s.exitCode, 1, 'gil-stats: exit 1');
  t.match(String(s.stderr), /cut-text\.txt\.gz: not valid gzip data/);
  const partial = JSON.parse(String(s.stdout).replaceAll(JSON.stringify(cut), '"stdin"'));
  const kept = JSON.parse(String((await runBin('gil-stats', ['--format', 'json'], { input: String(records.stdout) })).stdout));
  t.equal(partial.partial, true, 'the summary of what unzipped, marked partial');
  t.same([partial.threads, partial.processes], [kept.threads, kept.processes], 'the figures of the records perf-parse kept');
  const tr = await runBin('to-trace', [cut]);
  t.equal(tr.exitCode, 1, 'to-trace: exit 1');
  t.same(validateTrace(String(tr.stdout)), [], `and its trace on stdout is whole and valid (${String(tr.stdout).length} bytes)`);
});
