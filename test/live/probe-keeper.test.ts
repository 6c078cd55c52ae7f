// The kernel race record/probe-keeper.ts works around: a task of a per-task
// recording that ends while another starts can take the uprobes out of the
// one starting. The workload starts 24 small Pythons, each beside an `ls`
// that ends as the Python starts; each Python has a main thread and one more,
// and a thread runs Python code only after taking the GIL, so each of
// them shows take_gil hits on both of its threads (the truth, from how
// the workload is built and from CPython). Hits are counted in perf script's
// own lines, not by gilpipe. Skips with the reason where this machine cannot
// record.
import t from 'tap';
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepProbes } from '../../record/probe-keeper.js';
import { runBin } from '../helpers/run.js';
import { whyNotRecord } from '../helpers/recording.js';

const PY = '/root/.pyenv/versions/3.12.1/bin/python';
const LIB = '/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0';
const GROUP = 'gilkeept';
const RUNS = 24;
const tmp = mkdtempSync(join(tmpdir(), 'probe-keeper-'));
const removeProbes = () => execa('perf', ['probe', '-q', '-d', `${GROUP}:*`], { reject: false });
t.teardown(async () => {
  await removeProbes();
  rmSync(tmp, { recursive: true, force: true });
});

const skip = await whyNotRecord(PY);
if (skip) t.comment(`skipping: ${skip}`);

const TINY = `import threading; t = threading.Thread(target=sum, args=(range(10),)); t.start(); t.join()`;
const WORKLOAD = ['sh', '-c', `for i in $(seq ${RUNS}); do ${PY} -c '${TINY}' & ls / >/dev/null; wait; done`];

/** Per Python process of a recording, how many of its threads hit take_gil, from perf script's lines. */
async function threadsWithHits(data: string): Promise<number[]> {
  const r = await execa('perf', ['script', '-i', data, '--show-task-events', '-F', 'comm,pid,tid,event'], { reject: false, maxBuffer: 1 << 28 });
  const pythons = new Map<number, Set<number>>();
  for (const line of String(r.stdout).split('\n')) {
    const exec = /PERF_RECORD_COMM exec: python:(\d+)\//.exec(line);
    if (exec) pythons.set(Number(exec[1]), pythons.get(Number(exec[1])) ?? new Set());
    const hit = /^\s*\S+\s+(\d+)\/(\d+)\s+\S*take_gil\S*:/.exec(line);
    if (hit) (pythons.get(Number(hit[1])) ?? pythons.set(Number(hit[1]), new Set()).get(Number(hit[1]))!).add(Number(hit[2]));
  }
  return [...pythons.values()].map((s) => s.size);
}

t.test('with the keeper, no Python started beside an ending process loses its probes', { skip }, async (t) => {
  await removeProbes();
  const add = await execa('perf', ['probe', '-q', '-x', LIB, '-a', `${GROUP}:take_gil=take_gil`], { reject: false });
  if (add.exitCode !== 0) return t.skip(`cannot add uprobes: ${add.stderr}`);
  const record = async (name: string): Promise<number[]> => {
    const data = join(tmp, `${name}.data`);
    const r = await execa('perf', ['record', '-q', '-o', data, '-e', `${GROUP}:take_gil`, '--', ...WORKLOAD], { reject: false, stdin: 'ignore' });
    t.equal(r.exitCode, 0, `perf record (${name})${r.exitCode === 0 ? "" : `: ${r.stderr}`}`);
    return threadsWithHits(data);
  };

  // What this kernel does without it: said, not asserted (a fixed kernel loses none).
  const bare = await record('bare');
  t.comment(`without the keeper: ${bare.filter((n) => n < 2).length} of ${bare.length} Pythons lost their probes' hits`);

  const keeper = await keepProbes(GROUP);
  let kept: number[];
  try {
    kept = await record('kept');
  } finally {
    await keeper.stop();
  }
  t.equal(kept.length, RUNS, `${RUNS} Pythons recorded`);
  t.same(kept, Array(RUNS).fill(2), 'every Python: both threads hit take_gil');
  t.equal((await removeProbes()).exitCode, 0, 'once stopped, the keeper holds nothing: the probes can be removed');
});

t.test('gil-record keeps its probes while it records, and lets go of them', { skip }, async (t) => {
  const data = join(tmp, 'gil-record.data');
  const r = await runBin('gil-record', ['--record-only', '--python', PY, '--perf-data', data, '--', ...WORKLOAD], { stdin: 'ignore' });
  t.equal(r.exitCode, 0, String(r.stderr));
  t.notMatch(String(r.stderr), /could not keep the probes/, 'the keeper started');
  t.notMatch(String(r.stderr), /could not remove probes/, 'and let go of the probes');
  const kept = await threadsWithHits(data);
  t.same(kept, Array(RUNS).fill(2), `all ${RUNS} Pythons: both threads hit take_gil`);
  const group = /probes: (gilrec_\d+):/.exec(String(r.stderr))?.[1];
  t.ok(group, 'it said its probes');
  const left = await execa('perf', ['probe', '-l'], { reject: false });
  t.notOk(String(left.stdout).includes(`${group}:`), 'none left behind');
});
