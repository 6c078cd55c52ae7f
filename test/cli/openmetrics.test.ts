// gil-stats --format openmetrics is read by the tools that consume it:
// promtool check metrics (Debian's prometheus package) lints it, and
// prometheus_client's OpenMetrics parser (python3-prometheus-client) parses
// it, for every fixture. The bucket counts are checked against the spans
// themselves: at each `le`, the waits (holds) of the process no longer than it.
import t from 'tap';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runBin } from '../helpers/run.js';
import { pipeline } from '../helpers/in-process.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-openmetrics-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

// Debian's python3 has the packaged module; pyenv's interpreters on PATH do not.
const PYTHON = '/usr/bin/python3';
const hasPromtool = (await execa('promtool', ['--version'], { reject: false })).exitCode === 0;
const hasParser = (await execa(PYTHON, ['-c', 'import prometheus_client.openmetrics.parser'], { reject: false })).exitCode === 0;
const noPromtool = hasPromtool ? false : 'promtool is not installed (Debian: apt-get install prometheus; scripts/install-test-deps.sh)';
const noParser = hasParser ? false : `${PYTHON} has no prometheus_client (Debian: apt-get install python3-prometheus-client; scripts/install-test-deps.sh)`;

// The parser's view of the text: every sample, as JSON.
const PARSE = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "type": f.type, "unit": f.unit, "help": f.documentation, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;

// The same for a JSON list of texts: a list of sample lists (or the error, as text).
const PARSE_ALL = `
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
res = []
for text in json.load(sys.stdin):
    try:
        out = []
        for f in text_string_to_metric_families(text):
            for s in f.samples:
                out.append({"family": f.name, "type": f.type, "unit": f.unit, "help": f.documentation, "name": s.name, "labels": s.labels, "value": s.value})
        res.append(out)
    except Exception as e:
        res.append(repr(e))
print(json.dumps(res))
`;

interface Sample {
  family: string;
  type: string;
  unit: string;
  help: string;
  name: string;
  labels: Record<string, string>;
  value: number;
}

const fixtures = readdirSync(fx)
  .filter((f) => f.endsWith('.perf.txt.gz'))
  .sort();

t.test('promtool and the OpenMetrics parser accept every fixture; bucket counts are the spans at or under each bound', async (t) => {
  const made: Array<{ name: string; states: string; text: string }> = [];
  for (const name of fixtures) {
    // The spans come from gil-state's filters in this process (one process
    // less per fixture); gil-stats, given the capture, runs them itself.
    const { ndjson } = await pipeline(fx + name);
    const r = await runBin('gil-stats', [fx + name, '--format', 'openmetrics']);
    t.equal(r.exitCode, 0, `${name}: ${r.stderr}`);
    const text = String(r.stdout);
    t.ok(text.endsWith('# EOF\n'), `${name}: ends with # EOF`);
    if (hasPromtool) {
      const lint = await execa('promtool', ['check', 'metrics'], { input: text, reject: false });
      t.equal(lint.exitCode, 0, `${name}: promtool check metrics: ${lint.stdout}${lint.stderr}`);
    }
    made.push({ name, states: ndjson, text });
  }
  if (!hasParser) return;
  // One parser process for every fixture's text (a Python start with the module costs more than a parse).
  const parsedAll = await execa(PYTHON, ['-c', PARSE_ALL], { input: JSON.stringify(made.map((m) => m.text)), reject: false });
  t.equal(parsedAll.exitCode, 0, `the OpenMetrics parser: ${parsedAll.stderr}`);
  if (parsedAll.exitCode !== 0) return;
  const results = JSON.parse(parsedAll.stdout) as Array<Sample[] | string>;
  for (const [i, { name, states }] of made.entries()) {
    const samples = results[i]!;
    if (typeof samples === 'string') {
      t.fail(`${name}: the OpenMetrics parser: ${samples}`);
      continue;
    }
    for (const s of new Map(samples.map((s) => [s.family, s])).values()) {
      t.ok(s.help.length > 0, `${name}: ${s.family} has HELP`);
      if (s.family.endsWith('_seconds')) t.equal(s.unit, 'seconds', `${name}: ${s.family} has its unit`);
    }
    // The spans of each process, by state, as gil-state wrote them.
    const durs = new Map<string, number[]>();
    for (const line of states.trimEnd().split('\n')) {
      const x = JSON.parse(line);
      if (x.type !== 'span' || x.family !== 'gil') continue;
      const k = `${x.pid}:${x.state}`;
      const list = durs.get(k);
      if (list === undefined) durs.set(k, [x.dur]);
      else list.push(x.dur);
    }
    let checked = 0;
    for (const s of samples) {
      if (s.name !== 'gilpipe_gil_wait_seconds_bucket' && s.name !== 'gilpipe_gil_hold_seconds_bucket') continue;
      const state = s.name.includes('wait') ? 'wait' : 'hold';
      const all = durs.get(`${s.labels.pid === 'unknown' ? null : s.labels.pid}:${state}`) ?? [];
      const le = s.labels.le === '+Inf' ? Infinity : Math.round(Number(s.labels.le) * 1e9);
      t.equal(s.value, all.filter((d) => d <= le).length, `${name}: pid ${s.labels.pid} ${state} le=${s.labels.le}`);
      checked++;
    }
    // Each process with GIL spans has its two histograms, 15 bounds each and +Inf.
    const withGil = new Set([...durs.keys()].map((k) => k.split(':')[0])).size;
    t.ok(checked >= withGil * 30, `${name}: every bucket of every process with GIL data checked (${checked})`);
  }
});

