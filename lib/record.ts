// Running `perf record` for gil-record: the checks that turn perf's cryptic
// failures into a sentence saying what to do, the event list, and the run
// itself with Ctrl-C and SIGTERM handled so the caller can always clean up.
import { execa, type ResultPromise } from 'execa';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { PERF_PACKAGE_HINT } from './perf.js';
import { RecordError, which } from './probes.js';

/** Scheduler tracepoints the pipeline's stages use (gil-state: switches, wakeups, forks, exits). */
export const SCHED_EVENTS = [
  'sched:sched_switch',
  'sched:sched_waking',
  'sched:sched_wakeup',
  'sched:sched_wakeup_new',
  'sched:sched_process_fork',
  'sched:sched_process_exit',
];

export interface System {
  uid: number;
  /** kernel.perf_event_paranoid, when readable. */
  paranoid?: number;
  /** The tracefs directory with `events/`, when mounted. */
  tracefs?: string;
  /** tracefs has uprobe_events (CONFIG_UPROBE_EVENTS). */
  uprobes: boolean;
  /** `perf` found on PATH. */
  perf?: string;
}

export function probeSystem(env: NodeJS.ProcessEnv = process.env): System {
  let paranoid: number | undefined;
  try {
    paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim());
  } catch {
    paranoid = undefined;
  }
  const tracefs = tracefsMount() ?? ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((d) => existsSync(`${d}/events`));
  return {
    uid: process.getuid?.() ?? 0,
    paranoid,
    tracefs,
    uprobes: tracefs !== undefined && existsSync(`${tracefs}/uprobe_events`),
    perf: which('perf', env),
  };
}

/** Where tracefs is mounted, from /proc/mounts (readable by anyone, unlike tracefs itself). */
export function tracefsMount(mounts?: string): string | undefined {
  let text = mounts;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/mounts', 'utf8');
    } catch {
      return undefined;
    }
  }
  let viaDebugfs: string | undefined;
  for (const line of text.split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'tracefs' && dir) return dir;
    if (type === 'debugfs' && dir) viaDebugfs = `${dir}/tracing`;
  }
  return viaDebugfs;
}

/**
 * Everything that stands between this system and a recording, as messages
 * that say what to do. Empty when all is well.
 */
export function preflight(sys: System, needProbes: boolean): string[] {
  const problems: string[] = [];
  if (sys.perf === undefined) {
    problems.push(`perf is not installed: ${PERF_PACKAGE_HINT}`);
    return problems;
  }
  if (sys.uid !== 0) {
    if (needProbes) {
      problems.push(
        'adding uprobes on take_gil/drop_gil needs root: run gil-record with sudo (or record scheduler events only with --no-probes)',
      );
    } else if (sys.paranoid === undefined || sys.paranoid > -1) {
      problems.push(
        `not root and kernel.perf_event_paranoid is ${sys.paranoid ?? 'unknown'}: scheduler tracepoints need root or a setting of -1. ` +
          'Run gil-record with sudo, or allow it for everyone until the next reboot: sudo sysctl kernel.perf_event_paranoid=-1 ' +
          '(and let users read tracefs: sudo chmod -R a+rX /sys/kernel/tracing)',
      );
    }
  }
  if (sys.tracefs === undefined) {
    problems.push('tracefs is not mounted, so perf cannot find the scheduler tracepoints: sudo mount -t tracefs nodev /sys/kernel/tracing');
  } else if (needProbes && !sys.uprobes && sys.uid === 0) {
    // (only root can look inside tracefs; others were told to use sudo above)
    problems.push(
      `this kernel has no uprobe events (${sys.tracefs}/uprobe_events is missing: CONFIG_UPROBE_EVENTS is off), so take_gil cannot be probed. Record scheduler events only with --no-probes`,
    );
  }
  return problems;
}

