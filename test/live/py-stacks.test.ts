// gil-record --py-stacks on examples/workloads/pool_hog.py with real perf and
// the pyenv interpreters: thread names and Python frames, checked against the
// workload's own truth (the name and tid of each thread, from inside) and
// against perf script's own output of the kept recording, read with a regex.
// Skips with the reason where this machine cannot record.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root } from '../helpers/run.js';

const W = join(root, 'examples/workloads');
const py = (v: string) => `/root/.pyenv/versions/${v}/bin/python`;
const tmp = mkdtempSync(join(tmpdir(), 'py-stacks-test-'));
const pids: number[] = [];
t.teardown(() => {
  rmSync(tmp, { recursive: true, force: true });
  // The interpreters' own perf files in /tmp (perf-PID.map, jit-PID.dump, jitted-PID-N.so).
  for (const f of readdirSync('/tmp')) if (pids.some((p) => new RegExp(`^(perf-${p}\\.map|jit-${p}\\.dump|jitted-${p}-\\d+\\.so)$`).test(f))) rmSync(join('/tmp', f), { force: true });
});

async function whyNot(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'not root: uprobes and tracepoints need root';
  if ((await execa('perf', ['--version'], { reject: false })).exitCode !== 0) return 'perf is not installed';
  if (!existsSync('/sys/kernel/tracing/uprobe_events') && !existsSync('/sys/kernel/debug/tracing/uprobe_events')) return 'no uprobe_events in tracefs';
  return false;
}
const skip = await whyNot();
if (skip) t.comment(`skipping --py-stacks tests: ${skip}`);

/** Linux keeps 15 bytes of a name. */
const comm15 = (name: string) => Buffer.from(name, 'utf8').subarray(0, 15).toString('utf8');

interface Sample {
  comm: string;
  tid: number;
  frames: string[];
}
/** perf script of the recording: each event's comm, tid and callchain lines. */
async function samples(data: string): Promise<Sample[]> {
  const r = await execa('perf', ['script', '-i', data, '-F', 'comm,tid,event,ip,sym,dso'], { reject: false, maxBuffer: 1 << 30 });
  const out: Sample[] = [];
  for (const line of String(r.stdout).split('\n')) {
    const m = /^\s*(.*?)\s+(\d+)\s+\S+:\s*$/.exec(line) ?? /^\s*(.*?)\s+(\d+)\s+[a-z_]+:[a-z_0-9]+:/.exec(line);
    if (m && !line.startsWith('\t')) out.push({ comm: m[1]!, tid: +m[2]!, frames: [] });
    else if (line.startsWith('\t') && out.length > 0) out[out.length - 1]!.frames.push(line.trim());
  }
  return out;
}

async function recordHog(v: string) {
  const data = join(tmp, `${v}.data`);
  const trace = join(tmp, `${v}.json`);
  const tf = join(tmp, `${v}.truth.json`);
  const r = await execa('node', [bin('gil-record'), '-q', '--py-stacks', '--perf-data', data, '-o', trace, '--', py(v), join(W, 'pool_hog.py'), '0.2'], {
    reject: false,
    cwd: tmp,
    env: { ...process.env, GILPIPE_TRUTH: tf },
    stdin: 'ignore',
  });
  const truth = existsSync(tf) ? JSON.parse(readFileSync(tf, 'utf8')) : undefined;
  if (truth) pids.push(truth.pid);
  return { r, data, trace, truth };
}