t.test('labels: host, the user labels, pid, comm; threads beyond the top N by wait fold into "other"; names escaped', { skip: noParser }, async (t) => {
  const states = join(tmp, 'comm_names-hostile.perf.txt.gz.ndjson');
  writeFileSync(states, String((await runBin('gil-state', [fx + 'comm_names-hostile.perf.txt.gz'])).stdout));
  const json = JSON.parse(String((await runBin('gil-stats', [states, '--format', 'json'])).stdout));
  const r = await runBin('gil-stats', [states, '--format', 'openmetrics', '--top', '3', '--label', 'host=web-1', '--label', 'service=api']);
  t.equal(r.exitCode, 0, String(r.stderr));
  if (hasPromtool) t.equal((await execa('promtool', ['check', 'metrics'], { input: String(r.stdout), reject: false })).exitCode, 0, 'promtool accepts the hostile names');
  const parsed = await execa(PYTHON, ['-c', PARSE], { input: String(r.stdout), reject: false });
  t.equal(parsed.exitCode, 0, String(parsed.stderr));
  const samples = JSON.parse(parsed.stdout) as Sample[];
  const waits = samples.filter((s) => s.name === 'gilpipe_thread_gil_wait_seconds');
  for (const s of samples) {
    t.equal(s.labels.host, 'web-1');
    t.equal(s.labels.service, 'api');
    for (const v of Object.values(s.labels)) t.notMatch(v, /[\x00-\x1f\x7f]/, 'no control character reaches a label value');
  }
  for (const p of json.processes.filter((p: any) => p.gil)) {
    const mine = waits.filter((s) => s.labels.pid === String(p.pid));
    const names = new Set(json.threads.filter((x: any) => x.pid === p.pid).map((x: any) => x.comm));
    t.ok(mine.length <= 4, `pid ${p.pid}: at most 3 thread names and other (${mine.length})`);
    if (names.size > 3) t.ok(mine.some((s) => s.labels.thread === 'other'), `pid ${p.pid}: the rest is "other"`);
    const total = json.threads.filter((x: any) => x.pid === p.pid).reduce((n: number, x: any) => n + x.wait_ns, 0);
    const sum = mine.reduce((n, s) => n + s.value, 0);
    t.ok(Math.abs(sum - total / 1e9) < 1e-6, `pid ${p.pid}: the thread waits add up to the threads' wait, folded or not`);
  }
});

t.test('promtool is there to check (skips say why)', { skip: noPromtool }, async (t) => {
  const bad = await execa('promtool', ['check', 'metrics'], { input: '# TYPE x counter\nx_total{a="1"} 1\n# EOF\n', reject: false });
  t.not(bad.exitCode, 0, 'promtool rejects what it should (a family without HELP): the check above can fail');
});
