// The single executable (npm run sea) on a host without Node: built here in a
// temporary directory, then run with a PATH that holds only it, perf and a
// few coreutils (gil-record's watchdog uses env, cut, sleep). The same code as the Node commands, so the same input
// gives byte for byte the same output: the Node commands' output is the truth.
// Skips with the reason when esbuild or postject are not installed; gil-record
// runs live where perf and root are there.
import t from 'tap';
import { execa } from 'execa';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { which } from '../../lib/which.js';
import { PY, whyNotRecord } from '../helpers/recording.js';
import { bin, root } from '../helpers/run.js';

const fx = join(root, 'test/fixtures/');
const COMMANDS = ['perf-parse', 'gil-state', 'gil-stats', 'to-trace', 'merge-trace', 'gil-record'];

function whyNot(): string | false {
  for (const pkg of ['esbuild', 'postject']) {
    try {
      import.meta.resolve(pkg);
    } catch {
      return `${pkg} is not installed (npm ci installs the devDependencies)`;
    }
  }
  if (which('perf') === undefined) return 'perf is not on PATH';
  return false;
}
const skip = whyNot();
if (skip) t.comment(`skipping the single-executable tests: ${skip}`);

const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-sea-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
// The host: the executable, perf and what sh -c pipelines use, nothing else.
const bare = join(tmp, 'bare');
const env = { PATH: bare, HOME: tmp, LANG: 'C' };
const inBare = (cmd: string, opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  execa('sh', ['-c', cmd], { env: { ...env, ...opts.env }, extendEnv: false, cwd: opts.cwd ?? tmp, reject: false, stripFinalNewline: false, maxBuffer: 1 << 30 });
const withNode = (cmd: string) => execa('sh', ['-c', cmd], { cwd: tmp, reject: false, stripFinalNewline: false, maxBuffer: 1 << 30 });
const node = (name: string) => `node ${bin(name)}`;

t.before(async () => {
  if (skip) return;
  const started = Date.now();
  const built = await execa(process.execPath, [join(root, 'scripts/sea/build.mjs'), '--out', join(tmp, 'build')], { reject: false });
  if (built.exitCode !== 0) throw new Error(`npm run sea failed: ${built.stderr}`);
  t.comment(`built the single executable in ${((Date.now() - started) / 1000).toFixed(1)} s: ${String(built.stderr).trim()}`);
  mkdirSync(bare);
  renameSync(join(tmp, 'build/gilpipe'), join(bare, 'gilpipe'));
  for (const tool of ['sh', 'cat', 'env', 'cut', 'sleep', 'perf']) symlinkSync(which(tool)!, join(bare, tool));
});

t.test('no node on that PATH', { skip }, async (t) => {
  const r = await inBare('command -v node || echo none');
  t.equal(String(r.stdout).trim(), 'none');
  const v = await inBare('gilpipe --version');
  t.equal(String(v.stdout).trim(), JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version, 'the version of package.json, built in');
});

t.test('every command as a subcommand: the pipeline on a fixture, as the Node commands make it', { skip }, async (t) => {
  const capture = fx + 'gil_hog.perf.txt.gz';
  const pairs: Array<[string, string]> = [
    [`gilpipe perf-parse ${capture}`, `${node('perf-parse')} ${capture}`],
    [`gilpipe perf-parse ${capture} | gilpipe gil-state | gilpipe gil-stats --format json`, `${node('perf-parse')} ${capture} | ${node('gil-state')} | ${node('gil-stats')} --format json`],
    [`gilpipe state ${capture} | gilpipe to-trace`, `${node('gil-state')} ${capture} | ${node('to-trace')}`],
    [`gilpipe stats ${capture} --format csv`, `${node('gil-stats')} ${capture} --format csv`],
  ];
  for (const [sea, ours] of pairs) {
    const a = await inBare(sea);
    const b = await withNode(ours);
    t.equal(a.exitCode, 0, `${sea}: exit 0 ${String(a.stderr).slice(-300)}`);
    t.ok(String(a.stdout).length > 1000 && a.stdout === b.stdout, `${sea}: ${String(a.stdout).length} bytes, the same as the Node commands'`);
  }
  // perf.data through perf script: perf is the one outside program it runs.
  const data = join(tmp, 'two_cpu-short.perf.data');
  writeFileSync(data, gunzipSync(readFileSync(fx + 'two_cpu-short.perf.data.gz')));
  const a = await inBare(`gilpipe perf-parse -i ${data} | gilpipe gil-state`);
  const b = await withNode(`${node('perf-parse')} -i ${data} | ${node('gil-state')}`);
  t.equal(a.exitCode, 0, String(a.stderr));
  t.ok(String(a.stdout).length > 1000 && a.stdout === b.stdout, 'perf-parse -i perf.data | gil-state: the same');
  // Errors keep their messages and exit codes.
  const bad = await inBare('gilpipe gil-stats --top -1');
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /^gil-stats: --top wants a whole number/);
  t.notMatch(bad.stderr, /at .*\.js/, 'no stack trace');
  const full = await inBare(`gilpipe perf-parse ${capture} > /dev/full`);
  t.equal(full.exitCode, 1, 'a failed write: exit 1');
  t.equal(full.stderr, 'perf-parse: cannot write to stdout: no space left on the device\n', "said in the command's name, not gilpipe's");
  const none = await inBare('gilpipe');
  t.equal(none.exitCode, 2, 'no command: a usage error');
  t.match(none.stderr, /^Usage: gilpipe COMMAND/);
  const help = await inBare('gilpipe --help');
  t.equal(help.exitCode, 0);
  for (const name of COMMANDS) t.match(help.stdout, new RegExp(`^  ${name} `, 'm'), `--help names ${name}`);
  const unknown = await inBare('gilpipe parse');
  t.equal(unknown.exitCode, 2);
  t.match(unknown.stderr, /'parse' is not a command/);
});

