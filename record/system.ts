// Can this machine record at all? Root, kernel.perf_event_paranoid, tracefs
// and uprobe events, and a perf that runs: each missing piece as a sentence
// that says what to do, before anything is changed on the system.
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { EXIT_USAGE } from '../lib/errors.js';
import { PERF_PACKAGE_HINT } from '../lib/perf.js';
import { which } from '../lib/which.js';
import { RecordError } from './errors.js';

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
    throw new RecordError(`perf does not run${said ? ` (${said})` : ''}: ${PERF_PACKAGE_HINT}`, EXIT_USAGE);
  }
}

/** Fails with every problem at once when this system cannot record (with probes, when they are wanted). */
export async function checkSystem(needProbes: boolean): Promise<void> {
  let sys = probeSystem();
  if (sys.tracefs === undefined && sys.uid === 0 && sys.perf !== undefined) {
    // perf mounts tracefs on first use when it runs as root (a new machine has none until then):
    // let it, rather than refuse what perf record itself would do.
    await execa('perf', ['probe', '-l'], { reject: false, stdin: 'ignore' });
    sys = probeSystem();
  }
  const problems = preflight(sys, needProbes);
  if (problems.length > 0) throw new RecordError(problems.join('\n'), EXIT_USAGE);
  await checkPerfRuns();
}
