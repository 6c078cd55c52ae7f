// The trace gil-record writes for a Python program started through a pyenv
// shim, opened in the real Catapult viewer (headless Chromium) as a user
// would: the Python process on top, its thread rows named by the Python
// thread names, the shim's short processes folded into one group at the
// bottom with none missing. What is asserted comes from the workload's truth
// (pid, names per tid) and from perf script's own pid column, not from
// to-trace's output. Writes test/artifacts/pool-hog-trace.png (the README
// picture is a copy of it). Skips with the reason without root, perf or the viewer.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root } from '../helpers/run.js';
import { openInViewer, viewerAvailable } from '../helpers/viewer.js';

const SHIM = '/root/.pyenv/shims/python';
const VERSION = '3.13.0';
const tmp = mkdtempSync(join(tmpdir(), 'py-trace-viewer-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

async function whyNot(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'not root: uprobes and tracepoints need root';
  if ((await execa('perf', ['--version'], { reject: false })).exitCode !== 0) return 'perf is not installed';
  if (!existsSync(SHIM) || !existsSync(`/root/.pyenv/versions/${VERSION}`)) return `no pyenv shim ${SHIM} with ${VERSION}`;
  return (await viewerAvailable()) ?? false;
}
const skip = await whyNot();
if (skip) t.comment(`skipping the trace-in-the-viewer test: ${skip}`);

t.test('pool_hog through a pyenv shim: the Python process on top, threads named, the shim folded', { skip }, async (t) => {
  const data = join(tmp, 'pool.data');
  const trace = join(tmp, 'pool.json');
  const tf = join(tmp, 'pool.truth.json');
  const r = await execa('node', [bin('gil-record'), '-q', '--perf-data', data, '-o', trace, '--', SHIM, join(root, 'examples/workloads/pool_hog.py'), '0.25'], {
    reject: false,
    cwd: tmp,
    env: { ...process.env, GILPIPE_TRUTH: tf, PYENV_VERSION: VERSION },
    stdin: 'ignore',
  });
  t.equal(r.exitCode, 0, `exit 0 ${String(r.stderr).slice(-400)}`);
  const truth = JSON.parse(readFileSync(tf, 'utf8'));
  // The shim's processes, from perf script's own pid column.
  const ps = await execa('perf', ['script', '-i', data, '-F', 'pid'], { reject: false, maxBuffer: 1 << 28 });
  const shimPids = new Set(String(ps.stdout).split('\n').map((l) => Number(l.trim())).filter((p) => p > 0 && p !== truth.pid));
  t.ok(shimPids.size >= 3, `the shim ran ${shimPids.size} processes before Python`);

  const artifacts = join(root, 'test/artifacts');
  mkdirSync(artifacts, { recursive: true });
  const s = await openInViewer({ file: trace }, { screenshot: join(artifacts, 'pool-hog-trace.png'), width: 1400, height: 900 });
  t.same(s.importWarnings, [], 'imported without warnings');
  t.same(s.pageErrors, []);
  t.equal(s.processOrder[0], truth.pid, 'the Python process is drawn first');
  const py = s.processes.find((p) => p.pid === truth.pid)!;
  for (const [tid, name] of Object.entries(truth.names as Record<string, string>)) {
    const th = py.threads.find((x) => x.tid === +tid);
    const want = name === 'MainThread' ? /^python.* \(main thread\)$/ : new RegExp(`^${Buffer.from(name).subarray(0, 15).toString()}$`);
    t.match(th?.name, want, `thread ${tid} (${name}) is named ${want}`);
  }
  t.equal(py.threadOrder[0], truth.main_tid, 'the main thread is its first row');
  const group = s.processes.filter((p) => /^\d+ short process(es)? without GIL events$/.test(p.name ?? ''));
  t.equal(group.length, 1, 'one folded group');
  t.equal(s.processOrder[s.processOrder.length - 1], group[0]?.pid, 'drawn last');
  // In the file every process of the shim has its row in the group; the viewer
  // leaves out a row with nothing to draw (a process that only forked and exited).
  const pidOf = (name: string | undefined) => Number(/\(pid (\d+)\)$/.exec(name ?? '')?.[1]);
  const events = JSON.parse(readFileSync(trace, 'utf8')).traceEvents as Array<Record<string, any>>;
  const named = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === group[0]?.pid).map((e) => pidOf(e.args.name)));
  // None of the shim's processes (each lives well under a second) is drawn as itself.
  const own = new Set(events.filter((e) => e.ph === 'M' && e.name === 'process_name' && e.pid !== group[0]?.pid && e.pid !== truth.pid).map((e) => e.pid));
  t.same([...own].filter((p) => shimPids.has(p)), [], 'no process of the shim is drawn as itself');
  t.same([...named].sort(), [...shimPids].sort(), 'every process of the shim is in the folded group: none lost');
  const drawn = group[0]?.threads.map((th) => pidOf(th.name)) ?? [];
  t.ok(drawn.length > 0 && drawn.every((p) => shimPids.has(p)), `the viewer draws ${drawn.length} of them, all the shim's`);
  t.match(group[0]?.name, new RegExp(`^${named.size} short`), 'the group says how many');
});
