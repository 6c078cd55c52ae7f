// Labelled summaries: where a summary came from (host, capture, labels), and
// processes of different hosts or captures kept apart through --merge; --by
// rolls them up with histograms added, so a group's percentiles are those of
// the union of its spans. The figures are checked against the spans
// themselves (counts, sums, exact percentiles) and against one run over the
// concatenated spans, never against what gil-stats printed before.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-labels-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

interface Span {
  type: string;
  family?: string;
  state?: string;
  dur: number;
  pid: number | null;
}

/** gil-state's records of a fixture, written to a file; and its spans. */
async function states(name: string): Promise<{ file: string; spans: Span[] }> {
  const r = await runBin('gil-state', [fx + name + '.perf.txt.gz']);
  if (r.exitCode !== 0) throw new Error(String(r.stderr));
  const file = join(tmp, name + '.states.ndjson');
  writeFileSync(file, String(r.stdout));
  const spans = String(r.stdout)
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Span)
    .filter((x) => x.type === 'span');
  return { file, spans };
}

async function summary(args: string[], out: string): Promise<void> {
  const r = await runBin('gil-stats', [...args, '-o', out]);
  if (r.exitCode !== 0) throw new Error(String(r.stderr));
}

async function json(args: string[]): Promise<any> {
  const r = await runBin('gil-stats', [...args, '--format', 'json']);
  if (r.exitCode !== 0) throw new Error(String(r.stderr));
  return JSON.parse(String(r.stdout));
}

/** The exact q-quantile of `xs` (the rank LogHistogram uses: ceil(q n)). */
function exact(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1]!;
}

const hog = await states('gil_hog');
const two = await states('two_cpu');
const io = await states('io_cpu');

t.test('the same pid on two hosts stays two processes through --merge; the summary says where each came from', async (t) => {
  const a = join(tmp, 'a.json');
  const b = join(tmp, 'b.json');
  await summary(['--label', 'host=host-a', hog.file], a);
  await summary(['--label', 'host=host-b', '--label', 'service=api', hog.file], b);
  const one = JSON.parse(readFileSync(a, 'utf8'));
  const merged = await json(['--merge', a, b]);
  const pids = hog.spans.map((s) => s.pid);
  const pid = pids[0];
  t.ok(pids.every((p) => p === pid), 'the capture holds one process');
  t.equal(merged.processes.length, 2, 'pid ' + pid + ' of host-a and of host-b: two processes');
  t.same(
    merged.processes.map((p: any) => p.pid),
    [pid, pid],
  );
  const hosts = merged.processes.map((p: any) => merged.origins.find((o: any) => o.key === p.origin).host).sort();
  t.same(hosts, ['host-a', 'host-b']);
  for (const p of merged.processes) t.equal(p.wall_ns, one.processes[0].wall_ns, 'wall time not doubled');
  const waitSum = hog.spans.filter((s) => s.family === 'gil' && s.state === 'wait').reduce((n, s) => n + s.dur, 0);
  for (const p of merged.processes) t.equal(p.wait_ns, waitSum, 'each process has the wait of its spans');
  t.equal(merged.threads.length, 2 * one.threads.length, 'threads of the two hosts apart too');
  const ob = merged.origins.find((o: any) => o.host === 'host-b');
  t.same(ob.labels, { service: 'api' });
  t.equal(ob.source, hog.file);
  const capture = JSON.parse(String((await runBin('gil-state', [fx + 'gil_hog.perf.txt.gz'])).stdout).trimEnd().split('\n').pop()!);
  t.equal(ob.capture, capture.id, "the origin's capture is gil-state's capture id");
  t.equal(ob.first_ts, capture.first_ts);
  t.equal(ob.last_ts, capture.last_ts);
  const table = await runBin('gil-stats', ['--merge', a, b, '--format', 'table']);
  t.match(String(table.stdout), new RegExp(`Process ${pid} \\(python\\), host host-a, capture ${capture.id}`));
  t.match(String(table.stdout), new RegExp(`Process ${pid} \\(python\\), host host-b, capture ${capture.id}, service=api`));
  const twice = await runBin('gil-stats', ['--merge', a, a]);
  t.equal(twice.exitCode, 1, 'the same capture of the same host twice is refused');
  t.match(String(twice.stderr), /hold the same capture/);
});

t.test('--by host and --by label:service: exact sums and the percentiles of the union', async (t) => {
  const files = [join(tmp, 'h1.json'), join(tmp, 'h2.json'), join(tmp, 'h3.json')];
  await summary(['--label', 'host=h1', '--label', 'service=api', hog.file], files[0]!);
  await summary(['--label', 'host=h2', '--label', 'service=api', two.file], files[1]!);
  await summary(['--label', 'host=h2', '--label', 'service=web', io.file], files[2]!);
  const byHost = await json(['--merge', ...files, '--by', 'host']);
  const bySvc = await json(['--merge', ...files, '--by', 'label:service']);
  t.equal(byHost.type, 'gil_stats_rollup');
  t.same(
    byHost.groups.map((g: any) => [g.key, g.captures, g.processes]),
    [
      ['h1', 1, 1],
      ['h2', 2, 2],
    ],
  );
  const groups: Array<[any, Span[]]> = [
    [byHost.groups[0], hog.spans],
    [byHost.groups[1], [...two.spans, ...io.spans]],
    [bySvc.groups.find((g: any) => g.key === 'api'), [...hog.spans, ...two.spans]],
    [bySvc.groups.find((g: any) => g.key === 'web'), io.spans],
  ];
  for (const [g, spans] of groups) {
    for (const state of ['wait', 'hold'] as const) {
      const durs = spans.filter((s) => s.family === 'gil' && s.state === state).map((s) => s.dur);
      t.equal(g[`${state}_hist`].count, durs.length, `${g.key}: ${state} count = its spans`);
      t.equal(g[`${state}_ns`], durs.reduce((n, d) => n + d, 0), `${g.key}: ${state} sum = its spans`);
      t.equal(g.derived[`${state}_max_ns`], Math.max(...durs));
      for (const q of state === 'wait' ? [0.5, 0.9, 0.99] : [0.5, 0.99]) {
        const p = g.derived[`${state}_p${Math.round(q * 100)}_ns`];
        const x = exact(durs, q);
        // A log bucket is 9.05% wide; its geometric middle is within 4.4% of anything in it.
        t.ok(Math.abs(p - x) <= 0.0445 * x, `${g.key}: ${state} p${q * 100} ${p} is the union's (${x} exact)`);
      }
    }
  }
  // One run over the concatenated spans of the api service, labelled once, says the same.
  const together = await json(['--label', 'service=api', hog.file, two.file, '--by', 'label:service']);
  const api = bySvc.groups.find((g: any) => g.key === 'api');
  t.same(together.groups[0], api, 'the merged group = one run over the concatenated spans');
});