/** The Debian perf wrapper exits non-zero when the kernel's linux-perf package is missing. */
export async function checkPerfRuns(): Promise<void> {
  const r = await execa('perf', ['--version'], { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) {
    const said = String(r.stderr ?? r.stdout ?? '').trim().split('\n')[0];
    throw new RecordError(`perf does not run${said ? ` (${said})` : ''}: ${PERF_PACKAGE_HINT}`, 2);
  }
}

export interface RecordOptions {
  output: string;
  /** Probe events (`group:event`) to record beside the scheduler tracepoints. */
  probeEvents: string[];
  /** DWARF call chains on sched_switch only. */
  stacks: boolean;
  /** Attach to a running process instead of running a command. */
  pid?: number;
  /** With pid: how long, in seconds (else until Ctrl-C or the process exits). */
  durationS?: number;
  mmapPages?: string;
  command?: string[];
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
  for (const ev of SCHED_EVENTS) {
    args.push('-e', o.stacks && ev === 'sched:sched_switch' ? `${ev}/call-graph=dwarf/` : ev);
  }
  for (const ev of o.probeEvents) args.push('-e', ev);
  if (o.mmapPages !== undefined) args.push('-m', o.mmapPages);
  if (o.pid !== undefined) {
    args.push('-p', String(o.pid));
    if (o.durationS !== undefined) args.push('--', 'sleep', String(o.durationS));
  } else {
    args.push('--', ...(o.command ?? []));
  }
  return args;
}

export interface RecordResult {
  /** perf's exit code: with a command, the command's own exit status. */
  exitCode: number;
  /** The recording was written (perf said "Captured and wrote"). */
  wrote: boolean;
  /** What perf printed on stderr (the target's stderr is mixed in). */
  stderr: string;
  /** Stopped by Ctrl-C or SIGTERM. */
  signal?: 'SIGINT' | 'SIGTERM';
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
export async function runRecord(args: string[], opts: { quiet?: boolean } = {}): Promise<RecordResult> {
  const sub: ResultPromise = execa('perf', args, {
    stdin: 'inherit',
    stdout: 'inherit',
    stderr: 'pipe',
    buffer: { stderr: false },
    reject: false,
  });
  let tail = '';
  sub.stderr?.on('data', (chunk: Buffer) => {
    const s = chunk.toString('utf8');
    tail = (tail + s).slice(-65536);
    if (!opts.quiet) process.stderr.write(s);
  });
  let signal: 'SIGINT' | 'SIGTERM' | undefined;
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
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const r = await sub;
    if ((r as { code?: string }).code === 'ENOENT') throw new RecordError(`perf is not installed: ${PERF_PACKAGE_HINT}`, 2);
    const exitCode = r.exitCode ?? (r.signal ? 128 + signalNumber(r.signal) : 1);
    const out = outputOf(args);
    const wrote = /perf record: Captured and wrote/.test(tail) && existsSync(out) && statSync(out).size > 0;
    const lost = /Processed \d+ (?:samples|events) and lost [^\n]*/.exec(tail)?.[0];
    return { exitCode, wrote, stderr: tail, signal, aborted, lostWarning: lost };
  } finally {
    if (killer) clearTimeout(killer);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

function outputOf(args: string[]): string {
  const i = args.indexOf('-o');
  return i >= 0 ? args[i + 1]! : 'perf.data';
}

function signalNumber(sig: string): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 } as Record<string, number>)[sig] ?? 0;
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
  if (target[0] === '-c') throw new RecordError('--viztracer cannot trace `python -c CODE`: put the code in a file', 2);
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

/** dist/bin, where the compiled stage commands sit beside gil-record. */
export const STAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin');

export interface PipelineOptions {
  perfData: string;
  /** The trace to write. */
  output: string;
  /** Keep gil-state's output here (for jq recipes); else it lives in a temp dir. */
  states?: string;
  /** A VizTracer JSON to merge in. */
  viztracer?: string;
  say: (msg: string) => void;
  /** Where the stage commands are (default: beside this file's bin/). */
  stageDir?: string;
  /** Where the gil-stats table goes (default: our stdout). */
  statsTo?: 'inherit' | 'pipe';
}

/**
 * perf-parse -i perf.data | gil-state > gil.ndjson; to-trace gil.ndjson -o TRACE;
 * gil-stats gil.ndjson (the table on stdout); merge-trace with VizTracer's
 * file when there is one. Each stage is the same compiled command a user
 * runs, so what gil-record does is exactly the pipeline the README shows.
 */
export async function runPipeline(o: PipelineOptions): Promise<{ lost: number; trace: string; stats?: string }> {
  const dir = o.stageDir ?? STAGE_DIR;
  const stage = (name: string): string => {
    const p = join(dir, `${name}.js`);
    if (!existsSync(p)) {
      throw new RecordError(
        `the ${name} stage is not there (${p} is missing: run npm run build); ${o.perfData} is kept, so once it is: perf-parse -i ${o.perfData} | gil-state | to-trace -o ${o.output}`,
      );
    }
    return p;
  };
  const stages = ['perf-parse', 'gil-state', 'to-trace', 'gil-stats', ...(o.viztracer ? ['merge-trace'] : [])].map(stage);
  const [parseJs, stateJs, traceJs, statsJs, mergeJs] = stages as [string, string, string, string, string | undefined];
  const tmp = mkdtempSync(join(tmpdir(), 'gil-record-'));
  try {
    // gil-stats names its input in the table's title: call it after the recording.
    const statesName = `${basename(o.perfData)}.gil.ndjson`;
    const states = o.states ?? join(tmp, statesName);
    o.say(`perf-parse -i ${o.perfData} | gil-state`);
    await pipeTwo([parseJs, '-i', o.perfData], [stateJs, '-o', states]);
    const lost = await capturedLost(states);
    let viz = o.viztracer;
    if (viz !== undefined && !existsSync(viz)) {
      o.say(`VizTracer wrote no ${viz} (did the program fail?): writing the GIL trace alone`);
      viz = undefined;
    }
    const gilTrace = viz ? join(tmp, 'gil-trace.json') : o.output;
    o.say(`to-trace -o ${o.output}`);
    await node(traceJs, [states, '-o', gilTrace], 'to-trace');
    if (viz && mergeJs) {
      o.say(`merge-trace with ${viz}`);
      await node(mergeJs, [gilTrace, viz, '-o', o.output], 'merge-trace');
    }
    const stats = await node(statsJs, [o.states ? states : statesName, '--format', 'table'], 'gil-stats', o.statsTo ?? 'inherit', o.states ? undefined : tmp);
    return { lost, trace: o.output, stats };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function node(js: string, args: string[], name: string, stdout: 'inherit' | 'pipe' = 'inherit', cwd?: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [js, ...args], { stdio: ['ignore', stdout, 'inherit'], cwd });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (code === 0) resolve(stdout === 'pipe' ? out : undefined);
      else reject(new RecordError(`${name} failed (${code ?? sig}); see its message above`));
    });
  });
}