for (const v of ['3.12.1', '3.13.0']) {
  t.test(`Python ${v}: thread names in perf, the table and the trace; py:: frames in the stacks`, { skip: skip || (existsSync(py(v)) ? false : `${py(v)} is missing`) }, async (t) => {
    const { r, data, trace, truth } = await recordHog(v);
    t.equal(r.exitCode, 0, `exit 0 ${String(r.stderr).slice(-400)}`);
    t.ok(truth, 'the workload wrote its truth');
    if (!truth) return;
    const names: Record<string, string> = truth.names;
    const threads = Object.entries(names).filter(([, n]) => n !== 'MainThread');
    t.same(threads.map(([, n]) => comm15(n)).sort(), ['ThreadPoolExecu', 'ThreadPoolExecu', 'ThreadPoolExecu', 'ThreadPoolExecu', 'hog'], "the truth's threads, cut to 15 bytes");
    // perf's comm: the name perf recorded for the thread's events.
    const evs = await samples(data);
    for (const [tid, name] of threads) {
      const comms = new Set(evs.filter((e) => e.tid === +tid).map((e) => e.comm));
      t.ok(comms.has(comm15(name)), `perf: tid ${tid} is ${comm15(name)} (${[...comms].join(', ')})`);
    }
    // gil-record's table: the row of each thread names it.
    for (const [tid, name] of threads) t.match(String(r.stdout), new RegExp(`^\\s*${tid}\\*?\\s+${comm15(name)}\\s`, 'm'), `the table's row for ${tid} says ${comm15(name)}`);
    // The trace: thread rows named, the Python process on top.
    const ev = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as Array<Record<string, any>>;
    const tname = new Map(ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid, e.args.name]));
    for (const [tid, name] of threads) t.equal(tname.get(+tid), comm15(name), `the trace's row for ${tid} is ${comm15(name)}`);
    const top = ev.find((e) => e.ph === 'M' && e.name === 'process_sort_index' && e.args.sort_index === 0);
    t.equal(top?.pid, truth.pid, 'the Python process sorts first');
    // Python frames: perf script of the kept recording names the workload's functions.
    const hogFrames = evs.filter((e) => e.tid === truth.hog_tid).flatMap((e) => e.frames);
    t.ok(hogFrames.some((f) => /py::\w+:.*pool_hog\.py/.test(f)), "the hog's stacks have py:: frames of pool_hog.py");
    if (v.startsWith('3.13')) {
      t.ok(hogFrames.some((f) => /py::parse_all:.*pool_hog\.py/.test(f)), 'py::parse_all is in the hog thread\'s stacks (perf_jit: the whole Python stack)');
      // The caller below its callee: parse_all's frame, then hog's (backtrack's
      // above them when the stack was taken inside it, which depends on when
      // the hog was switched out).
      const order = evs
        .filter((e) => e.tid === truth.hog_tid)
        .map((e) => e.frames.flatMap((f) => /py::(\w+):/.exec(f)?.[1] ?? []).join(' '));
      t.ok(order.some((o) => /\bparse_all hog\b/.test(o)), 'a stack reads parse_all, then hog: the whole Python stack, innermost first');
      t.ok(existsSync(join(`${data}.py`, `jit-${truth.pid}.dump`)), 'the jit dump is kept beside perf.data');
    } else {
      // 3.12 -X perf without frame pointers: the unwinder stops at the first
      // trampoline, so only the innermost function shows (backtrack, parse_all
      // or hog, by where the hog was when the stack was taken), never a caller.
      const deep = evs.filter((e) => e.frames.filter((f) => f.includes('py::')).length >= 2).length;
      t.equal(deep, 0, 'no stack has two py:: frames: the unwinder stops at the first trampoline (docs/finding-code.md)');
      t.ok(existsSync(join(`${data}.py`, `perf-${truth.pid}.map`)), 'the perf map is kept beside perf.data');
    }
  });
}

t.test('Python 3.11: says Python frames need 3.12, still records native stacks', { skip: skip || (existsSync(py('3.11.7')) ? false : 'no 3.11.7') }, async (t) => {
  const { r, data, truth } = await recordHog('3.11.7');
  t.equal(r.exitCode, 0, `exit 0 ${String(r.stderr).slice(-400)}`);
  t.match(String(r.stderr), /Python frames need Python 3\.12\+ .*this is Python 3\.11\.7: recording native stacks only/);
  const evs = await samples(data);
  const chains = evs.filter((e) => e.frames.some((f) => /take_gil/.test(f)));
  t.ok(chains.length > 0, `native stacks on the GIL probes (${chains.length} with take_gil in them)`);
  t.notOk(evs.some((e) => e.frames.some((f) => f.includes('py::'))), 'and no py:: frame');
  if (truth) t.ok(evs.some((e) => e.tid === truth.hog_tid && e.comm === 'hog'), 'thread names work on 3.11 too');
});