t.test('--by comm and thread-name group processes and threads by name; bad --by and --label are usage errors', async (t) => {
  const a = join(tmp, 'c1.json');
  const b = join(tmp, 'c2.json');
  await summary(['--label', 'host=x', hog.file], a);
  await summary(['--label', 'host=y', two.file], b);
  const s = await json(['--merge', a, b]);
  const byThread = await json(['--merge', a, b, '--by', 'thread-name']);
  const names = [...new Set(s.threads.map((x: any) => x.comm))].sort();
  t.same(
    byThread.groups.map((g: any) => g.key),
    names,
  );
  for (const g of byThread.groups) {
    const mine = s.threads.filter((x: any) => x.comm === g.key);
    t.equal(g.threads, mine.length);
    t.equal(g.wait_ns, mine.reduce((n: number, x: any) => n + x.wait_ns, 0));
    t.equal(g.time_ns, mine.reduce((n: number, x: any) => n + x.total_ns, 0));
    t.ok(g.derived.held_pct >= 0 && g.derived.held_pct <= 100);
  }
  const byComm = await json(['--merge', a, b, '--by', 'comm']);
  t.equal(byComm.groups.reduce((n: number, g: any) => n + g.processes, 0), s.processes.length);
  const table = await runBin('gil-stats', ['--merge', a, b, '--by', 'host', '--format', 'table']);
  t.match(String(table.stdout), /by host, 2 groups/);
  for (const [args, re] of [
    [['--by', 'nothing', hog.file], /--by wants host, label:KEY, comm or thread-name/],
    [['--label', 'no-equals', hog.file], /--label wants KEY=VALUE/],
    [['--label', '1x=y', hog.file], /--label wants KEY=VALUE/],
    [['--label', 'a=1', '--label', 'a=2', hog.file], /--label a given twice/],
    [['--merge', a, '--label', 'host=z'], /--label labels a summary when it is made/],
  ] as Array<[string[], RegExp]>) {
    const r = await runBin('gil-stats', args);
    t.equal(r.exitCode, 2, args.join(' '));
    t.match(String(r.stderr), re);
  }
});

t.test('thread names in a rollup are escaped for the terminal, kept exact in JSON', async (t) => {
  const hostile = await states('comm_names-hostile');
  const byThread = await json([hostile.file, '--by', 'thread-name']);
  const table = await runBin('gil-stats', [hostile.file, '--by', 'thread-name', '--format', 'table']);
  t.ok(byThread.groups.some((g: any) => /[\x00-\x1f\x7f]/.test(g.key ?? '')), 'JSON keeps the control characters of a name');
  t.notMatch(String(table.stdout), /[\x00-\x09\x0b-\x1f\x7f]/, 'the table has none');
});

t.test('one recording twice is refused however it is labelled; bad label and format choices are usage errors before reading', async (t) => {
  const cap = fx + 'gil_hog.perf.txt.gz';
  const a = join(tmp, 'plain.json');
  const b = join(tmp, 'relabelled.json');
  t.equal((await runBin('gil-stats', [cap, '-o', a])).exitCode, 0);
  t.equal((await runBin('gil-stats', ['--label', 'host=web-1', cap, '-o', b])).exitCode, 0);
  const twice = await runBin('gil-stats', ['--merge', a, b, '--by', 'comm']);
  t.equal(twice.exitCode, 1, 'a summary without a host and one of the same capture labelled web-1: the same recording');
  t.match(twice.stderr, /hold the same capture \(id [0-9a-f]{16}\); give each capture once/, 'named by the capture id');
  const folded = join(tmp, 'm.folded');
  const f = await runBin('gil-stats', ['--merge', a, '-o', folded]);
  t.equal(f.exitCode, 2, '-o FILE.folded from summaries: a usage error, as --format folded is');
  t.match(f.stderr, /need the recordings/);
  t.same(readFileSyncOrNull(folded), null, 'and no file is written');
  const empty = await runBin('gil-stats', ['--label', 'host=', cap]);
  t.equal(empty.exitCode, 2);
  t.match(empty.stderr, /--label host= has no value/);
  const by = await runBin('gil-stats', ['--by', 'host', '--format', 'openmetrics', '/nonexistent.perf.txt']);
  t.equal(by.exitCode, 2);
  t.match(by.stderr, /--by writes table, json, ndjson, csv or markdown, not openmetrics/, 'refused before the input is opened');
});

function readFileSyncOrNull(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}
