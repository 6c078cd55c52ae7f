// The perf.data reader's callchain frames against perf script's, on
// recordings made now on this machine (so the kernel, the libraries and the
// JIT's perf map are the ones recorded): perf record -g of a Python program
// with the GIL probes started through a shell that forks and execs it, of a
// JIT that writes /tmp/perf-PID.map (test/fixtures/jit_map.py), of CPython
// 3.12 -X perf sampled with cpu-clock (its Python functions from its perf
// map, each frame's offset in its symbol), and of the whole machine for a
// moment (other programs, C++ among them). Every record,
// every frame (address, symbol, file) must be the one perf-parse reads from
// `perf script` of the same file (GILPIPE_PERF_SCRIPT=1, the old path). Skips
// with the reason where this machine cannot record.
import t, { type Test } from 'tap';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, runBin } from '../helpers/run.js';
import { whyNotRecord } from '../helpers/recording.js';

const PY312 = '/root/.pyenv/versions/3.12.1/bin/python';
const GROUP = 'gilsymt';
const tmp = mkdtempSync(join(tmpdir(), 'perf-data-symbols-'));
const pids: number[] = [];
const removeProbes = () => execa('perf', ['probe', '-q', '-d', `${GROUP}:*`], { reject: false });
t.teardown(async () => {
  await removeProbes();
  rmSync(tmp, { recursive: true, force: true });
  // The JIT's perf map: perf script read it from /tmp.
  for (const f of readdirSync('/tmp')) if (pids.some((p) => f === `perf-${p}.map`)) rmSync(join('/tmp', f), { force: true });
});

const skip = await whyNotRecord(PY312);
if (skip) t.comment(`skipping: ${skip}`);

/** perf record -g of a command: the recording, and what the command printed. */
async function record(name: string, args: string[]): Promise<{ data: string; stdout: string }> {
  const data = join(tmp, `${name}.data`);
  const r = await execa('perf', ['record', '-q', '-g', '-k', 'CLOCK_MONOTONIC', '-o', data, ...args], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`perf record failed: ${r.stderr}`);
  return { data, stdout: String(r.stdout) };
}

interface Frame {
  addr: string;
  sym?: string | null;
  dso?: string | null;
}

/**
 * A frame as perf script's text can carry it. perf prints `SYM (DSO)`, and a
 * file named with ` (` in it (a deleted memfd: `/memfd:x (deleted)`) reads
 * back split in the wrong place: such a frame is compared as the text perf
 * printed.
 */
function asPrinted(f: Frame): string {
  return `${f.addr} ${f.sym ?? '[unknown]'} (${f.dso ?? '[unknown]'})`;
}

const records = (s: string) => s.split('\n').filter((l) => l.length > 0 && !l.startsWith('{"type":"header"')).map((l) => JSON.parse(l));

/** The reader's records against perf script's: the same records, and each frame the same. */
async function compare(t: Test, data: string): Promise<{ frames: Frame[]; notes: string }> {
  const native = await runBin('perf-parse', [data], { maxBuffer: 1 << 30 });
  const old = await runBin('perf-parse', [data], { env: { GILPIPE_PERF_SCRIPT: '1' }, maxBuffer: 1 << 30 });
  t.equal(native.exitCode, 0, String(native.stderr));
  t.equal(old.exitCode, 0, String(old.stderr));
  t.notMatch(String(native.stderr), /read through perf script/, 'read natively');
  const [a, b] = [records(String(native.stdout)), records(String(old.stdout))];
  t.equal(a.length, b.length, `${a.length} records`);
  let frames = 0;
  let differ = 0;
  let reprinted = 0;
  const first: string[] = [];
  const all: Frame[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [x, y] = [a[i], b[i]];
    const [cx, cy] = [(x.callchain ?? []) as Frame[], (y.callchain ?? []) as Frame[]];
    delete x.callchain;
    delete y.callchain;
    if (JSON.stringify(x) !== JSON.stringify(y) || cx.length !== cy.length) {
      differ++;
      // The callchains too: a difference in length alone prints two records that look alike.
      if (first.length < 3) first.push(`#${i}: ${JSON.stringify(x)} with ${cx.length} frames ${JSON.stringify(cx).slice(0, 3000)} vs ${JSON.stringify(y)} with ${cy.length} ${JSON.stringify(cy).slice(0, 3000)}`);
      continue;
    }
    for (let k = 0; k < cx.length; k++) {
      frames++;
      all.push(cx[k]!);
      const ambiguous = (cx[k]!.dso ?? '').includes(' (');
      if (ambiguous) reprinted++;
      const same = ambiguous ? asPrinted(cx[k]!) === asPrinted(cy[k]!) : JSON.stringify(cx[k]) === JSON.stringify(cy[k]);
      if (!same) {
        differ++;
        if (first.length < 3) first.push(`#${i} frame ${k}: ${JSON.stringify(cx[k])} vs perf's ${JSON.stringify(cy[k])}`);
      }
    }
  }
  t.equal(differ, 0, `every record and every one of ${frames} frames as perf script gives them${reprinted ? ` (${reprinted} in files named with " (", as printed)` : ''}`);
  if (first.length > 0) t.comment(first.join('\n'));
  return { frames: all, notes: String(native.stderr) };
}

