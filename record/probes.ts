// Where an interpreter's GIL functions live, and which uprobes to put there.
//
// take_gil/drop_gil are static functions: they exist only in the symbol table
// (stripped builds lose them), in the executable or in libpython for
// --enable-shared builds, sometimes cloned (`take_gil.constprop.0`,
// `take_gil.lto_priv.0`) or inlined. We ask perf itself which symbols it can
// probe (`perf probe -F`) and where each probe would land (`perf probe -D`),
// then plan one event per distinct place, by file offset, so a clone and the
// function it was cloned from never fire twice for one call.
import { execa } from 'execa';
import { basename } from 'node:path';
import { EXIT_USAGE } from '../lib/errors.js';
import { PERF_PACKAGE_HINT } from '../lib/perf.js';
import { RecordError, firstLine } from './errors.js';
import { killAndWaitSync } from './proc.js';
import { type Interpreter, debugPackageHint, elfFacts } from './interpreter.js';

/** `take_gil`, `take_gil.constprop.0`, `drop_gil.lto_priv.0`, `take_gil.llvm.123` */
export const GIL_SYMBOL_RE = /^(take_gil|drop_gil)(\..+)?$/;

/** The libc function CPython's take_gil waits in, probed when the interpreter is stripped. */
export const LIBC_WAIT_FUNC = 'pthread_cond_timedwait';
/** Event name for the libc fallback (the name gil-state and the fixtures use). */
export const LIBC_WAIT_EVENT = 'pcond_timedwait';

// ---------------------------------------------------------------------------
// perf probe

