// Records a small threaded Python program live with perf, GIL uprobes
// included, and reads it back with `perf-parse -i`: the whole path a user
// takes, on this machine's perf and kernel. The threads to look for come from
// the program's own truth (threading.get_native_id()), not from perf.
//
// Needs root, perf and a Python with take_gil/drop_gil symbols; skips with the
// reason otherwise. The probes live in a group unique to this run and are
// removed in `finally`, also when an assertion throws.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBin, root } from '../helpers/run.js';
import { parseNdjson } from '../helpers/schema.js';

const PY = process.env.GILPIPE_PYTHON ?? '/root/.pyenv/versions/3.11.7/bin/python';
const GROUP = `gillive${process.pid}`;
const SCHED = ['sched:sched_switch', 'sched:sched_waking', 'sched:sched_wakeup', 'sched:sched_wakeup_new', 'sched:sched_process_fork', 'sched:sched_process_exit'];

async function perfOk(): Promise<boolean> {
  const r = await execa('perf', ['--version'], { reject: false });
  return r.exitCode === 0;
}

/** Where take_gil lives: libpython for shared builds, else the executable. */
async function gilLib(): Promise<string> {
  const r = await execa('ldd', [PY], { reject: false });
  const m = /libpython[\d.]*\.so[^\s]* => (\S+)/.exec(String(r.stdout));
  return m ? m[1]! : PY;
}

async function probesOfGroup(): Promise<string[]> {
  const r = await execa('perf', ['probe', '-l'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.trim().startsWith(`${GROUP}:`));
}

async function skipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root for uprobes and sched tracepoints';
  if (!(await perfOk())) return 'perf is not installed';
  if (!existsSync(PY)) return `${PY} not found (set GILPIPE_PYTHON)`;
  return undefined;
}

const reason = await skipReason();

t.test('live: perf record with GIL probes, then perf-parse -i', { skip: reason ?? false, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-live-'));
  const lib = await gilLib();
  try {
    const args = ['probe', '-q', '-x', lib, '-a', `${GROUP}:take_gil_${process.pid}=take_gil`, '-a', `${GROUP}:take_gil_${process.pid}=take_gil%return`, '-a', `${GROUP}:drop_gil_${process.pid}=drop_gil`, '-a', `${GROUP}:drop_gil_${process.pid}=drop_gil%return`];
    // Other tests add and remove probes too; the kernel may refuse ours for a
    // moment while they do (EBUSY), so try a few times before giving up.
    let add = await execa('perf', args, { reject: false });
    for (let i = 0; i < 4 && add.exitCode !== 0; i++) {
      await execa('perf', ['probe', '-q', '-d', `${GROUP}:*`], { reject: false });
      await new Promise((r) => setTimeout(r, 1000));
      add = await execa('perf', args, { reject: false });
    }
    if (add.exitCode !== 0) {
      t.skip(`uprobes on take_gil/drop_gil in ${lib} failed: ${String(add.stderr).trim().split('\n')[0]}`, () => {});
      return;
    }
    t.equal((await probesOfGroup()).length, 4, `four probes in ${GROUP}`);

    const data = join(dir, 'perf.data');
    const truthFile = join(dir, 'truth.json');
    const events = [...SCHED, `${GROUP}:*`].flatMap((e) => ['-e', e]);
    const rec = await execa('perf', ['record', '-q', '-k', 'CLOCK_MONOTONIC', '-o', data, ...events, '--', PY, join(root, 'examples/workloads/two_cpu.py'), '0.3'], {
      reject: false,
      env: { GILPIPE_TRUTH: truthFile },
    });
    t.equal(rec.exitCode, 0, `perf record ran${rec.exitCode ? `: ${rec.stderr}` : ''}`);
    const truth = JSON.parse(readFileSync(truthFile, 'utf8'));

    const parsed = await runBin('perf-parse', ['-i', data], { maxBuffer: 1 << 28 });
    t.equal(parsed.exitCode, 0, 'perf-parse -i exits 0');
    t.notMatch(String(parsed.stderr), /malformed/, 'no malformed lines');
    const recs = parseNdjson(String(parsed.stdout));
    const samples = recs.filter((r) => r.type === 'sample');

    t.equal(truth.threads.length, 2, 'the program ran two threads');
    for (const th of truth.threads) {
      const mine = samples.filter((s) => s.tid === th.tid);
      t.ok(mine.length > 0, `thread ${th.tid} (${th.name}) has events`);
      t.ok(mine.every((s) => s.pid === truth.pid), `all under pid ${truth.pid}`);
      const take = mine.filter((s) => s.event === `${GROUP}:take_gil_${process.pid}`);
      const took = mine.filter((s) => s.event === `${GROUP}:take_gil_${process.pid}__return`);
      const drop = mine.filter((s) => s.event === `${GROUP}:drop_gil_${process.pid}`);
      t.ok(take.length > 0 && drop.length > 0, `thread ${th.tid} calls take_gil (${take.length}) and drop_gil (${drop.length})`);
      t.ok(Math.abs(take.length - took.length) <= 1, 'every take_gil returns (but one still waiting at the end)');
      t.ok(took.every((s) => typeof s.probe?.ret === 'string'), 'return probes carry the return address');
      // The thread's hold is inside its own run, as the program timed it.
      const during = took.filter((s) => s.ts >= th.start_ns && s.ts <= th.end_ns);
      t.ok(during.length > 0, 'it took the GIL while it was running its loop');
      t.ok(recs.some((r) => r.type === 'fork' && r.tid === th.tid && r.pid === truth.pid), 'its creation is in a fork record');
      t.ok(
        samples.some((s) => s.event === 'sched:sched_switch' && s.fields?.prev_pid === th.tid),
        'the scheduler switched it out at least once',
      );
    }
    // Two CPU-bound threads in one process: at most one holds the GIL. Between
    // a take_gil return and the next drop_gil of the same thread, no other
    // thread of the process may return from take_gil.
    const gil = samples.filter((s) => s.pid === truth.pid && /:(take_gil_\d+__return|drop_gil_\d+)$/.test(s.event));
    let holder: number | undefined;
    let overlaps = 0;
    for (const s of gil) {
      if (/take_gil_\d+__return$/.test(s.event)) {
        if (holder !== undefined && holder !== s.tid) overlaps++;
        holder = s.tid;
      } else if (s.tid === holder) {
        holder = undefined;
      }
    }
    t.equal(overlaps, 0, 'never two holders at once');
  } finally {
    await execa('perf', ['probe', '-q', '-d', `${GROUP}:*`], { reject: false });
    rmSync(dir, { recursive: true, force: true });
    t.same(await probesOfGroup(), [], `the ${GROUP} probes are gone`);
  }
});