t.test('a Python program with the GIL probes, through a shell that forks and execs it', { skip }, async (t) => {
  const lib = '/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0';
  await removeProbes();
  const add = await execa('perf', ['probe', '-q', '-x', lib, '-a', `${GROUP}:take_gil=take_gil`, '-a', `${GROUP}:drop_gil=drop_gil`], { reject: false });
  if (add.exitCode !== 0) return t.skip(`cannot add uprobes: ${add.stderr}`);
  // ls ends before python starts: a process of the recording that ends while
  // another is starting can take the probes out of the one starting (this
  // kernel, 6.18: with ls beside python, 3 recordings in 12 had 0 or 1 probe
  // hits instead of ~1,190; with ls first, none in 24).
  const script = `sh -c 'ls / >/dev/null; ${PY312} ${join(root, 'examples/workloads/pool_hog.py')} 0.2 & wait'`;
  const { data } = await record('pool', ['-e', 'sched:sched_switch', '-e', 'sched:sched_waking', '-e', `${GROUP}:*`, '--', 'sh', '-c', script]);
  const { frames } = await compare(t, data);
  const named = (dso: string) => frames.filter((f) => f.dso === dso && typeof f.sym === 'string').length;
  t.ok(named('[kernel.kallsyms]') > 100, `kernel frames named (${named('[kernel.kallsyms]')})`);
  t.ok(named(lib) > 100, `libpython frames named (${named(lib)}: take_gil, drop_gil and their callers)`);
  t.ok(frames.some((f) => f.sym === 'take_gil'), 'take_gil among them');
});

t.test("a JIT's frames, named from the perf map it writes", { skip }, async (t) => {
  const { data, stdout } = await record('jit', ['-e', 'syscalls:sys_enter_getppid', '--', PY312, join(root, 'test/fixtures/jit_map.py'), '40']);
  // What the workload did, as it says (its own truth).
  const truth = JSON.parse(stdout.trim().split('\n').pop()!);
  pids.push(truth.pid);
  const { frames } = await compare(t, data);
  const map = `/tmp/perf-${truth.pid}.map`;
  for (const name of truth.functions as string[]) t.equal(frames.filter((f) => f.dso === map && f.sym === name).length, truth.calls, `${name}: one frame per call (${truth.calls})`);
  t.equal(frames.filter((f) => f.dso === map && f.sym === null).length, truth.calls, 'the function the map leaves out: unnamed, in the map');
});

t.test('CPython 3.12 -X perf sampled with cpu-clock -g: Python functions from its perf map, offsets in symbols', { skip }, async (t) => {
  const { data } = await record('cpu', ['-F', '4000', '-e', 'cpu-clock', '--', PY312, '-X', 'perf', join(root, 'test/fixtures/py_calls.py'), '1']);
  // The interpreter's perf map, removed after the test like the JIT's: its pid is the one that exec'd python.
  const exec = records(String((await runBin('perf-parse', [data])).stdout)).find((r) => r.type === 'comm' && r.exec && /^python/.test(r.comm));
  if (exec !== undefined) pids.push(exec.pid);
  const { frames } = await compare(t, data);
  const py = frames.filter((f) => typeof f.sym === 'string' && f.sym.startsWith('py::') && /^\/tmp\/perf-\d+\.map$/.test(f.dso ?? ''));
  t.ok(py.length > 0, `Python frames named from the perf map (${py.length}: ${[...new Set(py.map((f) => f.sym))].slice(0, 4).join(', ')})`);
  t.ok(frames.some((f) => typeof (f as { off?: number }).off === 'number'), 'frames of code samples carry their offset in the symbol');
});

t.test('the whole machine for a moment: other programs and their libraries', { skip }, async (t) => {
  if ((await execa('c++filt', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode !== 0) return t.skip('no c++filt: C++ frames stay unnamed here, where perf names them');
  // The machine's own traffic comes and goes (an idle CI runner gave frames in
  // two files), so the moment holds programs of our own. Blocked in a syscall,
  // a task's user stack starts in libc and its callers are found only where
  // frame pointers lead (libc has none: libpython's frames came in 0 to 157 of
  // a run's switches); preempted, it starts where it ran. So: one busy Python
  // more than there are CPUs, each preempted in libpython's eval loop, and node
  // (C++) waiting on a timer.
  const node = realpathSync(process.execPath);
  const busy = `${PY312} -c 'import time\nt = time.time()\nwhile time.time() - t < 0.3: pass'`;
  const many = Array.from({ length: availableParallelism() + 1 }, () => `${busy} &`).join(' ');
  const { data } = await record('system', ['-a', '-e', 'sched:sched_switch', '--', 'sh', '-c', `${many} wait; ${node} -e 'setTimeout(() => {}, 50)'; sleep 0.1`]);
  const { frames } = await compare(t, data);
  const dsos = new Set(frames.map((f) => f.dso).filter((d) => d !== null && d !== undefined && d !== '[kernel.kallsyms]'));
  for (const want of [/\/libc\.so/, /\/libpython3\.12\.so/]) {
    const found = [...dsos].some((d) => want.test(d));
    t.ok(found, `frames in ${want} (files: ${[...dsos].join(', ')})`);
  }
});