/** `a | b` with both stderrs on ours. */
function pipeTwo(a: string[], b: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const left = spawn(process.execPath, a, { stdio: ['ignore', 'pipe', 'inherit'] });
    const right = spawn(process.execPath, b, { stdio: [left.stdout!, 'ignore', 'inherit'] });
    // The pipe now belongs to the two children; our copy would keep it open.
    left.stdout!.destroy();
    const codes: Array<[string, number | null, NodeJS.Signals | null]> = [];
    const done = (name: string) => (code: number | null, sig: NodeJS.Signals | null) => {
      codes.push([name, code, sig]);
      if (codes.length < 2) return;
      const bad = codes.find(([, c]) => c !== 0);
      if (bad) reject(new RecordError(`${bad[0]} failed (${bad[1] ?? bad[2]}); see its message above`));
      else resolve();
    };
    left.on('error', reject);
    right.on('error', reject);
    left.on('exit', done('perf-parse'));
    right.on('exit', done('gil-state'));
  });
}

/** Lost events as gil-state counted them (its `capture` record). */
async function capturedLost(states: string): Promise<number> {
  let lost = 0;
  const raw = createReadStream(states);
  const rl = createInterface({ input: states.endsWith('.gz') ? raw.pipe(createGunzip()) : raw, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.includes('"capture"')) continue;
    try {
      const rec = JSON.parse(line) as { type?: string; lost?: number };
      if (rec.type === 'capture') lost += rec.lost ?? 0;
    } catch {
      /* not ours to judge: gil-state wrote it */
    }
  }
  return lost;
}
