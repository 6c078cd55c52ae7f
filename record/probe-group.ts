// Our uprobes in a probe group of our own: added under names no one else
// uses, listed, removed whatever happens; and groups a killed gil-record left
// behind, found by name and removed.
import { execaSync } from 'execa';
import { RecordError, firstLine } from './errors.js';
import { pidRunsGilRecord } from './proc.js';
import { type Perf, type ProbeSpec, runPerf, stopRunningPerfSync } from './probes.js';

/** `group:event=offset` definitions for `perf probe -a`, each with the binary it goes in. */
export function probeDefinitions(group: string, specs: ProbeSpec[]): Array<{ bin: string; def: string }> {
  const out: Array<{ bin: string; def: string }> = [];
  for (const s of specs) {
    out.push({ bin: s.bin, def: `${group}:${s.event}=${s.offset}` });
    // perf names it EVENT__return itself.
    if (s.ret) out.push({ bin: s.bin, def: `${group}:${s.event}=${s.offset}%return` });
  }
  return out;
}

/** The events a probe group provides, for `perf record -e`. */
export function probeEvents(group: string, specs: ProbeSpec[]): string[] {
  return specs.flatMap((s) => [`${group}:${s.event}`, ...(s.ret ? [`${group}:${s.event}__return`] : [])]);
}

/**
 * A probe group owned by this run: `gilrec_<pid>`. Only this group is ever
 * deleted, so probes other people or tools made are never touched.
 */
export class ProbeGroup {
  added = false;
  constructor(
    readonly name: string = `gilrec_${process.pid}`,
    private readonly perf: Perf = runPerf,
    /** Makes event names this run's own: `take_gil_<tag>0`. */
    readonly tag: string = String(process.pid),
  ) {}

  /**
   * Adds the probes and returns them as added, under names of this run's own
   * (perf refuses an event name that exists in any group: see renameAround).
   */
  async add(planned: ProbeSpec[]): Promise<ProbeSpec[]> {
    const taken = new Set(listedEvents((await this.perf(['probe', '-l'])).stdout).map((e) => e.slice(e.indexOf(':') + 1)));
    const specs = renameAround(planned, taken, this.tag);
    const byBin = new Map<string, string[]>();
    for (const d of probeDefinitions(this.name, specs)) {
      const list = byBin.get(d.bin) ?? [];
      list.push(d.def);
      byBin.set(d.bin, list);
    }
    for (const [bin, defs] of byBin) {
      this.added = true; // a failure halfway may leave some: remove() cleans up either way
      const r = await this.perf(['probe', '-q', '-x', bin, ...defs.flatMap((d) => ['-a', d])]);
      if (r.exitCode !== 0) throw new RecordError(explainProbeFailure(r.stderr, bin));
    }
    return specs;
  }

  /** Events of this group that exist now (perf probe -l). */
  async list(): Promise<string[]> {
    const r = await this.perf(['probe', '-l', `${this.name}:*`]);
    return listedEvents(r.stdout);
  }

  async remove(): Promise<void> {
    if (!this.added) return;
    await this.perf(['probe', '-q', '-d', `${this.name}:*`]);
    this.added = false;
  }

  /** For process exit paths where nothing async runs any more. */
  removeSync(): void {
    if (!this.added) return;
    // An add still running would put its probes in after we remove them.
    stopRunningPerfSync();
    try {
      execaSync('perf', ['probe', '-q', '-d', `${this.name}:*`], { reject: false, stdin: 'ignore' });
    } catch {
      /* nothing more we can do on the way out */
    }
    this.added = false;
  }
}

/**
 * Gives each spec a name no existing event uses (with or without `__return`).
 * With a tag (gil-record's pid) names are `take_gil_<tag><n>`: a name of this
 * run alone, so nobody's `perf probe -a python:take_gil` fails while we
 * record, and two gil-records never race for one name. Every stage reads
 * `take_gil_<digits>` as take_gil.
 */
export function renameAround(specs: ProbeSpec[], taken: Set<string>, tag = ''): ProbeSpec[] {
  const used = new Set(taken);
  const perBase = new Map<string, number>();
  return specs.map((s) => {
    const base = s.event.replace(/_\d+$/, '');
    let n = perBase.get(base) ?? 0;
    const nameFor = (k: number): string => (tag ? `${base}_${tag}${k}` : k === 0 ? base : `${base}_${k}`);
    let name = tag ? nameFor(n) : s.event;
    while (used.has(name) || used.has(`${name}__return`)) name = nameFor(++n);
    perBase.set(base, n + 1);
    used.add(name);
    used.add(`${name}__return`);
    return { ...s, event: name };
  });
}

/** `  gilrec_1:take_gil (on ...)` lines from `perf probe -l` as `group:event`. */
export function listedEvents(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+:\S+)\s/.exec(line + ' ');
    if (m) out.add(m[1]!);
  }
  return [...out];
}

/**
 * Groups a gil-record left behind when it was killed (SIGKILL, power loss):
 * `gilrec_<pid>` whose pid no longer runs gil-record. Ours by name, so safe to remove.
 */
export function staleGroups(events: string[], alive: (pid: number) => boolean = pidRunsGilRecord): string[] {
  const groups = new Set<string>();
  for (const ev of events) {
    const m = /^(gilrec_(\d+)):/.exec(ev);
    if (m && Number(m[2]) !== process.pid && !alive(Number(m[2]))) groups.add(m[1]!);
  }
  return [...groups];
}

/** Removes the groups killed gil-records left behind, saying so for each. */
export async function removeStaleGroups(say: (msg: string) => void, perf: Perf = runPerf): Promise<void> {
  for (const g of staleGroups(listedEvents((await perf(['probe', '-l'])).stdout))) {
    say(`removing probes left by a gil-record that was killed: ${g}`);
    await perf(['probe', '-q', '-d', `${g}:*`]);
  }
}

export function explainProbeFailure(stderr: string, bin: string): string {
  const s = stderr.trim();
  if (/Permission denied|Operation not permitted|EACCES|EPERM/i.test(s)) {
    return `adding uprobes on ${bin} needs root: run gil-record with sudo (perf said: ${firstLine(s)})`;
  }
  if (/uprobe_events|No such file or directory.*tracing|tracefs|debugfs/i.test(s)) {
    return `cannot add uprobes: ${firstLine(s)}. Is tracefs mounted (mount -t tracefs nodev /sys/kernel/tracing) and does the kernel have CONFIG_UPROBE_EVENTS?`;
  }
  return `perf probe failed on ${bin}: ${s.split('\n').filter(Boolean).slice(0, 3).join(' ')}`;
}