t.test('install-links: each command by its own name, busybox style', { skip }, async (t) => {
  const r = await inBare(`gilpipe install-links ${bare}`);
  t.equal(r.exitCode, 0, String(r.stderr));
  for (const name of COMMANDS) t.equal(readlinkSync(join(bare, name)), join(bare, 'gilpipe'), `${name} -> gilpipe`);
  const again = await inBare(`gilpipe install-links ${bare}`);
  t.equal(again.exitCode, 0, 'a second time replaces its own links');
  writeFileSync(join(tmp, 'perf-parse'), 'not ours\n');
  const clash = await inBare(`gilpipe install-links ${tmp}`);
  t.equal(clash.exitCode, 2);
  t.match(clash.stderr, /perf-parse: exists and is not a link/);
  t.equal(readFileSync(join(tmp, 'perf-parse'), 'utf8'), 'not ours\n', 'a file that is not a link is left alone');

  const capture = fx + 'io_cpu.perf.txt.gz';
  const a = await inBare(`perf-parse ${capture} | gil-state | to-trace --format ndjson`);
  const b = await withNode(`${node('perf-parse')} ${capture} | ${node('gil-state')} | ${node('to-trace')} --format ndjson`);
  t.equal(a.exitCode, 0, String(a.stderr));
  t.ok(String(a.stdout).length > 1000 && a.stdout === b.stdout, 'perf-parse | gil-state | to-trace through the links: the same');
  const help = await inBare('gil-stats --help');
  t.match(help.stdout, /^gil-stats \[FILE\.\.\.\]/, "a link's --help is its command's");
  const completion = await inBare('perf-parse --get-yargs-completions perf-parse --');
  t.match(completion.stdout, /^--input$/m, 'completion through a link');
});

