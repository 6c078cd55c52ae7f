// Running `perf record`: the event list, the run itself with Ctrl-C and
// SIGTERM handled so the caller can always clean up, perf's cryptic failures
// turned into a sentence saying what to do, and the program put under
// VizTracer when asked.
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { availableParallelism, constants } from 'node:os';
import type { Readable } from 'node:stream';
import { EXIT_DATA, EXIT_USAGE } from '../lib/errors.js';
import { PERF_PACKAGE_HINT } from '../lib/perf.js';
import { which } from '../lib/which.js';
import { RecordError } from './errors.js';

/** Scheduler tracepoints the pipeline's stages use (gil-state: switches, wakeups, forks, exits). */
export const SCHED_EVENTS = [
  'sched:sched_switch',
  'sched:sched_waking',
  'sched:sched_wakeup',
  'sched:sched_wakeup_new',
  'sched:sched_process_fork',
  'sched:sched_process_exit',
];

export interface RecordOptions {
  output: string;
  /** Probe events (`group:event`) to record beside the scheduler tracepoints. */
  probeEvents: string[];
  /** DWARF call chains on sched_switch only. */
  stacks: boolean;
  /** --py-stacks: DWARF call chains on the GIL probes' entries and on sched_switch. */
  pyStacks?: boolean;
  /** Attach to a running process instead of running a command. */
  pid?: number;
  /** With pid: how long, in seconds (else until Ctrl-C or the process exits). */
  durationS?: number;
  mmapPages?: string;
  command?: string[];
  /** Wake perf for every event, so a pipe reader sees it at once (--live), not when half a buffer is full. */
  noBuffering?: boolean;
}

/**
 * The `perf record` command line. `-k CLOCK_MONOTONIC` puts perf on the clock
 * VizTracer uses, so the traces line up. Stacks only on sched_switch: a
 * callchain on every probe hit makes perf lose events. --switch-events: the
 * moment a thread gets a CPU, which sched_switch cannot show in a per-process
 * recording when the task switched out is another process's (docs/events.md).
 */
export function recordArgs(o: RecordOptions): string[] {
  const args = ['record', '-k', 'CLOCK_MONOTONIC', '--switch-events', '-o', o.output];
  const switchStacks = o.stacks || o.pyStacks === true;
  for (const ev of SCHED_EVENTS) {
    args.push('-e', switchStacks && ev === 'sched:sched_switch' ? `${ev}/call-graph=dwarf/` : ev);
  }
  // A return probe's stack is its entry's: only entries get one (half the cost).
  for (const ev of o.probeEvents) args.push('-e', o.pyStacks === true && !/__return$/.test(ev) ? `${ev}/call-graph=dwarf/` : ev);
  if (o.mmapPages !== undefined) args.push('-m', o.mmapPages);
  if (o.noBuffering) args.push('--no-buffering');
  if (o.pid !== undefined) {
    args.push('-p', String(o.pid));
    if (o.durationS !== undefined) args.push('--', 'sleep', String(o.durationS));
  } else {
    args.push('--', ...(o.command ?? []));
  }
  return args;
}

/**
 * The command with SIGPIPE and SIGHUP back to their defaults, which perf's
 * ignoring them (runRecord) would otherwise pass on: a shell pipeline like
 * `yes | head` in the target must end as it does outside gil-record, and so
 * must the program when its terminal closes. Python ignores SIGPIPE itself
 * and restores it for its children. `env --default-signal` is coreutils 8.31
 * and later.
 */
export function withDefaultSignals(command: string[], hasEnvDefaultSignal = envDefaultSignal()): string[] {
  return hasEnvDefaultSignal && command.length > 0 ? ['env', '--default-signal=PIPE,HUP', ...command] : command;
}

/**
 * The command with gil-record's own stderr as its stderr. perf's stderr is a
 * pipe to gil-record (its messages are read and explained), and a program
 * inherits perf's: -q then hid the program's tracebacks too, and its stderr
 * was never a terminal. runRecord hands perf our stderr as fd 3; the program
 * takes it as its fd 2 and closes fd 3. Without an fd 3 it runs as before.
 */
export function withOwnStderr(command: string[]): string[] {
  return command.length > 0 ? ['sh', '-c', '[ -e /dev/fd/3 ] && exec 2>&3; exec 3>&-; exec "$@"', 'gil-record-program', ...command] : command;
}

let envDefaultSignalCache: boolean | undefined;
function envDefaultSignal(): boolean {
  envDefaultSignalCache ??= spawnSync('env', ['--default-signal=PIPE', 'true'], { stdio: 'ignore' }).status === 0;
  return envDefaultSignalCache;
}

/**
 * perf's ring buffer per CPU when the user names none. perf's own default
 * (512 KiB) lost 6 % of the events of a 3.6 s, 8-thread recording; 16 MiB
 * lost none. Many CPUs share 256 MiB: the memory is locked while perf runs.
 */
