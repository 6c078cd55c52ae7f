// Ctrl-C and SIGTERM, whatever the input is doing (a file, a live writer, a
// FIFO nobody writes): each command is gone within a second or so, exits
// 130 or 143, says its output is partial, and leaves an -o file complete or
// not at all, never a temp file.
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { once } from 'node:events';
import { bin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-signals-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const records = join(tmp, 'records.ndjson');
execFileSync('sh', ['-c', `node "$1" "$2" > "$3"`, 'sh', bin('perf-parse'), fx + 'gil_hog.perf.txt.gz', records]);

type Feed = 'fifo' | 'writer' | 'file';

/** A process's main thread: its state letter and the CPU ms used so far (utime + stime); undefined once it is gone. */
function cpuOf(pid: number): { state: string; ms: number } | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { state: fields[0]!, ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100 }; // 100 clock ticks a second
  } catch {
    return undefined;
  }
}

/** Some thread of the process is blocked opening a FIFO: the command's own code asked for its input. */
function openingFifo(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).some((tid) => readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8') === 'wait_for_partner');
  } catch {
    return false;
  }
}

/**
 * Waits until the command is past node's start-up and running its own code
 * (its signal handlers are set before it opens its input): a sign from its
 * input first (blocked opening the FIFO; the writer's records taken from the
 * pipe; some output written from a file), then asleep on it (no CPU for 150
 * ms), or busy reading (400 ms of CPU). A fixed sleep, or idleness alone, was not enough on a loaded
 * machine: the signal came before the command had started.
 */
async function started(pid: number, ready: () => boolean): Promise<void> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 400; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = cpuOf(pid);
    if (now === undefined) return;
    if (!ready()) continue;
    if (now.ms >= 400) return;
    // Asleep, not just waiting for a CPU on a busy machine.
    still = now.ms === last && now.state === 'S' ? still + 1 : 0;
    if (still >= 3) return;
    last = now.ms;
  }
}

