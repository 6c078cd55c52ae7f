// examples/: the jq recipes (with the real jq), the Makefile targets, and the
// demo, all on the real captures shipped in examples/captures/, checked against
// what the workloads measured about themselves while they were recorded.
import t from 'tap';
import { execa } from 'execa';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root } from '../helpers/run.js';

const EX = join(root, 'examples');
const CAP = join(EX, 'captures');
const tmp = mkdtempSync(join(tmpdir(), 'examples-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const hog = JSON.parse(readFileSync(join(CAP, 'gil_hog.truth.json'), 'utf8'));
const two = JSON.parse(readFileSync(join(CAP, 'two_cpu.truth.json'), 'utf8'));
const hasJq = (await execa('jq', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode === 0;
const noJq = hasJq ? false : 'jq is not installed (Debian: apt-get install jq; scripts/install-test-deps.sh does it)';
const hasMake = (await execa('make', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode === 0;
const noToTrace = existsSync(bin('to-trace')) ? false : 'the to-trace stage is not built yet (dist/bin/to-trace.js)';

/** gil-state output for a shipped capture, made by the real commands. */
async function gilState(name: string): Promise<string> {
  const file = join(tmp, `${name}.gil.ndjson`);
  if (!existsSync(file)) {
    await execa('sh', ['-c', `node ${bin('perf-parse')} ${join(CAP, name + '.perf.txt.gz')} | node ${bin('gil-state')} -o ${file}`]);
  }
  return file;
}
const jq = async (args: string[], file: string) => {
  const r = await execa('jq', ['-c', ...args], { reject: false, inputFile: file });
  return { ...r, recs: String(r.stdout).split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
};
const recipe = (n: string) => join(EX, 'jq', `${n}.jq`);

t.test('shipped captures are small, real perf script text, with their truth', async (t) => {
  for (const name of ['gil_hog', 'two_cpu']) {
    const gz = readFileSync(join(CAP, `${name}.perf.txt.gz`));
    t.ok(gz.length < 200_000, `${name}: ${gz.length} bytes`);
    const text = gunzipSync(gz).toString('latin1');
    t.match(text, /PERF_RECORD_COMM/, 'printed with --show-task-events');
    t.match(text, /:take_gil__return: /, 'has the GIL probes');
  }
  t.ok(hog.hog_tid && hog.victim_tid && hog.hog_ns > 0.3e9, 'gil_hog truth: a hog call of at least 0.3 s');
});

t.test('jq: longest-holds.jq puts the hog first, as long as its own regex call', { skip: noJq }, async (t) => {
  const file = await gilState('gil_hog');
  const r = await jq(['-s', '-f', recipe('longest-holds')], file);
  t.equal(r.exitCode, 0);
  t.equal(r.recs.length, 10, 'top 10 by default');
  t.equal(r.recs[0].tid, hog.hog_tid, 'the longest hold is the hog thread');
  // The thread timed the call itself, holding the GIL to read the clock before
  // and after it: the hold fits inside that time and fills nearly all of it.
  t.ok(r.recs[0].dur >= hog.hog_ns * 0.95 && r.recs[0].dur <= hog.hog_ns, `${r.recs[0].ms} ms of the call's ${hog.hog_ns / 1e6} ms`);
  t.ok(r.recs.every((x: { dur: number }, i: number) => i === 0 || r.recs[i - 1].dur >= x.dur), 'longest first');
  const three = await jq(['-s', '--argjson', 'n', '3', '-f', recipe('longest-holds')], file);
  t.equal(three.recs.length, 3, '--argjson n 3');
});

t.test('jq: thread-waits.jq shows the victim waiting through the hog call', { skip: noJq }, async (t) => {
  const file = await gilState('gil_hog');
  const r = await jq(['--argjson', 'tid', String(hog.victim_tid), '-f', recipe('thread-waits')], file);
  t.equal(r.exitCode, 0);
  t.ok(r.recs.length > 0 && r.recs.every((x: { tid: number }) => x.tid === hog.victim_tid), 'only that thread');
  const longest = r.recs.reduce((a: { dur: number }, b: { dur: number }) => (b.dur > a.dur ? b : a));
  t.ok(longest.ts <= hog.hog_start_ns + 20e6 && longest.ts + longest.dur >= hog.hog_end_ns - 20e6, 'its longest wait spans the hog call');
  t.equal(longest.via, 'take_gil');
  const missing = await execa('jq', ['-f', recipe('thread-waits'), file], { reject: false });
  t.not(missing.exitCode, 0, 'without --argjson tid jq stops');
  t.match(missing.stderr, /\$tid is not defined/);
  t.equal(missing.stderr.split('\n').filter(Boolean).length <= 3, true, 'once, not once per line');
});

t.test('jq: window.jq keeps exactly the spans overlapping the window', { skip: noJq }, async (t) => {
  const file = await gilState('gil_hog');
  // 100 ms in the middle of the hog call, in seconds as perf prints them.
  const from = (hog.hog_start_ns + 200e6) / 1e9;
  const to = (hog.hog_start_ns + 300e6) / 1e9;
  const r = await jq(['--argjson', 'from', String(from), '--argjson', 'to', String(to), '-f', recipe('window')], file);
  t.equal(r.exitCode, 0);
  const a = Math.floor(from * 1e9);
  const b = Math.ceil(to * 1e9);
  t.ok(r.recs.every((s: { ts: number; dur: number }) => s.ts < b && s.ts + s.dur > a), 'every span overlaps');
  // Counted independently over the whole file.
  const all = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const expected = all.filter((s) => s.type === 'span' && s.ts < b && s.ts + s.dur > a).length;
  t.equal(r.recs.length, expected, 'and none is missing');
  const gil = r.recs.filter((s: { family: string }) => s.family === 'gil');
  t.ok(gil.some((s: { tid: number; state: string }) => s.tid === hog.hog_tid && s.state === 'hold'), "the hog's hold is in the window");
  t.ok(gil.some((s: { tid: number; state: string }) => s.tid === hog.victim_tid && s.state === 'wait'), "and the victim's wait");
  t.notOk(gil.some((s: { tid: number; state: string }) => s.tid !== hog.hog_tid && s.state === 'hold'), 'nobody else holds the GIL inside the hog call');
});

t.test('jq: per-thread-totals.jq against what the threads measured', { skip: noJq }, async (t) => {
  const hogs = (await jq(['-s', '-f', recipe('per-thread-totals')], await gilState('gil_hog'))).recs;
  const h = hogs.find((x: { tid: number }) => x.tid === hog.hog_tid);
  const v = hogs.find((x: { tid: number }) => x.tid === hog.victim_tid);
  t.ok(h.hold_ms * 1e6 >= hog.hog_ns * 0.95, `hog held ${h.hold_ms} ms, at least its ${hog.hog_ns / 1e6} ms call`);
  t.ok(v.wait_ms * 1e6 >= hog.hog_ns * 0.95, `victim waited ${v.wait_ms} ms, at least the hog call`);
  t.equal(h.comm, 'python', 'thread names from the thread records');
  const twos = (await jq(['-s', '-f', recipe('per-thread-totals')], await gilState('two_cpu'))).recs;
  for (const th of two.threads) {
    const row = twos.find((x: { tid: number }) => x.tid === th.tid);
    // Pure Python runs only while holding the GIL: CPU time fits inside the holds,
    // and the holds fit inside the thread's life.
    t.ok(row.hold_ms * 1e6 >= th.thread_cpu_ns * 0.8, `${th.name}: held ${row.hold_ms.toFixed(1)} ms >= ~CPU time ${(th.thread_cpu_ns / 1e6).toFixed(1)} ms`);
    t.ok(row.hold_ms * 1e6 <= th.end_ns - th.start_ns + 100e6, `${th.name}: held no longer than it ran`);
    t.ok(row.waits > 3, `${th.name}: waited ${row.waits} times for the other`);
  }
});

t.test('make stats on a shipped capture prints the table', { skip: hasMake ? false : 'make is not installed' }, async (t) => {
  const r = await execa('make', ['-s', '-C', EX, 'stats', `IN=${join(CAP, 'gil_hog.perf.txt.gz')}`], { reject: false });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stdout, new RegExp(`\\b${hog.victim_tid}\\b`), 'the victim');
  t.match(r.stdout, new RegExp(`\\b${hog.hog_tid}\\b`), 'the hog');
  const bad = await execa('make', ['-s', '-C', EX, 'stats', `IN=${join(tmp, 'nothing.data')}`], { reject: false });
  t.not(bad.exitCode, 0, 'a missing input fails the target');
});

t.test('make trace, merge and -j batch', { skip: hasMake ? noToTrace : 'make is not installed' }, async (t) => {
  const trace = join(tmp, 'hog.trace.json');
  const r = await execa('make', ['-s', '-C', EX, 'trace', `IN=${join(CAP, 'gil_hog.perf.txt.gz')}`, `TRACE=${trace}`], { reject: false });
  t.equal(r.exitCode, 0, r.stderr);
  const tr = JSON.parse(readFileSync(trace, 'utf8'));
  t.ok(tr.traceEvents.some((e: { tid: number }) => e.tid === hog.victim_tid), 'the trace has the victim');

  const viz = join(root, 'test/fixtures/viztracer/threads.json');
  if (existsSync(viz)) {
    const combined = join(tmp, 'combined.json');
    const m = await execa('make', ['-s', '-C', EX, 'merge', `IN=${join(CAP, 'gil_hog.perf.txt.gz')}`, `TRACE=${trace}`, `VIZ=${viz}`, `COMBINED=${combined}`], { reject: false });
    t.equal(m.exitCode, 0, m.stderr);
    const c = JSON.parse(readFileSync(combined, 'utf8'));
    const v = JSON.parse(readFileSync(viz, 'utf8'));
    t.equal(c.traceEvents.length, tr.traceEvents.length + v.traceEvents.length, 'merge keeps every event of both');
  }

  const archive = join(tmp, 'archive');
  const out = join(tmp, 'batch');
  mkdirSync(archive);
  copyFileSync(join(CAP, 'gil_hog.perf.txt.gz'), join(archive, 'gil_hog.perf.txt.gz'));
  writeFileSync(join(archive, 'two_cpu.perf.txt'), gunzipSync(readFileSync(join(CAP, 'two_cpu.perf.txt.gz'))));
  const b = await execa('make', ['-s', '-j2', '-C', EX, 'batch', `ARCHIVE=${archive}`, `OUT=${out}`], { reject: false });
  t.equal(b.exitCode, 0, b.stderr);
  t.same(
    readdirSync(out).filter((f) => !f.startsWith('.')).sort(),
    ['gil_hog.gil.ndjson.gz', 'gil_hog.stats.json', 'gil_hog.trace.json', 'summary.txt', 'two_cpu.gil.ndjson.gz', 'two_cpu.stats.json', 'two_cpu.trace.json'],
  );
  const summary = readFileSync(join(out, 'summary.txt'), 'utf8');
  t.match(summary, new RegExp(`\\b${hog.pid}\\b`), 'the summary covers the gil_hog process');
  t.match(summary, new RegExp(`\\b${two.pid}\\b`), 'and the two_cpu one');
  const again = await execa('make', ['-C', EX, 'batch', `ARCHIVE=${archive}`, `OUT=${out}`], { reject: false });
  t.match(again.stdout, /Nothing to be done|is up to date/, 'a second run has nothing to do');
});

t.test('npm run demo path: the shipped capture where recording is impossible', { skip: noToTrace }, async (t) => {
  const out = join(tmp, 'demo-capture');
  const r = await execa('sh', [join(EX, 'demo.sh')], { reject: false, env: { ...process.env, GILPIPE_DEMO_CAPTURE: '1', GILPIPE_DEMO_OUT: out } });
  t.equal(r.exitCode, 0, r.stderr);
  t.match(r.stderr, /SHIPPED CAPTURE: cannot record here \(GILPIPE_DEMO_CAPTURE=1\)/, 'says which it did');
  t.ok(JSON.parse(readFileSync(join(out, 'gil-trace.json'), 'utf8')).traceEvents.length > 0, 'a trace to open');
  t.match(r.stdout, new RegExp(`\\b${hog.victim_tid}\\b`), 'and the table');
  if (process.getuid?.() === 0 && existsSync('/usr/bin/setpriv')) {
    // A user without root on the same machine gets the capture, with the reason.
    const out2 = join(tmp, 'demo-nobody');
    mkdirSync(out2);
    chmodSync(out2, 0o777);
    chmodSync(tmp, 0o755);
    // env -i: nobody's environment, not root's.
    const n = await execa(
      'env',
      ['-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, `GILPIPE_DEMO_OUT=${out2}`, 'HOME=/tmp', 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', 'sh', join(EX, 'demo.sh')],
      { reject: false },
    );
    t.equal(n.exitCode, 0, n.stderr);
    t.match(n.stderr, /SHIPPED CAPTURE: cannot record here \(not root/);
    t.notMatch(n.stderr, /Error:|\n\s+at /, 'no stack traces');
    t.ok(existsSync(join(out2, 'gil-trace.json')), 'the trace is written');
  }
});

t.test('npm run demo path: live with root and perf', { skip: noToTrace }, async (t) => {
  const uprobes = existsSync('/sys/kernel/tracing/uprobe_events') || existsSync('/sys/kernel/debug/tracing/uprobe_events');
  const perf = (await execa('perf', ['--version'], { reject: false }).catch(() => ({ exitCode: 127 }))).exitCode === 0;
  if (process.getuid?.() !== 0 || !perf || !uprobes) return t.skip('needs root, perf and uprobes');
  const out = join(tmp, 'demo-live');
  const py = process.env.GILPIPE_PYTHON ?? '/root/.pyenv/versions/3.11.7/bin/python';
  const r = await execa('sh', [join(EX, 'demo.sh')], { reject: false, env: { ...process.env, GILPIPE_DEMO_OUT: out, GILPIPE_PYTHON: py } });
  t.equal(r.exitCode, 0, r.stderr.slice(-500));
  t.match(r.stderr, /LIVE: recording examples\/workloads\/gil_hog\.py/);
  t.ok(JSON.parse(readFileSync(join(out, 'gil-trace.json'), 'utf8')).traceEvents.length > 0, 'a trace to open');
  t.match(r.stdout, /Threads/, 'and the table');
});