t.test('merge-trace: scans on worker threads, which run the bundle kept in the executable', { skip, timeout: 120_000 }, async (t) => {
  // Over merge-trace's 64 MiB, with two inputs: the scans go to worker threads.
  const files = ['a.json', 'b.json'].map((f) => join(tmp, f));
  for (const [k, f] of files.entries()) {
    const fd = openSync(f, 'w');
    writeSync(fd, '{"traceEvents": [\n');
    for (let chunk = 0; chunk < 40; chunk++) {
      const evs: string[] = [];
      for (let i = 0; i < 10_000; i++) {
        const ts = (chunk * 10_000 + i) * 10;
        evs.push(`{"pid": ${k + 1}, "tid": ${k + 1}, "ts": ${ts}, "ph": "X", "dur": 5, "name": "f${i % 97}", "cat": "FEE", "args": {"pad": "${'x'.repeat(40)}"}}`);
      }
      writeSync(fd, (chunk > 0 ? ',\n' : '') + evs.join(',\n'));
    }
    writeSync(fd, '\n]}\n');
    closeSync(fd);
  }
  const a = await inBare(`gilpipe merge-trace ${files.join(' ')} -o sea.json`);
  t.equal(a.exitCode, 0, String(a.stderr));
  const b = await withNode(`${node('merge-trace')} ${files.join(' ')} -o node.json`);
  t.equal(b.exitCode, 0, String(b.stderr));
  const merged = readFileSync(join(tmp, 'sea.json'));
  t.ok(merged.length > 64 << 20 && merged.equals(readFileSync(join(tmp, 'node.json'))), `${merged.length} bytes, the same as the Node command's`);
  // --shift: each input's events rewritten in pieces on worker threads too (merge-trace/write.ts).
  const c = await inBare(`gilpipe merge-trace --shift ${files[0]}=-2.5 ${files.join(' ')} -o sea.json`);
  t.equal(c.exitCode, 0, String(c.stderr));
  const d = await withNode(`${node('merge-trace')} --shift ${files[0]}=-2.5 ${files.join(' ')} -o node.json`);
  t.equal(d.exitCode, 0, String(d.stderr));
  const shifted = readFileSync(join(tmp, 'sea.json'));
  t.ok(!shifted.equals(merged) && shifted.equals(readFileSync(join(tmp, 'node.json'))), `--shift: ${shifted.length} bytes, the same as the Node command's`);
  const small = await inBare(`gilpipe merge-trace ${fx}viztracer/threads.json ${fx}viztracer/fib.json`);
  const smallNode = await withNode(`${node('merge-trace')} ${fx}viztracer/threads.json ${fx}viztracer/fib.json`);
  t.ok(small.exitCode === 0 && small.stdout === smallNode.stdout, 'two small traces, in process: the same');
  for (const f of [...files, join(tmp, 'sea.json'), join(tmp, 'node.json')]) rmSync(f, { force: true });
});

const noRecord = skip || (await whyNotRecord(PY));

t.test('gilpipe record: a live recording, with no node on PATH', { skip: noRecord, timeout: 120_000 }, async (t) => {
  const data = join(tmp, 'hog.data');
  const out = join(tmp, 'hog.json');
  const tf = join(tmp, 'hog.truth.json');
  const sub = execa(join(bare, 'gilpipe'), ['record', '--perf-data', data, '-o', out, '--', PY, join(root, 'examples/workloads/gil_hog.py'), '0.4'], {
    env: { ...env, GILPIPE_TRUTH: tf, PYTHONDONTWRITEBYTECODE: '1' },
    extendEnv: false,
    cwd: tmp,
    reject: false,
    stdin: 'ignore',
  });
  const r = await sub;
  t.equal(r.exitCode, 0, `exit 0 ${String(r.stderr).slice(-400)}`);
  const truth = JSON.parse(readFileSync(tf, 'utf8'));
  t.match(r.stdout, new RegExp(`\\b${truth.victim_tid}\\b`), 'the table lists the victim');
  t.match(r.stdout, new RegExp(`\\b${truth.hog_tid}\\b`), 'and the hog');
  const trace = JSON.parse(readFileSync(out, 'utf8'));
  t.ok(trace.traceEvents.some((e: { tid?: number; ph?: string }) => e.tid === truth.hog_tid && e.ph === 'X'), 'the trace has spans of the hog');
  const probes = await execa('perf', ['probe', '-l'], { reject: false });
  t.notMatch(String(probes.stdout), new RegExp(`gilrec_${sub.pid}:`), 'no probe of this run left behind');
  // The perf.data it kept, read by both builds: the same records.
  const a = await inBare(`gilpipe perf-parse -i ${data} | gilpipe gil-state`);
  const b = await withNode(`${node('perf-parse')} -i ${data} | ${node('gil-state')}`);
  t.ok(String(a.stdout).length > 1000 && a.stdout === b.stdout, 'its perf.data through perf-parse | gil-state: the same as the Node commands');
});
