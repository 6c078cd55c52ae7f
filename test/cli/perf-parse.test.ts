// perf-parse as a user runs it: the real command on real captures.
import t from 'tap';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBin, bin, corpus, hasCorpus } from '../helpers/run.js';
import { schemaErrors, parseNdjson } from '../helpers/schema.js';
import { perfParse } from '../helpers/in-process.js';

const skip = hasCorpus ? false : 'the shared corpus (../shared/corpus) is not beside this checkout';
const V = corpus + 'variants/';
const text = (name: string) => gunzipSync(readFileSync(V + name)).toString('latin1');
const tmp = mkdtempSync(join(tmpdir(), 'perf-parse-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

t.test('-F trace alone: nothing readable, and it says why', { skip }, async (t) => {
  const r = await perfParse(gunzipSync(readFileSync(V + 'ex0-sched.F-trace-only.perf.txt.gz')));
  t.equal(r.out, '');
  t.equal(r.malformed.length, 27, 'every line counted');
  t.match(r.malformed[0], /without time and event columns/);
});

t.test('callchains: frames per event equal the indented lines of its block', { skip }, async (t) => {
  for (const f of ['ex1-fp.ns.perf.txt.gz', 'ex1-dwarf.ns.perf.txt.gz', 'busy5-dwarf.F-plus-srcline.perf.txt.gz']) {
    const blocks = text(f).split('\n\n').filter((b) => b.trim() !== '');
    const frames = blocks.map((b) => b.split('\n').filter((l) => l.startsWith('\t')).length);
    const r = await perfParse(gunzipSync(readFileSync(V + f)));
    const got = parseNdjson(r.out).map((x) => x.callchain?.length ?? 0);
    t.same(got, frames, f);
  }
  const r = await perfParse(gunzipSync(readFileSync(V + 'busy5-dwarf.F-plus-srcline.perf.txt.gz')));
  const first = parseNdjson(r.out)[0]!;
  t.same(first.callchain[0], { addr: 'e298', sym: 'elf_dynamic_do_Rela', off: 0x678, inlined: true, srcline: 'do-rel.h:124' });
});

t.test('task and lost records, the header block, perf messages', { skip }, async (t) => {
  const r = await runBin('perf-parse', [V + 'ex0-sched.show-task-events.perf.txt.gz']);
  const recs = parseNdjson(r.stdout as string);
  t.same(recs[1], { type: 'comm', ts: 151704439556, cpu: 0, pid: 2573, tid: 2573, comm: 'python3.11', exec: true });
  const h = parseNdjson((await runBin('perf-parse', [V + 'ex0-sched.header.perf.txt.gz'])).stdout as string)[0]!;
  t.equal(h.type, 'header');
  t.equal(h.meta['perf version'], '6.1.187');
  t.equal(h.meta.clockid, 'monotonic (1)');
  t.ok(h.events.some((e: { name: string }) => e.name === 'sched:sched_switch'));
  const lost = await runBin('perf-parse', [], {
    input: '      python3.11  2573 [000]   151.705952699: PERF_RECORD_LOST lost 826\nWarning:\nProcessed 41163 events and lost 368 chunks!\n',
  });
  t.same(parseNdjson(lost.stdout as string), [
    { type: 'lost', ts: 151705952699, cpu: 0, lost: 826 },
    { type: 'perf_message', text: 'Warning:' },
    { type: 'perf_message', text: 'Processed 41163 events and lost 368 chunks!', lost_chunks: 368 },
  ]);
  t.match(lost.stderr, /perf lost 826 events/);
});

t.test('CRLF line ends and tab-expanded frames read the same as the original', { skip }, async (t) => {
  const orig = text('ex1-fp.ns.perf.txt.gz').split('\n').slice(0, 60).join('\n') + '\n';
  const a = await runBin('perf-parse', [], { input: orig });
  for (const f of ['derived/ex1-fp.ns.crlf-head60.txt.gz', 'derived/ex1-fp.ns.tabs-expanded-head60.txt.gz']) {
    const b = await runBin('perf-parse', [V + f]);
    t.equal(b.stdout, a.stdout, f);
  }
});

t.test('a line cut short at the end is counted, the rest kept', { skip }, async (t) => {
  const r = await runBin('perf-parse', [V + 'derived/ex0-sched.ns.truncated-midline.txt.gz']);
  t.equal(r.exitCode, 0);
  t.equal(parseNdjson(r.stdout as string).length, 14);
  t.match(r.stderr, /^perf-parse: skipped 1 malformed line \(first: .*truncated-midline\.txt\.gz:15: line cut short/);
  const s = await runBin('perf-parse', ['--strict', V + 'derived/ex0-sched.ns.truncated-midline.txt.gz']);
  t.equal(s.exitCode, 1, '--strict: exit 1');
  t.match(s.stderr, /truncated-midline\.txt\.gz:15: line cut short/);
  t.notMatch(s.stderr, /\n\s+at /, 'no stack trace');
});

t.test('malformed lines: skipped, counted, first one named with file and line', async (t) => {
  const input = [
    '      python3.11  2578 [001]   154.053896361:                   python:take_gil: (7f885c64f7b0)',
    'this is not perf output',
    '      python3.11  2578 [001]   154.053910028:           python:take_gil__return: (7f885c64f7b0 <- 7f885c64fbb3)',
    'nor is this',
    '',
  ].join('\n');
  const r = await runBin('perf-parse', [], { input });
  t.equal(r.exitCode, 0);
  t.equal(parseNdjson(r.stdout as string).length, 2);
  t.equal(r.stderr, 'perf-parse: skipped 2 malformed lines (first: stdin:2: not a perf script line: "this is not perf output")\n');
});

t.test('empty input: no output, exit 0', async (t) => {
  const r = await runBin('perf-parse', [], { input: '' });
  t.same([r.exitCode, r.stdout, r.stderr], [0, '', '']);
});

t.test('gzip input (file and stdin), -o writes a file, -o x.gz compresses', { skip }, async (t) => {
  const gz = readFileSync(V + 'ex0-sched.ns.perf.txt.gz');
  const plain = await runBin('perf-parse', [], { input: gunzipSync(gz) });
  const viaStdin = await runBin('perf-parse', [], { input: gz });
  t.equal(viaStdin.stdout, plain.stdout, 'gzip on stdin');
  const out = join(tmp, 'o.ndjson');
  const r = await runBin('perf-parse', ['-o', out, V + 'ex0-sched.ns.perf.txt.gz']);
  t.same([r.exitCode, r.stdout], [0, '']);
  t.equal(readFileSync(out, 'utf8'), plain.stdout);
  const outGz = join(tmp, 'o.ndjson.gz');
  await runBin('perf-parse', ['-o', outGz, V + 'ex0-sched.ns.perf.txt.gz']);
  t.equal(gunzipSync(readFileSync(outGz)).toString(), plain.stdout);
  t.same(readdirSync(tmp).filter((f) => f.includes('.tmp-')), [], 'no temporary files left');
  // A device is written in place: renaming a temp file over /dev/null (as root) would replace it.
  const dn = await runBin('perf-parse', ['-o', '/dev/null', V + 'ex0-sched.ns.perf.txt.gz']);
  t.equal(dn.exitCode, 0);
  t.ok(statSync('/dev/null').isCharacterDevice(), '/dev/null is still a device');
});

t.test('usage errors exit 2 and say what to do; --help shows examples; --version', async (t) => {
  const missing = await runBin('perf-parse', ['/nonexistent/x.txt']);
  t.equal(missing.exitCode, 2);
  t.equal(missing.stderr, 'perf-parse: /nonexistent/x.txt: no such file\n');
  const dir = await runBin('perf-parse', [tmp]);
  t.equal(dir.exitCode, 2);
  t.match(dir.stderr, /is a directory/);
  const bad = await runBin('perf-parse', ['--no-such-option']);
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /Unknown argument/);
  const help = await runBin('perf-parse', ['--help']);
  t.equal(help.exitCode, 0);
  t.match(help.stdout, /perf script --ns \| perf-parse \| gil-state/);
  const v = await runBin('perf-parse', ['--version']);
  t.equal((v.stdout as string).trim(), JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  const bin = join(tmp, 'garbage.gz');
  writeFileSync(bin, Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5]));
  const g = await runBin('perf-parse', [bin]);
  t.equal(g.exitCode, 1);
  t.match(g.stderr, /garbage\.gz: not valid gzip data/);
});

t.test('a closed downstream pipe ends quietly with exit 0', { skip }, async (t) => {
  const big = gunzipSync(readFileSync(corpus + 'many-uprobes.perf.txt.gz'));
  const r = await execa('node', [bin('perf-parse')], { input: big, reject: false }).pipe('head', ['-n', '1']);
  t.equal(r.exitCode, 0);
  t.equal((r.stdout as string).split('\n').length, 1);
  t.equal(r.pipedFrom[0]!.exitCode, 0, 'perf-parse exit code');
  t.equal(r.pipedFrom[0]!.stderr, '', 'and nothing on stderr');
});

t.test('-i with a file that is no perf.data: named, exit 1; a missing one is a usage error', async (t) => {
  const data = join(tmp, 'broken.data');
  writeFileSync(data, Buffer.alloc(4096, 0x41));
  const r = await runBin('perf-parse', ['-i', data]);
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /perf-parse: .*broken\.data: not a perf\.data file \(no PERFILE2 magic\)/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const none = await runBin('perf-parse', ['-i', join(tmp, 'absent.data')]);
  t.equal(none.exitCode, 2);
  t.match(none.stderr, /absent\.data: no such file/);
});

t.test('through perf script (GILPIPE_PERF_SCRIPT), a perf.data perf cannot read: perf said why, exit 1', async (t) => {
  const hasPerf = await execa('perf', ['--version'], { reject: false }).then((r) => r.exitCode === 0).catch(() => false);
  if (!hasPerf) return t.skip('perf is not installed');
  const data = join(tmp, 'broken-perf.data');
  writeFileSync(data, Buffer.concat([Buffer.from('PERFILE2'), Buffer.alloc(4096, 0x41)]));
  const r = await runBin('perf-parse', ['-i', data], { env: { GILPIPE_PERF_SCRIPT: '1' } });
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /perf-parse: perf script -i .*broken-perf\.data failed \(exit \d+\).*perf said:/s);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

t.test('a recording made here: perf-parse -i equals perf script | perf-parse', async (t) => {
  const hasPerf = await execa('perf', ['--version'], { reject: false }).then((r) => r.exitCode === 0).catch(() => false);
  if (!hasPerf || process.getuid?.() !== 0) return t.skip('needs perf and root to record');
  const data = join(tmp, 'sleep.data');
  const rec = await execa('perf', ['record', '-q', '-k', 'CLOCK_MONOTONIC', '-e', 'sched:sched_switch', '-o', data, '--', 'sleep', '0.05'], { reject: false });
  if (rec.exitCode !== 0) return t.skip(`perf record failed here: ${rec.stderr}`);
  const viaI = await runBin('perf-parse', ['-i', data]);
  t.equal(viaI.exitCode, 0, viaI.stderr as string);
  const txt = await execa('perf', ['script', '-i', data, '--header', '--ns', '-F', '+pid', '--show-task-events', '--show-lost-events', '--show-switch-events', '--no-inline']);
  const viaPipe = await runBin('perf-parse', [], { input: txt.stdout + '\n' });
  const [nh, ...records] = String(viaI.stdout).split('\n');
  const [th, ...textRecords] = String(viaPipe.stdout).split('\n');
  t.equal(records.join('\n'), textRecords.join('\n'), 'the records, read without perf, as perf script printed them');
  // The header: every line the reader writes is perf's (it leaves some out: docs/perf-data.md).
  const [n, p] = [JSON.parse(nh!), JSON.parse(th!)];
  t.same(Object.fromEntries(Object.keys(n.meta).map((k) => [k, p.meta[k]])), n.meta, 'the header lines it writes');
  t.same(n.events, p.events, 'the events');
  const recs = parseNdjson(viaI.stdout as string);
  t.ok(recs.some((r) => r.type === 'sample' && r.comm === 'sleep' && typeof r.pid === 'number'), 'sleep switched out, with its pid');
});

t.test('Ctrl-C: what was read is flushed as whole lines, exit 130, no stack trace', { skip }, async (t) => {
  const big = join(tmp, 'big.txt');
  const one = gunzipSync(readFileSync(corpus + 'many-uprobes.perf.txt.gz'));
  writeFileSync(big, Buffer.concat([one, one, one]));
  const out = join(tmp, 'interrupted.ndjson');
  const p = execa('node', [bin('perf-parse'), '-o', out, big], { reject: false });
  // Interrupt once it has produced something, as a user pressing Ctrl-C would.
  await new Promise((res) => setTimeout(res, 1500));
  p.kill('SIGINT');
  const r = await p;
  t.equal(r.exitCode, 130);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const text = readFileSync(out, 'utf8');
  t.ok(text.length > 0 && text.endsWith('\n'), 'the output file holds whole lines');
  t.same(schemaErrors(text), [], 'every line a valid record');
  t.ok(text.split('\n').length - 1 < 3 * 378798, 'it stopped early');
});