t.test('--pid: a process started with -X perf_jit has its jit dump kept, and both say where Python frames come from', { skip: skip || (existsSync(py('3.13.0')) ? false : 'no 3.13.0') }, async (t) => {
  for (const [opts, frames] of [[['-X', 'perf_jit'], true], [[], false]] as const) {
    const sub = execa(py('3.13.0'), [...opts, join(W, 'two_cpu.py'), '20'], { reject: false, stdin: 'ignore' });
    pids.push(sub.pid!);
    try {
      await new Promise((r) => setTimeout(r, 1000)); // the threads are spinning by now
      const data = join(tmp, `attach${frames}.data`);
      const r = await execa('node', [bin('gil-record'), '-q', '--py-stacks', '--record-only', '--perf-data', data, '--pid', String(sub.pid), '--duration', '1s'], {
        reject: false,
        cwd: tmp,
        stdin: 'ignore',
      });
      t.equal(r.exitCode, 0, `exit 0 ${String(r.stderr).slice(-300)}`);
      const evs = await samples(data);
      const spin = evs.some((e) => e.frames.some((f) => /py::spin:.*two_cpu\.py/.test(f)));
      if (frames) {
        t.match(String(r.stderr), new RegExp(`process ${sub.pid} writes /tmp/jit-${sub.pid}\\.dump .*start the program with gil-record --py-stacks`), 'says perf cannot name them attached, and what to do');
        // perf 6.1 cuts an attached process's user stacks short on -k CLOCK_MONOTONIC: if a newer perf names them, the note is wrong.
        t.notOk(spin, 'no py::spin: perf did not name the Python frames, as the note says');
        t.ok(existsSync(join(`${data}.py`, `jit-${sub.pid}.dump`)), 'its jit dump is kept, although it was written before the recording');
      } else {
        t.match(String(r.stderr), /was not started with -X perf .*native stacks only/, 'says why there are no Python frames');
        t.notOk(spin, 'and there are none');
        t.ok(evs.some((e) => e.frames.length > 0), 'native stacks all the same');
      }
    } finally {
      sub.kill();
      await sub;
    }
  }
});

t.test('hostile Python thread names: exact in the trace, escaped in the table', { skip: skip || (existsSync(py('3.12.1')) ? false : 'no 3.12.1') }, async (t) => {
  // Names a program may give its threads; Linux keeps 15 bytes of each.
  const names = ['\u001b[31mred\u001b[0m', 'bell\u0007ring', '\u202eevil'];
  const prog = join(tmp, 'hostile.py');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    prog,
    [
      'import threading, time',
      'def spin():',
      '    end = time.monotonic() + 0.3',
      '    while time.monotonic() < end: pass',
      `ts = [threading.Thread(target=spin, name=n) for n in ${JSON.stringify(names)}]`,
      'for th in ts: th.start()',
      'for th in ts: th.join()',
    ].join('\n'),
  );
  const trace = join(tmp, 'hostile.json');
  const r = await execa('node', [bin('gil-record'), '-q', '--perf-data', join(tmp, 'hostile.data'), '-o', trace, '--', py('3.12.1'), prog], { reject: false, cwd: tmp, stdin: 'ignore' });
  t.equal(r.exitCode, 0, String(r.stderr).slice(-300));
  const ev = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as Array<Record<string, any>>;
  const tnames = new Set(ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args.name));
  for (const n of names) t.ok(tnames.has(comm15(n)), `the trace names a thread ${JSON.stringify(comm15(n))}, exactly`);
  const out = String(r.stdout);
  t.notMatch(out, /[\u0007\u001b\u202e]/, 'no raw control or bidi character reaches the terminal');
  t.match(out, /\\x1b\[31mred/, 'the escape shows as \\x1b');
  t.match(out, /bell\\x07ring/, 'the bell as \\x07');
  t.match(out, /\\u202eevil/, 'the override as \\u202e');
});
