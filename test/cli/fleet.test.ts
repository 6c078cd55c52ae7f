// The fleet batch recipes of examples/fleet/ on 8 real captures: the
// fixtures, copied under two host folders (host-a, host-b) of an archive. GNU
// parallel (-j2) and make -j2 give the same merged summary as a serial run,
// which is the Kubernetes Indexed Job's pod script run for each index in turn
// with its volumes as folders (and the reduce Job's script after it). The
// same pid on two hosts stays two processes, each with its own capture's
// figures; every note of a map step names its capture.
import t from 'tap';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parseAllDocuments } from 'yaml';
import { bin, root, runBin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fleet = join(root, 'examples/fleet');
const hasParallel = (await execa('parallel', ['--version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0;
const noParallel = hasParallel ? false : 'GNU parallel is not installed (Debian: apt-get install parallel; scripts/install-test-deps.sh)';

// Enough kinds for the merge to mean something (one process and two, lost
// events with their notes, a sleeper); more captures only repeat the work.
const FIXTURES = ['gil_hog', 'lost', 'sleeper', 'two_procs'];
const HOSTS = ['host-a', 'host-b'];

const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-fleet-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const archive = join(tmp, 'archive');
const list: string[] = [];
for (const h of HOSTS) {
  mkdirSync(join(archive, h), { recursive: true });
  for (const f of FIXTURES) {
    cpSync(fx + f + '.perf.txt.gz', join(archive, h, f + '.perf.txt.gz'));
    list.push(`${h}/${f}.perf.txt.gz`);
  }
}
list.sort();
const env = { ...process.env, PATH: process.env.PATH!.split(':').filter((p) => !/gilpipe|node_modules/.test(p)).join(':') };

const read = (f: string): any => JSON.parse(readFileSync(f, 'utf8'));

/** Runs each pod of the Indexed Job, then the reduce Job, as Kubernetes would: the serial run. */
async function kubernetes(out: string): Promise<void> {
  const [job] = parseAllDocuments(readFileSync(join(fleet, 'k8s/job.yaml'), 'utf8')).map((d) => d.toJS());
  const [reduce] = parseAllDocuments(readFileSync(join(fleet, 'k8s/reduce.yaml'), 'utf8')).map((d) => d.toJS());
  t.equal(job.spec.completionMode, 'Indexed');
  // The user sets completions to the lines of archives.txt (job.yaml says so), as here.
  t.type(job.spec.completions, 'number');
  const completions = list.length;
  const pod = job.spec.template.spec.containers[0];
  const podEnv = Object.fromEntries(pod.env.map((e: any) => [e.name, e.value]));
  const listFile = join(tmp, 'archives.txt');
  writeFileSync(listFile, list.join('\n') + '\n');
  const runPod = (i: number) =>
    execa(pod.command[0], [...pod.command.slice(1), pod.args[0]], {
      env: { ...env, ...podEnv, JOB_COMPLETION_INDEX: String(i), ARCHIVE_DIR: archive, SUMMARY_DIR: out, ARCHIVE_LIST: listFile, MAP_SH: join(fleet, 'map.sh') },
      reject: false,
    });
  for (let i = 0; i < completions; i++) {
    const r = await runPod(i);
    if (r.exitCode !== 0) throw new Error(`pod ${i}: ${r.stderr}`);
  }
  // completions set one too high: the extra pod fails, naming the list, and writes nothing.
  const extra = await runPod(completions);
  t.equal(extra.exitCode, 2);
  t.match(extra.stderr, `no line ${completions + 1} in ${listFile}`);
  const red = reduce.spec.template.spec.containers[0];
  const r = await execa(red.command[0], [...red.command.slice(1), red.args[0]], { env: { ...env, SUMMARY_DIR: out, GIL_STATS: `node ${bin('gil-stats')}` }, reject: false });
  if (r.exitCode !== 0) throw new Error(`reduce: ${r.stderr}`);
  t.match(r.stdout, /by host, 2 groups/, 'the reduce prints the table per host');
}

t.test('parallel -j2 and make -j2 over 8 labelled captures equal the serial run; same pids on two hosts stay apart', { skip: noParallel }, async (t) => {
  const serial = join(tmp, 'serial');
  await kubernetes(serial);
  const par = join(tmp, 'parallel');
  const p = await execa(join(fleet, 'parallel.sh'), [archive, par, 'service=api'], { env: { ...env, JOBS: '2' }, reject: false });
  t.equal(p.exitCode, 0, String(p.stderr));
  const mk = join(tmp, 'make');
  const m = await execa('make', ['-s', '-j2', '-f', join(fleet, 'Makefile'), `ARCHIVE=${archive}`, `OUT=${mk}`, 'LABELS=service=api'], { env, reject: false });
  t.equal(m.exitCode, 0, String(m.stderr));
  const want = read(join(serial, 'fleet.json'));
  t.same(read(join(par, 'fleet.json')), want, 'parallel = serial');
  t.same(read(join(mk, 'fleet.json')), want, 'make -j = serial');
  t.equal(want.captures, 2 * FIXTURES.length);
  t.equal(want.origins.length, 2 * FIXTURES.length);
  t.same([...new Set(want.origins.map((o: any) => o.host))].sort(), HOSTS);
  t.ok(want.origins.every((o: any) => o.labels.service === 'api'));

  // Each capture alone, for what its processes must say in the fleet.
  for (const f of FIXTURES) {
    const one = JSON.parse(String((await runBin('gil-stats', [fx + f + '.perf.txt.gz', '--format', 'json'])).stdout));
    for (const p of one.processes) {
      const same = want.processes.filter((q: any) => q.pid === p.pid && want.origins.find((o: any) => o.key === q.origin).source.endsWith(`/${f}.perf.txt.gz`));
      t.equal(same.length, 2, `${f}: pid ${p.pid} once per host`);
      for (const q of same) {
        t.equal(q.wall_ns, p.wall_ns, `${f}: pid ${p.pid}: its own wall time, not the sum of two hosts'`);
        t.equal(q.wait_ns, p.wait_ns);
        t.same(q.wait_hist, p.wait_hist);
      }
    }
  }
  // make -j and parallel mix the notes of their jobs: each names its capture.
  for (const [what, stderr] of [
    ['parallel', p.stderr],
    ['make', m.stderr],
  ] as const) {
    const notes = String(stderr)
      .split('\n')
      .filter((l) => l.startsWith('gil-stats:'));
    t.ok(notes.length >= 4, `${what}: the lost fixture's notes are there (${notes.length})`);
    for (const l of notes) t.match(l, new RegExp(`^gil-stats: ${archive}/host-[ab]/[^ ]+\\.perf\\.txt\\.gz: `), `${what}: ${l.slice(0, 80)}`);
  }
  const byHost = await runBin('gil-stats', ['--merge', join(par, 'fleet.json'), '--by', 'host', '--format', 'json']);
  const groups = JSON.parse(String(byHost.stdout)).groups;
  t.same(
    groups.map((g: any) => [g.key, g.captures]),
    [
      ['host-a', FIXTURES.length],
      ['host-b', FIXTURES.length],
    ],
  );
  t.same(groups[0].wait_hist, groups[1].wait_hist, 'the two hosts hold the same copies: the same histograms');
});

t.test('map.sh: a capture outside a host folder is a usage error; a failed step fails the batch and leaves no summary', { skip: noParallel }, async (t) => {
  const flat = join(tmp, 'flat');
  mkdirSync(flat);
  cpSync(fx + 'gil_hog.perf.txt.gz', join(flat, 'x.perf.txt.gz'));
  const r = await execa(join(fleet, 'map.sh'), [flat, join(flat, 'x.perf.txt.gz'), join(tmp, 'o')], { env, reject: false });
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /not in a HOST folder/);
  const bad = join(tmp, 'bad');
  mkdirSync(join(bad, 'h'), { recursive: true });
  writeFileSync(join(bad, 'h', 'broken.perf.txt'), '{"traceEvents": []}\n');
  const out = join(tmp, 'bad-out');
  const p = await execa(join(fleet, 'parallel.sh'), [bad, out], { env: { ...env, JOBS: '2' }, reject: false });
  t.not(p.exitCode, 0, 'the batch fails');
  t.match(p.stderr, /h\/broken\.perf\.txt/, 'naming the capture');
  t.equal((await execa('find', [out, '-name', '*.json'])).stdout, '', 'no summary, no fleet.json');
});