/** Starts `cmd` on an input that is still open, signals it once it runs, and reports how it ended. */
async function signalled(cmd: string, args: string[], feed: Feed, sig: 'SIGINT' | 'SIGTERM', out?: string, file = records, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmp, 'run-'));
  let input = file;
  if (feed === 'fifo') {
    input = join(dir, 'fifo');
    execFileSync('mkfifo', [input]);
  }
  const child = spawn('node', [bin(cmd), ...(feed === 'writer' ? [] : [input]), ...args, ...(out ? ['-o', join(dir, out)] : [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: dir,
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  if (feed === 'writer') {
    // A live writer: part of the records now, then it stays open, writing nothing.
    child.stdin.write(readFileSync(file).subarray(0, 200_000));
  }
  // A file: it has written some of its output (to stdout, or its -o file beside the target).
  const wrote = (): boolean => stdout.length > 0 || readdirSync(dir).some((f) => f !== 'fifo');
  // A writer's records fit in the socket's buffer before the command reads any (node's stdio
  // pipes are socket pairs), so it is running its own code only once it has written something.
  const ready = feed === 'fifo' ? () => openingFifo(child.pid!) : feed === 'writer' ? () => child.stdin.writableLength === 0 && wrote() : wrote;
  await started(child.pid!, ready);
  const sent = Date.now();
  child.kill(sig);
  // Read to 'close', not just 'exit': the last of its stderr (the partial-output note) may come after it exits.
  const closed = once(child, 'close');
  const [exitCode, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  const took = Date.now() - sent;
  if (feed === 'writer') child.stdin.destroy();
  await closed;
  // What a shell reports: an exit code, or 128 + the signal that ended it.
  const code = exitCode ?? (signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : -1);
  const left = readdirSync(dir).filter((f) => f !== 'fifo');
  // Killed by the signal again: the deadline ended it, not its own exit.
  return { code, took, stdout, stderr, left, dir, exitedItself: exitCode !== null };
}

// Every signal with every kind of live input, -o given and not, spread over the commands.
const CASES = [
  ['perf-parse', 'fifo', 'SIGINT', 'out.ndjson'],
  ['gil-state', 'fifo', 'SIGTERM', undefined],
  ['gil-stats', 'writer', 'SIGINT', 'out.json'],
  ['gil-stats', 'fifo', 'SIGTERM', 'out.json'],
  ['to-trace', 'writer', 'SIGTERM', 'out.json'],
  ['gil-state', 'writer', 'SIGINT', undefined],
] as const;

for (const [cmd, feed, sig, out] of CASES) {
  t.test(`${cmd}, input a ${feed}, ${sig}, ${out ? '-o' : 'stdout'}`, async (t) => {
    const r = await signalled(cmd, cmd === 'gil-stats' ? ['--format', 'json'] : [], feed, sig, out);
    t.equal(r.code, sig === 'SIGINT' ? 130 : 143, `exit ${r.code}: ${r.stderr}`);
    t.ok(r.took < 2000, `gone ${r.took} ms after the signal`);
    // A FIFO nobody writes holds a thread in open(): only the deadline ends that. A pipe's end is the command's own.
    if (feed === 'writer') t.ok(r.exitedItself, `exited by itself within the grace, not killed at the deadline (${r.took} ms)`);
    t.notOk(r.left.some((f) => f.includes('.tmp-')), `no temp file left: ${r.left.join(' ')}`);
    const text = out && r.left.includes(out) ? readFileSync(join(r.dir, out), 'utf8') : out ? undefined : r.stdout;
    if (text !== undefined && text !== '') {
      // Complete: what was read, written whole.
      if (cmd === 'gil-stats') t.equal(JSON.parse(text).partial, true, 'the summary says it is partial');
      else if (cmd === 'to-trace') t.ok(Array.isArray(JSON.parse(text).traceEvents), 'the trace is whole JSON');
      else t.ok(text.endsWith('\n'), 'whole lines');
    }
    t.match(r.stderr, /(interrupted|terminated): the output holds what was read before/, 'it says the output is partial');
  });
}

t.test('a file input: Ctrl-C stops at once, and what was read is written whole', async (t) => {
  // perf script text big enough that parsing it outlasts the wait before the signal.
  const big = join(tmp, 'big.perf.txt');
  const one = execFileSync('zcat', [fx + 'lost.perf.txt.gz'], { maxBuffer: 1 << 28 });
  writeFileSync(big, Buffer.concat(Array.from({ length: 60 }, () => one)));
  const r = await signalled('perf-parse', [], 'file', 'SIGINT', 'out.ndjson', big);
  t.equal(r.code, 130, r.stderr);
  t.ok(r.took < 1500, `gone ${r.took} ms after the signal`);
  t.notOk(r.left.some((f) => f.includes('.tmp-')));
  t.ok(existsSync(join(r.dir, 'out.ndjson')), 'the output of what was read is there');
  t.ok(readFileSync(join(r.dir, 'out.ndjson'), 'utf8').endsWith('\n'), 'in whole lines');
  const term = await signalled('perf-parse', [], 'file', 'SIGTERM', undefined, big);
  t.equal(term.code, 143, 'SIGTERM, to stdout');
  t.ok(term.stdout.endsWith('\n'), 'whole lines on stdout');
});

t.test('a perf.data written to a file, on a stdin that stays open: Ctrl-C while it is copied ends the command, the copy removed', async (t) => {
  const data = join(tmp, 'file-mode.perf.data');
  writeFileSync(data, gunzipSync(readFileSync(fx + 'perfdata/file.perf.data.gz')));
  t.ok(readFileSync(data).length > 200_000, 'more than the writer sends: the copy is still under way');
  const own = mkdtempSync(join(tmp, 'tmpdir-'));
  const r = await signalled('gil-stats', ['--format', 'json'], 'writer', 'SIGINT', 'out.json', data, { TMPDIR: own });
  t.equal(r.code, 130, r.stderr);
  t.ok(r.took < 2000, `gone ${r.took} ms after the signal`);
  t.ok(r.exitedItself, `exited by itself, not killed at the deadline (${r.took} ms)`);
  t.match(r.stderr, /interrupted: the output holds what was read before/, 'it says the output is partial');
  t.same(readdirSync(own), [], 'no copy left');
});

t.test('FIFOs one writer fills in turn are read in turn', async (t) => {
  // Each stream input is looked at (perf.data or not) when the runner comes to it, not all of them at the start.
  const dir = mkdtempSync(join(tmp, 'fifos-'));
  const [a, b] = [join(dir, 'a'), join(dir, 'b')];
  execFileSync('mkfifo', [a, b]);
  // Two captures: the same one twice would be refused (a capture given twice).
  const other = join(dir, 'other.ndjson');
  execFileSync('sh', ['-c', `node "$1" "$2" > "$3"`, 'sh', bin('perf-parse'), fx + 'two_cpu-short.perf.txt.gz', other]);
  const child = spawn('sh', ['-c', 'cat "$1" > "$2"; cat "$4" > "$3"', 'sh', records, a, b, other], { stdio: 'ignore' });
  const r = spawn('node', [bin('gil-state'), a, b], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  r.stdout.on('data', (d) => (out += d));
  const timer = setTimeout(() => r.kill('SIGKILL'), 20_000);
  const [code] = (await once(r, 'exit')) as [number | null];
  clearTimeout(timer);
  child.kill();
  t.equal(code, 0, 'read both, in turn');
  t.ok(out.split('\n').filter((l) => l.includes('"type":"span"')).length > 10, 'and wrote their spans');
  t.equal(out.split('\n').filter((l) => l.includes('"type":"capture"')).length, 2, 'each a capture');
});

t.test('Ctrl-C after an input of which no line could be read: exit 130, the partial output, and that input named', async (t) => {
  const dir = mkdtempSync(join(tmp, 'unreadable-'));
  const log = join(dir, 'app.log');
  writeFileSync(log, 'INFO starting\n\nINFO ready\n');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const child = spawn('node', [bin('gil-stats'), '--format', 'json', log, fifo], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  // Past the log, blocked opening the FIFO.
  await started(child.pid!, () => openingFifo(child.pid!));
  const closed = once(child, 'close');
  child.kill('SIGINT');
  const [exitCode, signal] = (await closed) as [number | null, NodeJS.Signals | null];
  // What a shell reports: the exit code, or 128 + the signal it ended itself with.
  t.equal(exitCode ?? (signal === 'SIGINT' ? 130 : -1), 130, stderr);
  t.equal(JSON.parse(stdout).partial, true, 'the partial summary, as for any Ctrl-C');
  t.match(stderr, /app\.log: none of its 2 lines could be read \(first: \S*app\.log:1: /, 'the log named, its blank line not counted');
  t.notMatch(stderr, /skipped/, 'and not again as skipped lines');
});