/** Runs `perf ARGS` to its end (tests give a stand-in). */
export interface Perf {
  (args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

/** The perf commands running now (an add of probes, say), for an exit path to stop them first. */
const running = new Set<number>();

/** Kills the perf commands still running and waits for them: a probe add cut short by a signal must not finish after the removal. */
export function stopRunningPerfSync(): void {
  for (const pid of running) killAndWaitSync(pid);
  running.clear();
}

export const runPerf: Perf = async (args) => {
  const sub = execa('perf', args, { reject: false, stdin: 'ignore', all: false });
  if (sub.pid !== undefined) running.add(sub.pid);
  const r = await sub.finally(() => {
    if (sub.pid !== undefined) running.delete(sub.pid);
  });
  if ((r as { code?: string }).code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(String(r.message)))) {
    throw new RecordError(`perf is not installed: ${PERF_PACKAGE_HINT}`, EXIT_USAGE);
  }
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};

/** GIL function symbols perf can probe in BIN: `{take_gil: [...], drop_gil: [...]}`, base name first. */
export async function gilSymbols(bin: string, perf: Perf = runPerf): Promise<{ take_gil: string[]; drop_gil: string[] }> {
  const r = await perf(['probe', '-x', bin, '-F', '*_gil*']);
  if (r.exitCode !== 0) throw new RecordError(`perf probe -x ${bin} -F failed: ${firstLine(r.stderr)}`);
  return sortSymbols(r.stdout.split('\n').map((s) => s.trim()));
}

export function sortSymbols(names: string[]): { take_gil: string[]; drop_gil: string[] } {
  const out = { take_gil: [] as string[], drop_gil: [] as string[] };
  for (const n of names) {
    const m = GIL_SYMBOL_RE.exec(n);
    if (m) out[m[1] as 'take_gil' | 'drop_gil'].push(n);
  }
  // The plain name first: its probes get the plain event names.
  for (const k of ['take_gil', 'drop_gil'] as const) out[k].sort((a, b) => (a === k ? -1 : b === k ? 1 : a.localeCompare(b)));
  return out;
}

/** One uprobe as perf would place it: `p` entry or `r` return, at a file offset. */
export interface Site {
  kind: 'p' | 'r';
  offset: string;
}

/** Parses `perf probe -D` output: `p:g/e /path:0x174160` lines. */
export function parseDefinitions(text: string): Site[] {
  const out: Site[] = [];
  for (const line of text.split('\n')) {
    const m = /^([pr]):\S+\s+.*:(0x[0-9a-f]+)(\s|$)/.exec(line.trim());
    if (m) out.push({ kind: m[1] as 'p' | 'r', offset: m[2]! });
  }
  return out;
}

/** Where perf would put probes for FUNC (entry or %return) in BIN, without adding anything. */
export async function sitesOf(bin: string, func: string, ret: boolean, perf: Perf = runPerf): Promise<{ sites: Site[]; error?: string }> {
  const r = await perf(['probe', '-x', bin, '-D', `gilrec_dry:x=${func}${ret ? '%return' : ''}`]);
  if (r.exitCode !== 0) return { sites: [], error: firstLine(r.stderr) || `perf probe exit ${r.exitCode}` };
  return { sites: parseDefinitions(r.stdout) };
}

export interface ProbeSpec {
  /** Event name inside the group: `take_gil`, `take_gil_1`, `pcond_timedwait`. */
  event: string;
  bin: string;
  offset: string;
  /** Also a return probe (named EVENT__return by perf). */
  ret: boolean;
}

/**
 * One event per distinct entry offset; a return probe only where one sits at
 * that same function start (a return probe without its entry is noise, and an
 * inlined copy has no return to probe).
 */
export function planSites(base: string, bin: string, entries: Site[], returns: Site[]): ProbeSpec[] {
  const returnOffsets = new Set(returns.filter((s) => s.kind === 'r').map((s) => s.offset));
  // Real function starts (with a return point) first, so the plain name
  // `take_gil` is a complete entry/return pair and `_N` are the extras.
  const entryOffsets = [...new Set(entries.filter((s) => s.kind === 'p').map((s) => s.offset))].sort(
    (a, b) => Number(returnOffsets.has(b)) - Number(returnOffsets.has(a)),
  );
  return entryOffsets.map((offset, i) => ({ event: i === 0 ? base : `${base}_${i}`, bin, offset, ret: returnOffsets.has(offset) }));
}

/** Probe specs for take_gil/drop_gil in BIN, with notes for the user; empty when perf finds no symbols. */
export async function planGilProbes(bin: string, perf: Perf = runPerf): Promise<{ specs: ProbeSpec[]; notes: string[] }> {
  const syms = await gilSymbols(bin, perf);
  const notes: string[] = [];
  const specs: ProbeSpec[] = [];
  if (syms.take_gil.length === 0 || syms.drop_gil.length === 0) return { specs, notes };
  // perf reads the DWARF for each question: ask them all at once.
  const answers = await Promise.all(
    (['take_gil', 'drop_gil'] as const).flatMap((base) =>
      syms[base].flatMap((sym) => [false, true].map(async (ret) => ({ base, sym, ret, ...(await sitesOf(bin, sym, ret, perf)) }))),
    ),
  );
  for (const base of ['take_gil', 'drop_gil'] as const) {
    const entries: Site[] = [];
    const returns: Site[] = [];
    for (const a of answers.filter((x) => x.base === base)) {
      if (a.error) notes.push(`${a.sym}${a.ret ? '%return' : ''}: ${a.error}`);
      (a.ret ? returns : entries).push(...a.sites);
    }
    const planned = planSites(base, bin, entries, returns);
    const noReturn = planned.filter((p) => !p.ret).length;
    if (planned.length > 1 || noReturn > 0) {
      notes.push(
        `${base}: ${planned.length} places (${syms[base].join(', ')}${noReturn ? `; ${noReturn} inlined or without a return point, entry only` : ''})`,
      );
    }
    specs.push(...planned);
  }
  return { specs, notes };
}

/** The libc fallback: entry and return of pthread_cond_timedwait. */
export async function planLibcProbes(libc: string, perf: Perf = runPerf): Promise<ProbeSpec[]> {
  const e = await sitesOf(libc, LIBC_WAIT_FUNC, false, perf);
  if (e.error || e.sites.length === 0) throw new RecordError(`cannot probe ${LIBC_WAIT_FUNC} in ${libc}: ${e.error ?? 'not found'}`);
  const r = await sitesOf(libc, LIBC_WAIT_FUNC, true, perf);
  return planSites(LIBC_WAIT_EVENT, libc, e.sites, r.sites);
}

export interface GilPlan {
  /** `take_gil`: the GIL functions; `cond_timedwait`: the libc fallback; `none`: --no-probes. */
  source: 'take_gil' | 'cond_timedwait' | 'none';
  specs: ProbeSpec[];
  /** The binary holding take_gil, or libc. */
  bin?: string;
  /** Lines for stderr. */
  notes: string[];
}

/**
 * Looks for take_gil/drop_gil in libpython (when mapped) and then the
 * executable; falls back to libc's pthread_cond_timedwait when neither has
 * them, saying why and what would fix it.
 */
export async function planForInterpreter(interp: Interpreter, opts: { noProbes?: boolean; fallback?: boolean } = {}, perf: Perf = runPerf): Promise<GilPlan> {
  const notes: string[] = [];
  if (interp.freeThreaded) {
    notes.push(
      `${interp.exe} is a free-threaded build (Python ${interp.version ?? '3.13t+'}): it has no GIL to trace unless the GIL is enabled at run time (PYTHON_GIL=1, -X gil=1, or importing an extension that needs it). Recording anyway; if the GIL stays off, take_gil returns at once and there is no contention to see.`,
    );
  }
  if (opts.noProbes) return { source: 'none', specs: [], notes };
  const candidates = [interp.libpython, interp.exe].filter((x): x is string => x !== undefined);
  for (const bin of candidates) {
    const plan = await planGilProbes(bin, perf);
    if (plan.specs.length > 0) {
      notes.push(...plan.notes);
      return { source: 'take_gil', specs: plan.specs, bin, notes };
    }
  }
  if (!interp.libpython && !/python/i.test(basename(interp.exe))) {
    throw new RecordError(
      `${interp.exe} does not look like a Python interpreter: no libpython is mapped and it has no take_gil. Is this the right process? (For a program that embeds Python statically, use --no-probes.)`,
      EXIT_USAGE,
    );
  }
  const holder = interp.libpython ?? interp.exe;
  const facts = elfFacts(holder);
  const why = !facts.elf
    ? `${holder} is not an ELF file gil-record can read`
    : !facts.symtab
      ? `${holder} is stripped (no symbol table), so take_gil/drop_gil cannot be found`
      : `${holder} has a symbol table but no take_gil/drop_gil (not CPython?)`;
  notes.push(`${why}. To trace GIL holds, ${debugPackageHint(interp)}.`);
  if (opts.fallback === false) throw new RecordError(notes.join('\n'));
  if (!interp.libc) throw new RecordError(`${notes.join('\n')}\nNo libc is mapped either, so there is nothing to fall back to; use --no-probes for scheduler events only.`);
  const specs = await planLibcProbes(interp.libc, perf);
  notes.push(
    `falling back to probes on ${LIBC_WAIT_FUNC} in ${interp.libc}: GIL waits only (every timed wait of any condition variable counts, so other waits show up too), no holds.`,
  );
  return { source: 'cond_timedwait', specs, bin: interp.libc, notes };
}
