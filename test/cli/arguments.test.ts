// The argument contract every command shares (lib/cli.ts, lib/io.ts): what a
// user can get wrong on the command line is a usage error (exit 2) that says
// what, before any input is read; never an internal error, and never a run
// that stops early with exit 0.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin, runBin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const capture = fx + 'gil_hog.perf.txt.gz';
const vt = fx + 'viztracer/fib.json';
const tmp = mkdtempSync(join(tmpdir(), 'arguments-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const usage = (t: Tap.Test, r: { exitCode?: number; stderr: unknown; stdout: unknown }, message: RegExp) => {
  t.equal(r.exitCode, 2, 'exit 2');
  t.match(String(r.stderr), message);
  t.notMatch(String(r.stderr), /internal error|is not a function|TypeError|at .*\.js:\d+/, 'no internal error');
  t.equal(String(r.stdout), '', 'nothing written');
};

t.test('stdin given twice: refused by every command (the second - waited on an ended stream, and the output was cut with exit 0)', async (t) => {
  for (const cmd of ['perf-parse', 'gil-state', 'gil-stats', 'to-trace', 'merge-trace']) {
    const r = await runBin(cmd, ['-', '-'], { inputFile: cmd === 'merge-trace' ? vt : capture });
    t.test(cmd, async (t) => usage(t, r, /stdin \(-\) can be given only once/));
  }
});

t.test('an option of one value given twice: refused, naming it; options that repeat still do', async (t) => {
  const cases: Array<[string, string[], string]> = [
    ['perf-parse', [capture, '-o', join(tmp, 'a'), '-o', join(tmp, 'b')], '--output'],
    ['perf-parse', ['-i', 'a.data', '-i', 'b.data'], '--input'],
    ['gil-stats', [capture, '-f', 'json', '-f', 'csv'], '--format'],
    ['gil-stats', [capture, '--weight', 'wait', '--weight', 'blame', '-f', 'folded'], '--weight'],
    ['gil-stats', [capture, '--top', '3', '--top', '4'], '--top'],
    ['to-trace', [capture, '--families', 'gil', '--families', 'sched'], '--families'],
    ['to-trace', [capture, '--from', '1s', '--from', '2s'], '--from'],
    ['merge-trace', [vt, '-o', join(tmp, 'a'), '-o', join(tmp, 'b')], '--output'],
  ];
  for (const [cmd, args, name] of cases) {
    const r = await runBin(cmd, args);
    t.test(`${cmd} ${name} ${name}`, async (t) => usage(t, r, new RegExp(`${name} was given more than once: give it once`)));
  }
  t.same(readdirSync(tmp), [], 'no output file made');
  const labels = await runBin('gil-stats', [capture, '--label', 'a=1', '--label', 'b=2', '-f', 'json']);
  t.equal(labels.exitCode, 0, '--label repeats');
  t.same(JSON.parse(String(labels.stdout)).origins[0].labels, { a: '1', b: '2' });
  const pids = await runBin('to-trace', [capture, '--pid', '1', '--pid', '2', '--format', 'ndjson']);
  t.equal(pids.exitCode, 0, "to-trace's --pid repeats");
  const shifts = await runBin('merge-trace', ['fib.json', 'plain.json', '--shift', 'fib.json=1', '--shift', 'plain.json=2'], { cwd: fx + 'viztracer' });
  t.equal(shifts.exitCode, 0, "merge-trace's --shift repeats");
});

t.test('-o a directory, or empty: a usage error before the input is read', async (t) => {
  for (const [o, message] of [
    [tmp, /-o .*: is a directory \(-o wants a file\)/],
    ['', /-o wants a file name/],
  ] as const) {
    const r = await runBin('to-trace', [capture, '-o', o]);
    t.test(`-o '${o}'`, async (t) => usage(t, r, message));
  }
  t.same(readdirSync(tmp), [], 'and no temporary file left in it');
});

t.test('-o /dev/stdout into a pipe that closes: exit 0 and no message, as on stdout', async (t) => {
  for (const cmd of ['to-trace', 'perf-parse', 'merge-trace']) {
    const input = cmd === 'merge-trace' ? vt : capture;
    // The writer's own exit status, not the pipe's last command's.
    const r = await execa('bash', ['-c', 'node "$1" "$2" -o /dev/stdout | head -c 10 > /dev/null; echo "${PIPESTATUS[0]}"', 'bash', bin(cmd), input], { reject: false });
    t.equal(String(r.stdout).trim(), '0', `${cmd} exits 0`);
    t.equal(String(r.stderr), '', `${cmd}: no message`);
  }
});

t.test('perf-parse -i: an empty stdin is no recording (as an empty file is not); -i with text files is a usage error', async (t) => {
  const empty = await runBin('perf-parse', ['-i', '-'], { input: '' });
  t.equal(empty.exitCode, 1, 'exit 1');
  t.match(String(empty.stderr), /perf-parse: stdin: empty: no perf\.data header/);
  const both = await runBin('perf-parse', ['-i', 'x.data', 'a.txt']);
  usage(t, both, /give either -i perf\.data or text files, not both/);
});

t.test("to-trace --families '': a usage error, not a trace without states", async (t) => {
  usage(t, await runBin('to-trace', [capture, '--families', '']), /--families wants gil, sched or gil,sched/);
});

t.test('stderr into a pipe that closed (2>&1 | true): the run completes, exit 0, the output is written', async (t) => {
  // two_procs.default makes gil-stats say several things on stderr.
  const out = join(tmp, 'closed-stderr.json');
  const r = await execa('bash', ['-c', 'node "$1" "$2" -o "$3" 2>&1 >/dev/null | true; echo "${PIPESTATUS[0]}"', 'bash', bin('gil-stats'), fx + 'two_procs.default.perf.txt.gz', out], { reject: false });
  t.equal(String(r.stdout).trim(), '0', 'exit 0 (the write error on stderr was a stack trace and exit 1)');
  t.ok(JSON.parse(readFileSync(out, 'utf8')).threads.length > 0, 'and the summary is written');
  rmSync(out);
});