export function defaultMmapSize(cpus: number = availableParallelism()): string {
  return `${Math.max(1, Math.min(16, 2 ** Math.floor(Math.log2(256 / Math.max(1, cpus)))))}M`;
}

/** A `-m` value (pages, or a size with K, M, G) in bytes; undefined when perf would not take it either. */
export function mmapBytes(value: string): number | undefined {
  const m = /^(\d+)\s*([KMG]?)B?$/i.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2]!.toUpperCase();
  return unit === '' ? n * 4096 : n * 1024 ** (unit === 'K' ? 1 : unit === 'M' ? 2 : 3);
}

/** Four times the buffer `mmap` names (at least 16 MiB), as a `-m` value: a power of two, as perf requires. */
export function biggerMmap(mmap: string): string {
  const mib = Math.max(16, 2 ** Math.ceil(Math.log2(((mmapBytes(mmap) ?? 512 * 1024) * 4) / 2 ** 20)));
  return mib >= 1024 ? `${mib / 1024}G` : `${mib}M`;
}

/** A `-m` value as a person reads it: perf takes a bare number as pages, and rounds a count that is not a power of two up to one. */
export function mmapText(mmap: string): string {
  if (!/^\s*\d+\s*$/.test(mmap)) return mmap;
  const n = Number(mmap.trim());
  const pages = n > 0 ? 2 ** Math.ceil(Math.log2(n)) : n;
  const kib = ((pages * 4096) / 1024).toLocaleString('en-US');
  return pages === n ? `${n} pages (${kib} KiB)` : `${n} pages, which perf rounds up to ${pages} (${kib} KiB)`;
}

/** Above this share of events lost, a recording's figures are doubtful enough to say how to record again. */
export const LOST_WARN_FRACTION = 0.001;

/** What to tell the user when perf lost more than 0.1 % of the events: the share and the exact fix. */
export function lostAdvice(lost: number, kept: number, mmap: string): string | undefined {
  const total = lost + kept;
  if (lost <= 0 || total <= 0 || lost / total <= LOST_WARN_FRACTION) return undefined;
  const pct = (100 * lost) / total;
  return `WARNING: perf lost ${pct < 10 ? pct.toFixed(1) : Math.round(pct)}% of the events (${lost} of ${total}; the buffer was ${mmapText(mmap)} per CPU): record again with -m ${biggerMmap(mmap)}`;
}

export interface RecordResult {
  /** perf's exit code: with a command, the command's own exit status. */
  exitCode: number;
  /** The recording was written (perf said "Captured and wrote"). */
  wrote: boolean;
  /** What perf printed on stderr (the target's stderr is mixed in). */
  stderr: string;
  /** Stopped by Ctrl-C, SIGTERM or SIGHUP (the terminal closed). */
  signal?: 'SIGINT' | 'SIGTERM' | 'SIGHUP';
  /** SIGTERM or a second Ctrl-C: stop without making a trace. */
  aborted: boolean;
  /** perf's own warning about lost samples, if any. */
  lostWarning?: string;
}

/**
 * Runs perf record. The target's stdin/stdout are the user's; stderr goes
 * through us (forwarded as it comes) so perf's messages can be explained.
 * Ctrl-C stops the recording and perf writes what it has; a second Ctrl-C or
 * SIGTERM also stops it but marks the run aborted. Either way this returns
 * only once perf has exited, so the caller can remove the probes (perf holds
 * them open while it runs).
 */
