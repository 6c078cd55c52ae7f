// gil-record end to end: real perf, real uprobes, the examples/ workloads with
// the ground truth they measure about themselves (GILPIPE_TRUTH). Skips with
// the reason where this machine cannot record (not root, no perf, no uprobes).
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PY, whyNotRecord } from '../helpers/recording.js';
import { bin, root, runBin } from '../helpers/run.js';

const SYSPY = '/usr/bin/python3.11';
const W = join(root, 'examples/workloads');
const tmp = mkdtempSync(join(tmpdir(), 'gil-record-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const skip = await whyNotRecord();
if (skip) t.comment(`skipping gil-record end-to-end tests: ${skip}`);

/** Probe events now defined whose group is NAME (all of them without NAME). */
async function probesNow(group?: string): Promise<string[]> {
  const r = await execa('perf', ['probe', '-l'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((e) => e.includes(':') && (group === undefined || e.startsWith(group + ':')));
}

interface Ev {
  comm: string;
  pid: number;
  tid: number;
  ts: number;
  event: string;
  chain: boolean;
}
/** perf script of a recording, read with a plain regex (not with our own parser). */
async function events(data: string): Promise<Ev[]> {
  const r = await execa('perf', ['script', '-i', data, '--ns', '-F', 'comm,pid,tid,time,event,ip'], { reject: false, maxBuffer: 1 << 28 });
  const out: Ev[] = [];
  for (const line of String(r.stdout).split('\n')) {
    const m = /^\s*(.*?)\s+(\d+)\/(\d+)\s+(\d+)\.(\d{9}):\s+(\S+):\s*(.*)$/.exec(line);
    if (m) out.push({ comm: m[1]!, pid: +m[2]!, tid: +m[3]!, ts: +m[4]! * 1e9 + +m[5]!, event: m[6]!, chain: false });
    else if (/^\t\s*[0-9a-f]+/.test(line) && out.length) out[out.length - 1]!.chain = true;
  }
  return out;
}

const truth = (f: string) => JSON.parse(readFileSync(f, 'utf8'));
const record = (args: string[], env: Record<string, string> = {}) =>
  execa('node', [bin('gil-record'), ...args], { reject: false, cwd: tmp, env: { ...process.env, ...env }, stdin: 'ignore' });

// A group someone else made: gil-record must never touch it.
const FOREIGN = `keepme${process.pid}`;
t.before(async () => {
  if (skip) return;
  const lib = String((await execa(PY, ['-c', 'import sysconfig; print(sysconfig.get_config_var("LIBDIR")+"/"+sysconfig.get_config_var("INSTSONAME"))'])).stdout).trim();
  await execa('perf', ['probe', '-q', '-x', existsSync(lib) ? lib : PY, '-a', `${FOREIGN}:${FOREIGN}=take_gil`], { reject: false });
});
t.teardown(async () => {
  if (!skip) await execa('perf', ['probe', '-q', '-d', `${FOREIGN}:*`], { reject: false });
});

t.test('two CPU-bound threads: probes on both, clock lines up with the program, probes gone after', { skip }, async (t) => {
  const data = join(tmp, 'two.data');
  const tf = join(tmp, 'two.truth.json');
  const sub = record(['--record-only', '--perf-data', data, '--', PY, join(W, 'two_cpu.py'), '0.5'], { GILPIPE_TRUTH: tf });
  const r = await sub;
  t.equal(r.exitCode, 0, 'exit 0');
  t.same(await probesNow(`gilrec_${sub.pid}`), [], 'no probe of this run remains');
  t.ok((await probesNow(FOREIGN)).length > 0, "someone else's probe group is untouched");
  t.match(r.stderr, /interpreter: .*libpython3\.11/, 'says where take_gil lives');
  const header = await execa('perf', ['script', '--header-only', '-i', data], { reject: false });
  t.match(String(header.stdout), /^# clockid: monotonic \(1\)$/m, "perf's own header: recorded on CLOCK_MONOTONIC");
  const tr = truth(tf);
  const evs = await events(data);
  for (const th of tr.threads) {
    const mine = evs.filter((e) => e.tid === th.tid);
    const holds = mine.filter((e) => /:take_gil(_\d+)?__return$/.test(e.event));
    t.ok(holds.length >= 5, `${th.name}: took the GIL ${holds.length} times (up to ~50 with a 5 ms switch interval over 0.5 s; fewer on a busy machine)`);
    // -k CLOCK_MONOTONIC: perf's times and the thread's own time.monotonic_ns() agree.
    const inside = holds.filter((e) => e.ts >= th.start_ns && e.ts <= th.end_ns).length;
    t.ok(inside > holds.length / 2, `${th.name}: ${inside}/${holds.length} takes fall inside the run the thread measured itself`);
    const last = Math.max(...mine.map((e) => e.ts));
    t.ok(last >= th.end_ns && last - th.end_ns < 500e6, `${th.name}: last event ${(last - th.end_ns) / 1e6} ms after the thread's own end`);
  }
});

t.test('the whole pipeline on gil_hog: the victim waits through the hog call', { skip }, async (t) => {
  const missing = ['perf-parse', 'gil-state', 'to-trace', 'gil-stats'].filter((s) => !existsSync(bin(s)));
  if (missing.length) {
    // Wiring is in place; this says so rather than passing vacuously.
    const r = await record(['--perf-data', join(tmp, 'hog0.data'), '-o', join(tmp, 'hog0.json'), '--', PY, '-c', 'pass']);
    t.not(r.exitCode, 0);
    t.match(r.stderr, new RegExp(`the ${missing[0]} stage is not there.*npm run build`), `missing stage ${missing[0]} is named`);
    return;
  }
  const data = join(tmp, 'hog.data');
  const out = join(tmp, 'hog.json');
  const tf = join(tmp, 'hog.truth.json');
  const sub = record(['--perf-data', data, '-o', out, '--', PY, join(W, 'gil_hog.py'), '0.4'], { GILPIPE_TRUTH: tf });
  const r = await sub;
  t.equal(r.exitCode, 0, `exit 0 ${r.stderr.slice(-300)}`);
  t.same(await probesNow(`gilrec_${sub.pid}`), [], 'probes removed');
  const tr = truth(tf);
  const trace = JSON.parse(readFileSync(out, 'utf8'));
  t.ok(Array.isArray(trace.traceEvents) && trace.traceEvents.length > 0, 'a trace with events');
  t.match(r.stdout, new RegExp(String(tr.victim_tid)), 'the table lists the victim');
  t.match(r.stdout, new RegExp(String(tr.hog_tid)), 'and the hog');
  t.match(r.stderr, /perf lost \d+ events/, 'reports the lost-event count');
  // Independent of gil-record's own table: gil-state over the kept perf.data.
  const spans = await execa('sh', ['-c', `node ${bin('perf-parse')} -i ${data} | node ${bin('gil-state')}`], { maxBuffer: 1 << 28 });
  const recs = String(spans.stdout)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  type Span = { type: string; family: string; state: string; tid: number; ts: number; dur: number };
  const gil = recs.filter((s: Span) => s.type === 'span' && s.family === 'gil') as Span[];
  // The hog reads the clock with the GIL before and after its regex call, so
  // its hold of the call starts before hog_start_ns and ends before hog_end_ns
  // (re-taking the GIL after the call can take a while: the victim gets it first).
  const hogHold = gil
    .filter((s) => s.tid === tr.hog_tid && s.state === 'hold')
    .reduce((a: Span | undefined, b) => (a === undefined || b.dur > a.dur ? b : a), undefined);
  t.ok(hogHold, 'the hog holds the GIL');
  if (!hogHold) return;
  t.ok(hogHold.ts <= tr.hog_start_ns && hogHold.ts + hogHold.dur <= tr.hog_end_ns, 'its longest hold is the regex call');
  t.ok(hogHold.dur >= tr.hog_ns * 0.5, `${(hogHold.dur / 1e6).toFixed(0)} ms of the ${(tr.hog_ns / 1e6).toFixed(0)} ms the hog measured`);
  // During the hog's hold the victim can only finish handing the GIL over
  // (handoff, if it was holding when the hog asked) and then wait, until the
  // hog lets go.
  const during = gil
    .filter((s) => s.tid === tr.victim_tid && s.ts < hogHold.ts + hogHold.dur && s.ts + s.dur > hogHold.ts)
    .sort((a, b) => a.ts - b.ts);
  const shape = during.map((s) => `${s.state} ${((s.ts - hogHold.ts) / 1e6).toFixed(1)}+${(s.dur / 1e6).toFixed(1)}ms`).join(', ');
  const states = during.map((s) => s.state).join(' ');
  t.ok(states === 'wait' || states === 'handoff wait', `the victim hands over, then waits (${shape})`);
  const last = during[during.length - 1];
  t.ok(last && last.ts + last.dur >= hogHold.ts + hogHold.dur, 'and waits until the hog lets go');
  t.notOk(
    gil.some((s) => s.state === 'hold' && s.tid !== tr.hog_tid && s.ts < hogHold.ts + hogHold.dur && s.ts + s.dur > hogHold.ts),
    'and nobody else holds it meanwhile',
  );
});

t.test('stripped interpreter: says so, names the fix, records libc waits', { skip: skip || (existsSync(SYSPY) ? false : `no ${SYSPY}`) }, async (t) => {
  const data = join(tmp, 'strip.data');
  const tf = join(tmp, 'strip.truth.json');
  const sub = record(['--record-only', '--perf-data', data, '--', SYSPY, join(W, 'two_cpu.py'), '0.3'], { GILPIPE_TRUTH: tf });
  const r = await sub;
  t.equal(r.exitCode, 0);
  t.match(r.stderr, /python3\.11 is stripped \(no symbol table\)/);
  t.match(r.stderr, /apt-get install python3\.11-dbg/);
  t.match(r.stderr, /falling back to probes on pthread_cond_timedwait/);
  t.same(await probesNow(`gilrec_${sub.pid}`), [], 'probes removed');
  const tr = truth(tf);
  const evs = await events(data);
  const waits = evs.filter((e) => e.pid === tr.pid && /:pcond_timedwait(_\d+)?$/.test(e.event));
  const rets = evs.filter((e) => e.pid === tr.pid && /:pcond_timedwait(_\d+)?__return$/.test(e.event));
  t.ok(waits.length > 5, `${waits.length} timed waits of two threads contending for 0.3 s`);
  t.equal(rets.length, waits.length, 'each with its return');
  t.ok(new Set(waits.map((e) => e.tid)).size >= 2, 'in both threads');
  t.notOk(evs.some((e) => /take_gil/.test(e.event)), 'no take_gil events');
});

t.test("the target's exit status passes through", { skip }, async (t) => {
  const r = await record(['--record-only', '--perf-data', join(tmp, 'x.data'), '--', PY, '-c', 'import sys; sys.exit(3)']);
  t.equal(r.exitCode, 3);
  t.match(r.stderr, /exited with status 3/);
});

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  t.test(`${sig} while recording: probes removed, exit ${code}`, { skip }, async (t) => {
    const marker = `gilrec_test_${sig}_${process.pid}`;
    const data = join(tmp, `${sig}.data`);
    const sub = record(['--record-only', '--perf-data', data, '--', PY, '-c', `import time; time.sleep(30)  # ${marker}`]);
    // Wait until perf is recording: our probes exist and perf has opened its output.
    for (let i = 0; i < 300 && !((await probesNow(`gilrec_${sub.pid}`)).length > 0 && existsSync(data)); i++) await new Promise((res) => setTimeout(res, 100));
    await new Promise((res) => setTimeout(res, 1000));
    t.ok((await probesNow(`gilrec_${sub.pid}`)).length > 0, 'probes exist while recording');
    sub.kill(sig);
    const r = await sub;
    t.equal(r.exitCode, code, `exit ${code}`);
    t.same(await probesNow(`gilrec_${sub.pid}`), [], 'no probe of this run remains');
    t.ok((await probesNow(FOREIGN)).length > 0, "someone else's probes remain");
    const target = ['-f', `^${PY} -c .*${marker}`];
    for (let i = 0; i < 30 && (await execa('pgrep', target, { reject: false })).exitCode === 0; i++) await new Promise((res) => setTimeout(res, 100));
    t.not((await execa('pgrep', target, { reject: false })).exitCode, 0, 'the target is gone too');
    if (sig === 'SIGINT') t.ok(existsSync(data), 'Ctrl-C keeps what was recorded');
  });
}

/** Waits until gil-record's perf is recording into DATA: its probes exist and perf has opened the file. */
async function recording(pid: number | undefined, data: string): Promise<void> {
  for (let i = 0; i < 300 && !((await probesNow(`gilrec_${pid}`)).length > 0 && existsSync(data)); i++) await new Promise((res) => setTimeout(res, 100));
  await new Promise((res) => setTimeout(res, 1000));
}
const running = async (pattern: string): Promise<boolean> => (await execa('pgrep', ['-f', pattern], { reject: false })).exitCode === 0;
async function gone(pattern: string, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds * 10 && (await running(pattern)); i++) await new Promise((res) => setTimeout(res, 100));
  return !(await running(pattern));
}

t.test('SIGHUP to the whole process group (the terminal closed): perf writes a whole perf.data, probes removed, exit 129', { skip }, async (t) => {
  // gil-record, perf and the program in a process group of their own, as a terminal's job is.
  const marker = `gilrec_test_hup_${process.pid}`;
  const data = join(tmp, 'hup.data');
  const sub = execa('node', [bin('gil-record'), '--record-only', '--perf-data', data, '--', PY, '-c', `import time\nwhile True: time.sleep(0.001)  # ${marker}`], {
    reject: false,
    cwd: tmp,
    stdin: 'ignore',
    detached: true,
  });
  await recording(sub.pid, data);
  process.kill(-sub.pid!, 'SIGHUP');
  const r = await sub;
  t.equal(r.exitCode, 129, 'exit 129');
  t.match(String(r.stderr), /hung up \(the terminal closed\?\): probes removed, no trace made, the recording kept/);
  t.same(await probesNow(`gilrec_${sub.pid}`), [], 'no probe of this run remains');
  // perf died of the hang-up before it wrote its header: 'data size 0', unreadable.
  const parsed = await runBin('perf-parse', ['-i', data]);
  t.equal(parsed.exitCode, 0, `the perf.data is whole: ${String(parsed.stderr).slice(0, 200)}`);
  t.ok(String(parsed.stdout).split('\n').length > 100, 'and holds the recording');
  t.ok(await gone(marker, 3), 'the program got the hang-up too, as outside gil-record');
});

t.test('SIGKILL of gil-record: perf, the program and the probes do not outlive it; perf.data stays readable', { skip }, async (t) => {
  const marker = `gilrec_test_kill_${process.pid}`;
  const data = join(tmp, 'killed.data');
  const sub = record(['--record-only', '--perf-data', data, '--', PY, '-c', `import time\nwhile True: time.sleep(0.001)  # ${marker}`]);
  await recording(sub.pid, data);
  t.ok((await probesNow(`gilrec_${sub.pid}`)).length > 0, 'probes exist while recording');
  sub.kill('SIGKILL');
  const r = await sub;
  t.equal(r.signal, 'SIGKILL', 'gil-record was killed');
  t.ok(await gone(`^${PY} -c .*${marker}`, 10), 'the program is gone');
  t.ok(await gone(`perf record .*${data}`, 10), 'perf is gone');
  t.ok(await gone(`gil-record-watchdog [0-9]+ gilrec_${sub.pid}`, 10), 'the watchdog is gone');
  t.same(await probesNow(`gilrec_${sub.pid}`), [], 'no probe of the killed run remains');
  t.ok((await probesNow(FOREIGN)).length > 0, "someone else's probes remain");
  const script = await execa('perf', ['script', '-i', data, '--ns'], { reject: false, maxBuffer: 1 << 28 });
  t.equal(script.exitCode, 0, `perf reads the perf.data left behind: ${String(script.stderr).split('\n')[0]}`);
  const probeHits = String(script.stdout).split('\n').filter((l) => l.includes(`gilrec_${sub.pid}:take_gil`)).length;
  t.ok(probeHits > 0, `it holds the probe hits of the killed run (${probeHits})`);
});

t.test('the program finds the commands the user would: PATH is the same inside', { skip }, async (t) => {
  const outside = await execa('sh', ['-c', 'command -v python3'], { reject: false });
  const r = await record(['--record-only', '--no-probes', '--python', PY, '--perf-data', join(tmp, 'path.data'), '--', 'sh', '-c', 'command -v python3']);
  t.equal(r.exitCode, 0);
  t.equal(r.stdout.trim(), String(outside.stdout).trim(), `python3 is ${String(outside.stdout).trim()} in the program too`);
});

t.test("the program's stderr is gil-record's own: -q hides perf's messages, not the program's, and a terminal stays one", { skip }, async (t) => {
  const prog = 'import sys; print("stderr tty:", sys.stderr.isatty()); print("the program says this", file=sys.stderr); raise SystemExit(3)';
  const r = await record(['-q', '--record-only', '--no-probes', '--python', PY, '--perf-data', join(tmp, 'stderr.data'), '--', PY, '-c', prog]);
  t.equal(r.exitCode, 3, "the program's status");
  t.match(r.stderr, /the program says this/, "-q: the program's stderr still shown");
  t.notMatch(r.stderr, /perf record: Captured and wrote/, "and perf's own messages not");
  if ((await execa('sh', ['-c', 'command -v script'], { reject: false })).exitCode !== 0) return t.comment('no script(1): the terminal case is not checked');
  // Under script(1) gil-record's stderr is a terminal: so is the program's (it was perf's pipe).
  const tty = await execa('script', ['-qc', `node ${bin('gil-record')} -q --record-only --no-probes --python ${PY} --perf-data ${join(tmp, 'tty.data')} -- ${PY} -c '${prog.replace(/'/g, "'\\''")}'`, '/dev/null'], { reject: false, cwd: tmp });
  t.match(String(tty.stdout), /stderr tty: True/, "the program's stderr is the terminal");
});

t.test("the program keeps SIGPIPE's default although perf ignores it", { skip }, async (t) => {
  const r = await record(['--record-only', '--no-probes', '--python', PY, '--perf-data', join(tmp, 'pipe.data'), '--', 'sh', '-c', 'yes | head -1']);
  t.equal(r.exitCode, 0);
  t.equal(r.stdout.trim(), 'y');
  t.notMatch(r.stderr, /Broken pipe/, '`yes` ended by SIGPIPE, as outside gil-record');
});

t.test('events lost: the share and the exact fix, from the same counts perf wrote', { skip }, async (t) => {
  const data = join(tmp, 'lossy.data');
  // A one-page buffer and stacks on every switch: perf cannot keep up.
  const r = await record(['-m', '1', '--stacks', '-o', join(tmp, 'lossy.json'), '--perf-data', data, '--', PY, join(W, 'busy_many.py'), '0.5', '8']);
  t.equal(r.exitCode, 0, r.stderr.split('\n').slice(-2).join(' '));
  const script = await execa('perf', ['script', '-i', data, '--ns', '--show-lost-events', '-F', 'cpu,time,event'], { reject: false, maxBuffer: 1 << 28 });
  // With so small a buffer perf record now and then writes a stretch of it
  // twice: the same records, to the nanosecond. Two losses on one CPU cannot
  // share a clock reading, so a LOST line seen again is that copy and counts once.
  const lines = new Set<string>();
  let copies = 0;
  let lost = 0;
  for (const m of String(script.stdout).matchAll(/^.*PERF_RECORD_LOST lost (\d+)$/gm)) {
    if (lines.has(m[0])) copies++;
    else lost += Number(m[1]);
    lines.add(m[0]);
  }
  if (lost === 0) return t.skip('perf lost nothing even with a one-page buffer');
  t.match(r.stderr, new RegExp(`WARNING: perf lost [0-9.]+% of the events \\(${lost} of \\d+; the buffer was 1 pages \\(4 KiB\\) per CPU\\): record again with -m 16M`), `the lost count is perf's own (${lost}${copies > 0 ? `, ${copies} LOST records written twice counted once` : ''})`);
  if (copies > 0) t.match(r.stderr, new RegExp(`dropped \\d+ events seen before, among them PERF_RECORD_LOST records of \\d+ lost events?, so ${lost} are counted lost: each counts once`), 'and the copies are said to be dropped');
});

t.test('--perf-data in a folder that does not exist: a usage error naming it, no probes added', { skip }, async (t) => {
  const r = await record(['--record-only', '--perf-data', '/nonexistent-gilpipe/x.data', '--', PY, '-c', 'pass']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /--perf-data \/nonexistent-gilpipe\/x\.data: cannot create \/nonexistent-gilpipe\/x\.data\.gil-record\.lock: /);
  t.notMatch(r.stderr, /internal error|probes:/);
});

t.test('two gil-records on one perf.data: the second refuses, the first records intact', { skip }, async (t) => {
  const data = join(tmp, 'shared.data');
  const first = record(['--record-only', '--perf-data', data, '--', PY, join(W, 'two_cpu.py'), '3']);
  await recording(first.pid, data);
  const second = await record(['--record-only', '--perf-data', data, '--', PY, join(W, 'two_cpu.py'), '0.2']);
  t.equal(second.exitCode, 2, 'the second exits 2 (usage)');
  t.match(second.stderr, new RegExp(`another gil-record \\(pid ${first.pid}\\) is writing .*shared\\.data.*--perf-data`), 'and says who has it, and the fix');
  t.notMatch(second.stderr, /probes:/, 'the second added no probes');
  const r = await first;
  t.equal(r.exitCode, 0, `the first ends well: ${r.stderr.split('\n').slice(-2).join(' ')}`);
  const evs = await events(data);
  t.ok(evs.some((e) => e.event.startsWith(`gilrec_${first.pid}:take_gil`)), "the first run's perf.data holds its probe hits");
  t.notOk(existsSync(`${data}.gil-record.lock`), 'the lock is gone with its owner');
});

t.test('--pid attaches for --duration to a running program', { skip }, async (t) => {
  const tf = join(tmp, 'pid.truth.json');
  const target = execa(PY, [join(W, 'two_cpu.py'), '20'], { reject: false, env: { ...process.env, GILPIPE_TRUTH: tf } });
  try {
    await new Promise((res) => setTimeout(res, 300));
    const data = join(tmp, 'pid.data');
    const r = await record(['--record-only', '--perf-data', data, '--pid', String(target.pid), '--duration', '1s']);
    t.equal(r.exitCode, 0, r.stderr.slice(-300));
    t.match(r.stderr, new RegExp(`/proc/${target.pid}/maps`), 'found the interpreter from /proc');
    const evs = await events(data);
    const gil = evs.filter((e) => /:take_gil(_\d+)?__return$/.test(e.event));
    t.ok(gil.length >= 5, `${gil.length} GIL takes`);
    t.ok(gil.every((e) => e.pid === target.pid), 'only from that process');
    const span = (Math.max(...gil.map((e) => e.ts)) - Math.min(...gil.map((e) => e.ts))) / 1e9;
    t.ok(span > 0.7 && span < 1.5, `events span ${span.toFixed(2)} s of the 1 s asked for`);
  } finally {
    target.kill('SIGKILL');
    await target;
  }
});

t.test('--no-probes records the scheduler only; --stacks puts stacks on sched_switch only', { skip }, async (t) => {
  const d1 = join(tmp, 'np.data');
  const r1 = await record(['--record-only', '--no-probes', '--perf-data', d1, '--', PY, join(W, 'sleeper.py')]);
  t.equal(r1.exitCode, 0);
  const e1 = await events(d1);
  t.ok(e1.some((e) => e.event === 'sched:sched_switch'), 'sched_switch recorded');
  t.notOk(e1.some((e) => e.event.startsWith('gilrec_')), 'no probe events');
  const d2 = join(tmp, 'st.data');
  const r2 = await record(['--record-only', '--stacks', '--perf-data', d2, '--', PY, join(W, 'two_cpu.py'), '0.2']);
  t.equal(r2.exitCode, 0);
  const e2 = await events(d2);
  const sw = e2.filter((e) => e.event === 'sched:sched_switch');
  t.ok(sw.length > 0 && sw.every((e) => e.chain), 'every sched_switch has a call chain');
  t.notOk(e2.some((e) => e.chain && e.event !== 'sched:sched_switch'), 'no other event has one');
});

t.test('--stacks on a hog that never leaves its CPU: the verdict says where the stacks are, not that there are none', { skip }, async (t) => {
  const data = join(tmp, 'hog-stacks.data');
  const r = await record(['--stacks', '--perf-data', data, '-o', join(tmp, 'hog-stacks.json'), '--', PY, join(W, 'gil_hog.py')]);
  t.equal(r.exitCode, 0, r.stderr.split('\n').slice(-2).join(' '));
  const said = r.stdout.replace(/\s*\n\s*/g, ' ');
  t.match(said, /hold of \d/, 'a long hold is named');
  t.notMatch(said, /No stacks were recorded/);
  t.match(said, /No stacks fell in the long holds: this recording's stacks are on other events \(sched_switch/);
  const summary = JSON.parse((await execa('node', [bin('gil-stats'), '--format', 'json', data])).stdout) as { processes: Array<{ comm: string; callchains: number }> };
  const sw = (await events(data)).filter((e) => e.event === 'sched:sched_switch' && e.chain).length;
  const py = summary.processes.filter((p) => p.comm?.startsWith('python'));
  const counted = py.reduce((n, p) => n + p.callchains, 0);
  t.ok(py.length > 0 && counted > 0 && sw > 0, `the python process's row counts its stacks (${counted}) of the ${sw} switches recorded with one`);
});

t.test('errors a user can hit', async (t) => {
  t.test('not root', { skip: process.getuid?.() === 0 && existsSync('/usr/bin/setpriv') ? false : 'needs root and setpriv to become nobody' }, async (t) => {
    const asNobody = (args: string[]) =>
      execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, bin('gil-record'), ...args], { reject: false, cwd: '/tmp' });
    const r = await asNobody(['--', 'python3', '-c', 'pass']);
    t.equal(r.exitCode, 2);
    t.match(r.stderr, /^gil-record: adding uprobes on take_gil\/drop_gil needs root: run gil-record with sudo/m);
    const paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8'));
    if (paranoid > -1) {
      const r2 = await asNobody(['--no-probes', '--', 'python3', '-c', 'pass']);
      t.equal(r2.exitCode, 2);
      t.match(r2.stderr, new RegExp(`kernel\\.perf_event_paranoid is ${paranoid}.*sudo sysctl kernel\\.perf_event_paranoid=-1`));
    }
  });
  t.test('perf missing', async (t) => {
    const r = await execa(process.execPath, [bin('gil-record'), '--', 'python3', '-c', 'pass'], { reject: false, env: { ...process.env, PATH: '/nonexistent' } });
    t.equal(r.exitCode, 2);
    t.match(r.stderr, /perf is not installed: install perf \(Debian: apt-get install linux-perf/);
  });
  t.test('usage', async (t) => {
    const none = await runBin('gil-record', []);
    t.equal(none.exitCode, 2);
    t.match(none.stderr, /give a command after --, or --pid PID/);
    const both = await runBin('gil-record', ['--pid', '1', '--', 'python3']);
    t.equal(both.exitCode, 2);
    const dur = await runBin('gil-record', ['--duration', '1s', '--', 'python3']);
    t.match(dur.stderr, /--duration goes with --pid/);
    const badPid = await runBin('gil-record', ['--pid', 'abc']);
    t.match(badPid.stderr, /--pid wants a process id/);
  });
  t.test('outputs and perf options that would fail after the recording: refused before it, nothing added or run', async (t) => {
    const marker = join(tmp, 'ran-anyway');
    const program = ['--', 'sh', '-c', `touch ${marker}`];
    for (const [args, message] of [
      [['-o', join(tmp, 'no-such-folder', 't.json')], /-o .*t\.json: its folder .*no-such-folder does not exist/],
      [['-o', ''], /-o wants a file name/],
      [['-o', tmp], /-o .*: is a directory/],
      [['--states', join(tmp, 'no-such-folder', 's.ndjson.gz')], /--states .*: its folder .*no-such-folder does not exist/],
      [['-m', 'abc'], /-m abc: not a number of pages \(16\) nor a size/],
      [['--perf-data', ''], /--perf-data wants a file name/],
    ] as const) {
      const r = await runBin('gil-record', [...args, ...program]);
      t.equal(r.exitCode, 2, `${args.join(' ')}: exit 2`);
      t.match(r.stderr, message);
      t.equal(String(r.stderr).trim().split('\n').length, 1, 'one line');
    }
    t.notOk(existsSync(marker), 'the program never ran');
  });
  t.test('--viztracer without VizTracer', { skip }, async (t) => {
    const has = (await execa(PY, ['-c', 'import viztracer'], { reject: false })).exitCode === 0;
    if (has) return t.pass('VizTracer is installed here: nothing to check');
    const r = await record(['--viztracer', '--', PY, join(W, 'sleeper.py')]);
    t.equal(r.exitCode, 2);
    t.match(r.stderr, /VizTracer is not installed for .*python3\.11: .* -m pip install viztracer/);
  });
  t.test('a command that does not exist', { skip }, async (t) => {
    const r = await record(['--', 'no-such-python-here', 'x.py']);
    t.equal(r.exitCode, 127);
    t.match(r.stderr, /no-such-python-here: command not found/);
  });
});

t.test('probes a killed gil-record left behind are cleaned up; nothing else is', { skip }, async (t) => {
  // A pid that runs no gil-record: pid_max is at most 2^22.
  const stale = `gilrec_${2 ** 22 + 1}`;
  const lib = '/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0';
  const add = await execa('perf', ['probe', '-q', '-x', existsSync(lib) ? lib : PY, '-a', `${stale}:take_gil_${process.pid}=take_gil`], { reject: false });
  if (add.exitCode !== 0) return t.skip(`cannot add a probe to test with: ${add.stderr}`);
  try {
    const r = await record(['--record-only', '--perf-data', join(tmp, 'stale.data'), '--', PY, '-c', 'pass']);
    t.equal(r.exitCode, 0);
    t.match(r.stderr, new RegExp(`removing probes left by a gil-record that was killed: ${stale}`));
    t.same(await probesNow(stale), []);
    t.ok((await probesNow(FOREIGN)).length > 0, "someone else's probes remain");
  } finally {
    await execa('perf', ['probe', '-q', '-d', `${stale}:*`], { reject: false });
  }
});

// VizTracer cannot be installed on the development machine (no PyPI), so this
// runs gil-record --viztracer against a stand-in `viztracer` module written
// here: it takes VizTracer's command line, runs the script, and writes one X
// event on CLOCK_MONOTONIC in µs as VizTracer does. It checks gil-record's
// wiring (the command line, the merge, the clocks lining up), not VizTracer.
t.test('--viztracer: runs the program under (a stand-in) VizTracer and merges both traces', { skip }, async (t) => {
  if (!existsSync(bin('merge-trace')) || !existsSync(bin('to-trace'))) return t.skip('merge-trace or to-trace is not built');
  const fake = join(tmp, 'fakeviz', 'viztracer');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(fake, { recursive: true });
  writeFileSync(join(fake, '__init__.py'), '');
  writeFileSync(
    join(fake, '__main__.py'),
    [
      'import json, os, runpy, sys, threading, time',
      'args = sys.argv[1:]',
      'out = args[args.index("-o") + 1]',
      'rest = args[args.index("--") + 1:]',
      'sys.argv = rest',
      'sys.path.insert(0, os.path.dirname(os.path.abspath(rest[0])))  # as python script.py would',
      't0 = time.monotonic_ns()',
      'runpy.run_path(rest[0], run_name="__main__")',
      't1 = time.monotonic_ns()',
      'ev = {"ph": "X", "name": "standin <module>", "pid": os.getpid(), "tid": threading.get_native_id(), "ts": t0 / 1000, "dur": (t1 - t0) / 1000}',
      'json.dump({"traceEvents": [ev], "viztracer_metadata": {"version": "stand-in", "overflow": False}}, open(out, "w"))',
    ].join('\n'),
  );
  const out = join(tmp, 'viz.json');
  const r = await record(['--viztracer', '--perf-data', join(tmp, 'viz.data'), '-o', out, '--', PY, join(W, 'two_cpu.py'), '0.3'], {
    PYTHONPATH: join(tmp, 'fakeviz'),
  });
  t.equal(r.exitCode, 0, r.stderr.slice(-400));
  t.match(r.stderr, /merge-trace with .*viz\.viztracer\.json/);
  const merged = JSON.parse(readFileSync(out, 'utf8'));
  const standin = merged.traceEvents.find((e: { name?: string }) => e.name === 'standin <module>');
  t.ok(standin, "VizTracer's event is in the merged trace");
  // two_cpu's worker threads exist only while the script runs, and the main
  // thread needs the GIL back from them before it can read the end time: so
  // every GIL span of theirs begins inside the run the stand-in timed. (Their
  // last drop_gil *return* and thread exit may trail it by a few ms.)
  type Ev = { pid?: number; tid?: number; ts?: number; ph?: string; cat?: string };
  const workers = merged.traceEvents.filter((e: Ev) => e.pid === standin.pid && e.tid !== standin.pid && e.ph === 'b' && e.cat === 'gil');
  t.ok(workers.length > 10, `the GIL trace's spans of the worker threads are there too (${workers.length})`);
  const outside = workers.filter((e: { ts: number }) => e.ts < standin.ts - 1e3 || e.ts > standin.ts + standin.dur + 1e3);
  t.equal(outside.length, 0, `on one clock: none begins outside the script's run as the stand-in timed it (1 ms slack)${outside.length ? `: ${JSON.stringify(outside.slice(0, 2))}` : ''}`);
});