export async function runRecord(
  args: string[],
  opts: { quiet?: boolean; env?: NodeJS.ProcessEnv; onStart?: (pid: number) => void; data?: (out: Readable) => void } = {},
): Promise<RecordResult> {
  if (which('perf') === undefined) throw new RecordError(`perf is not installed: ${PERF_PACKAGE_HINT}`, EXIT_USAGE);
  // perf ignores SIGPIPE (an ignored signal stays ignored across exec): if
  // gil-record is killed, perf's last message to our gone stderr must not kill
  // perf before it has written the perf.data header (record/watchdog.ts).
  // Run as plain `perf`: started by a full path, perf puts that directory
  // (/usr/bin) first on the program's PATH, and `python3` would no longer be
  // the user's (a pyenv shim, a venv) but the system's.
  // perf ignores SIGHUP too: a closed terminal hangs up the whole process
  // group, and perf dying of it left a perf.data without its header; the
  // program still gets it (withDefaultSignals) and gil-record stops perf.
  const sub = execa('sh', ['-c', 'trap "" PIPE HUP; exec perf "$@"', 'gil-record', ...args], {
    ...(opts.env !== undefined ? { env: opts.env, extendEnv: false } : {}),
    // With -o -, perf's stdout is the recording: read as it comes, never buffered whole.
    // fd 3: our stderr, the program's (withOwnStderr).
    stdio: ['inherit', opts.data !== undefined ? 'pipe' : 'inherit', 'pipe', 2],
    buffer: { stdout: false, stderr: false },
    reject: false,
  });
  if (sub.pid !== undefined) opts.onStart?.(sub.pid);
  if (opts.data !== undefined) opts.data(sub.stdout!);
  let tail = '';
  sub.stderr?.on('data', (chunk: Buffer) => {
    const s = chunk.toString('utf8');
    tail = (tail + s).slice(-65536);
    if (!opts.quiet) process.stderr.write(s);
  });
  let signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP' | undefined;
  let aborted = false;
  let killer: NodeJS.Timeout | undefined;
  const abort = (): void => {
    aborted = true;
    sub.kill('SIGTERM');
    killer ??= setTimeout(() => sub.kill('SIGKILL'), 5000);
  };
  const onInt = (): void => {
    if (signal !== undefined) return abort();
    signal = 'SIGINT';
    // From a terminal perf already got it (same process group); from `kill`
    // it did not. A second SIGINT to perf is harmless.
    sub.kill('SIGINT');
  };
  const onTerm = (): void => {
    signal = 'SIGTERM';
    abort();
  };
  const onHup = (): void => {
    signal = 'SIGHUP';
    abort();
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  try {
    const r = await sub;
    const exitCode = r.exitCode ?? (r.signal ? 128 + (constants.signals[r.signal] ?? 0) : EXIT_DATA);
    const out = outputOf(args);
    const wrote = /perf record: Captured and wrote/.test(tail) && existsSync(out) && statSync(out).size > 0;
    const lost = /Processed \d+ (?:samples|events) and lost [^\n]*/.exec(tail)?.[0];
    return { exitCode, wrote, stderr: tail, signal, aborted, lostWarning: lost };
  } finally {
    if (killer) clearTimeout(killer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
  }
}

function outputOf(args: string[]): string {
  const i = args.indexOf('-o');
  return i >= 0 ? args[i + 1]! : 'perf.data';
}

/** perf record failed before or while recording: a sentence for the user. */
export function explainRecordFailure(stderr: string): string {
  const s = stderr.trim();
  if (/perf_event_paranoid|Permission denied|Access to performance monitoring/i.test(s)) {
    const m = /perf_event_paranoid setting is (-?\d+)/.exec(s);
    return `perf was not allowed to record${m ? ` (kernel.perf_event_paranoid is ${m[1]})` : ''}: run gil-record with sudo, or: sudo sysctl kernel.perf_event_paranoid=-1`;
  }
  if (/unknown tracepoint|Can't access trace events|tracefs|debugfs/i.test(s)) {
    return `perf cannot read the tracepoints: is tracefs mounted (sudo mount -t tracefs nodev /sys/kernel/tracing) and readable? perf said: ${lastLines(s)}`;
  }
  if (/not linked with libtraceevent/i.test(s)) {
    return `this perf was built without libtraceevent and cannot record tracepoints: install your distribution's perf (${PERF_PACKAGE_HINT})`;
  }
  if (/No such process/i.test(s)) return 'the process is gone: it exited before perf could attach';
  if (/workload failed|Cannot run|No such file or directory/i.test(s)) {
    return `perf could not start the command: ${lastLines(s)}`;
  }
  return `perf record failed: ${lastLines(s) || '(no message)'}`;
}

function lastLines(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('[ perf record'))
    .slice(-3)
    .join(' ');
}

/** Inserts `-m viztracer -o FILE --` after the interpreter and its options: `python [-X opt] script.py args`. */
export function underViztracer(command: string[], output: string): string[] {
  const [py, ...rest] = command;
  const opts: string[] = [];
  let i = 0;
  while (i < rest.length && rest[i]!.startsWith('-') && rest[i] !== '-m' && rest[i] !== '-c') {
    const o = rest[i]!;
    opts.push(o);
    i++;
    if ((o === '-X' || o === '-W') && i < rest.length) opts.push(rest[i++]!);
  }
  const target = rest.slice(i);
  if (target[0] === '-c') throw new RecordError('--viztracer cannot trace `python -c CODE`: put the code in a file', EXIT_USAGE);
  if (target[0] === '-m') {
    // viztracer runs modules with its own --module option.
    return [py!, ...opts, '-m', 'viztracer', '-o', output, '--quiet', '--module', ...target.slice(1)];
  }
  return [py!, ...opts, '-m', 'viztracer', '-o', output, '--quiet', '--', ...target];
}

/** VizTracer importable by this interpreter? */
export async function viztracerAvailable(python: string): Promise<boolean> {
  const r = await execa(python, ['-c', 'import viztracer'], { reject: false, stdin: 'ignore' });
  return r.exitCode === 0;
}
