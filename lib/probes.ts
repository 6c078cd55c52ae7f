// Finding the interpreter that really runs, where its GIL functions live, and
// putting uprobes on them in a probe group of our own.
//
// take_gil/drop_gil are static functions: they exist only in the symbol table
// (stripped builds lose them), in the executable or in libpython for
// --enable-shared builds, sometimes cloned (`take_gil.constprop.0`,
// `take_gil.lto_priv.0`) or inlined. We ask perf itself which symbols it can
// probe (`perf probe -F`) and where each probe would land (`perf probe -D`),
// then add one event per distinct place, by file offset, so a clone and the
// function it was cloned from never fire twice for one call.
import { execa, execaSync } from 'execa';
import { closeSync, existsSync, openSync, readFileSync, readSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { UsageError } from './cli.js';
import { PERF_PACKAGE_HINT } from './perf.js';

/** `take_gil`, `take_gil.constprop.0`, `drop_gil.lto_priv.0`, `take_gil.llvm.123` */
export const GIL_SYMBOL_RE = /^(take_gil|drop_gil)(\..+)?$/;

/** The libc function CPython's take_gil waits in, probed when the interpreter is stripped. */
export const LIBC_WAIT_FUNC = 'pthread_cond_timedwait';
/** Event name for the libc fallback (the name gil-state and the fixtures use). */
export const LIBC_WAIT_EVENT = 'pcond_timedwait';

export class RecordError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------
// The interpreter

export interface Interpreter {
  /** The executable, as a path this process can open (through /proc/PID/root for containers). */
  exe: string;
  /** libpython when the interpreter maps one (an --enable-shared build). */
  libpython?: string;
  /** libc as mapped, for the stripped fallback. */
  libc?: string;
  /** `3.11.7`, or `3.11` when only the file name tells. */
  version?: string;
  /** A free-threaded build (3.13t and later). */
  freeThreaded: boolean;
  /** How we found out: `asked the interpreter`, `/proc/PID/maps`. */
  how: string;
}

/** Mapped file paths from /proc/PID/maps text, in order, without duplicates. */
export function mappedFiles(maps: string): string[] {
  const seen = new Set<string>();
  for (const line of maps.split('\n')) {
    // address perms offset dev inode path (the path may contain spaces)
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\d+\s+(\/.*)$/.exec(line);
    if (!m) continue;
    seen.add(m[1]!.replace(/ \(deleted\)$/, ''));
  }
  return [...seen];
}

export function isLibpython(path: string): boolean {
  return /\/libpython\d[\d.]*t?[a-z]*\.so(\.|$)/.test(path);
}

export function isLibc(path: string): boolean {
  return /\/libc(-[\d.]+)?\.so(\.\d+)?$/.test(path) || /\/libc\.musl-[^/]*\.so/.test(path) || /\/ld-musl-[^/]*\.so/.test(path);
}

/** Version and free-threading from a file name: `python3.13t`, `libpython3.13t.so.1.0`. */
export function versionFromName(path: string): { version?: string; freeThreaded: boolean } {
  const m = /python(\d+\.\d+)(t?)/.exec(basename(path));
  if (!m) return { freeThreaded: false };
  return { version: m[1], freeThreaded: m[2] === 't' };
}

/**
 * The interpreter of a running process. Paths in /proc/PID/maps are in the
 * process's mount namespace; reading them through /proc/PID/root works for
 * containers and for ordinary processes alike.
 */
export function interpreterOfPid(pid: number, proc = '/proc'): Interpreter {
  const dir = join(proc, String(pid));
  if (!existsSync(dir)) throw new RecordError(`no process with pid ${pid}`, 2);
  let exeLink: string;
  let maps: string;
  try {
    exeLink = readlinkSync(join(dir, 'exe'));
    maps = readFileSync(join(dir, 'maps'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new RecordError(`cannot read /proc/${pid}/exe and maps (${code}): run gil-record as root (sudo) to attach to another user's process`);
    }
    if (code === 'ENOENT') throw new RecordError(`process ${pid} is gone (or is a kernel thread)`, 2);
    throw e;
  }
  const rootLink = safeReadlink(join(dir, 'root'));
  const inRoot = (p: string): string => (rootLink === '/' ? p : join(dir, 'root', p));
  const files = mappedFiles(maps);
  const exe = exeLink.replace(/ \(deleted\)$/, '');
  const lib = files.find(isLibpython);
  const libc = files.find(isLibc);
  const named = versionFromName(lib ?? exe);
  return {
    exe: inRoot(exe),
    libpython: lib ? inRoot(lib) : undefined,
    libc: libc ? inRoot(libc) : undefined,
    version: named.version,
    freeThreaded: named.freeThreaded,
    how: `/proc/${pid}/exe and /proc/${pid}/maps${rootLink !== '/' && rootLink !== undefined ? ` (through /proc/${pid}/root: a container)` : ''}`,
  };
}

function safeReadlink(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}

// Asked of the interpreter itself: what it really is once shims, symlinks and
// `env` are out of the way, and which libpython/libc its loader mapped.
const QUERY = [
  'import json, sys, sysconfig',
  'maps = open("/proc/self/maps").read()',
  'print(json.dumps({"exe": sys.executable, "version": sys.version.split()[0],',
  ' "gil_disabled": bool(sysconfig.get_config_var("Py_GIL_DISABLED")), "maps": maps}))',
].join('\n');

/** Which program a command line starts: the interpreter named by a `#!` line, or the command itself. */
export function resolveProgram(argv0: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const path = which(argv0, env);
  if (path === undefined) throw new RecordError(`${argv0}: command not found`, 127);
  let head = '';
  try {
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, 256, 0);
    closeSync(fd);
    head = buf.subarray(0, n).toString('latin1');
  } catch {
    return [path];
  }
  if (!head.startsWith('#!')) return [path];
  const words = head.slice(2).split('\n')[0]!.trim().split(/\s+/);
  if (basename(words[0] ?? '') === 'env') {
    const rest = words.slice(1).filter((w) => !w.startsWith('-'));
    if (rest[0] === undefined) return [path];
    // A pyenv shim is a shell script that execs the real python: ask `python`
    // rather than the shell that runs the shim.
    if (/python/.test(basename(argv0)) && !/python/.test(rest[0])) return [path];
    const interp = which(rest[0], env);
    return interp ? [interp] : [path];
  }
  if (/python/.test(basename(argv0)) && !/python/.test(basename(words[0] ?? ''))) return [path];
  return words[0] ? [words[0]] : [path];
}

export function which(cmd: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * The interpreter a command line will run, found by running that interpreter
 * once with a tiny query (`python -c ...`) in the same environment.
 */
export async function interpreterOfCommand(argv: string[], env: NodeJS.ProcessEnv = process.env, python?: string): Promise<Interpreter> {
  const prog = python ?? resolveProgram(argv[0]!, env)[0]!;
  // Only a Python gets `-c`: for other programs (uwsgi reads -c as its config
  // file) running it to ask would do something else entirely.
  if (python === undefined && !/python|pypy/i.test(basename(prog))) {
    throw new RecordError(
      `cannot tell which Python '${argv[0]}' runs (${prog} is not a python, nor a script that starts one with #!); name the interpreter with --python PATH, or start the program and attach with --pid`,
      2,
    );
  }
  const r = await execa(prog, ['-c', QUERY], { env, reject: false, stdin: 'ignore', timeout: 30_000 });
  if (r.exitCode !== 0) {
    throw new RecordError(
      `cannot tell which Python '${argv[0]}' runs (${prog} -c ... failed${r.stderr ? `: ${String(r.stderr).split('\n').pop()}` : ''}); name the interpreter with --python PATH`,
      2,
    );
  }
  let q: { exe: string; version: string; gil_disabled: boolean; maps: string };
  try {
    q = JSON.parse(String(r.stdout).trim().split('\n').pop()!);
  } catch {
    throw new RecordError(`cannot tell which Python '${argv[0]}' runs; name the interpreter with --python PATH`, 2);
  }
  const files = mappedFiles(q.maps);
  const exe = realpathOr(files.find((f) => realpathOr(f) === realpathOr(q.exe)) ?? q.exe);
  const lib = files.find(isLibpython);
  const libc = files.find(isLibc);
  return {
    exe,
    libpython: lib ? realpathOr(lib) : undefined,
    libc: libc ? realpathOr(libc) : undefined,
    version: q.version,
    freeThreaded: q.gil_disabled,
    how: `asked ${prog}`,
  };
}

function realpathOr(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

// ---------------------------------------------------------------------------
// ELF: is it stripped?

export interface ElfFacts {
  elf: boolean;
  /** Has a .symtab (the static symbols take_gil lives in). */
  symtab: boolean;
  /** Has DWARF (.debug_info). */
  debugInfo: boolean;
  buildId?: string;
}

/** Reads just enough of an ELF file to tell whether it was stripped. */
export function elfFacts(path: string): ElfFacts {
  const no: ElfFacts = { elf: false, symtab: false, debugInfo: false };
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return no;
  }
  try {
    const read = (pos: number, len: number): Buffer => {
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, pos);
      return b;
    };
    const eh = read(0, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return no; // 64-bit little-endian only
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const shstrndx = eh.readUInt16LE(0x3e);
    if (shoff === 0 || shnum === 0) return { ...no, elf: true };
    const sh = read(shoff, shentsize * shnum);
    const sec = (i: number) => ({
      name: sh.readUInt32LE(i * shentsize),
      type: sh.readUInt32LE(i * shentsize + 4),
      offset: Number(sh.readBigUInt64LE(i * shentsize + 0x18)),
      size: Number(sh.readBigUInt64LE(i * shentsize + 0x20)),
    });
    const strtab = sec(shstrndx);
    const names = read(strtab.offset, strtab.size);
    const nameAt = (o: number) => names.toString('latin1', o, names.indexOf(0, o));
    const facts: ElfFacts = { elf: true, symtab: false, debugInfo: false };
    for (let i = 0; i < shnum; i++) {
      const s = sec(i);
      const name = nameAt(s.name);
      if (s.type === 2 /* SHT_SYMTAB */) facts.symtab = true;
      if (name === '.debug_info' && s.type !== 8 /* NOBITS */) facts.debugInfo = true;
      if (name === '.note.gnu.build-id' && s.size >= 16) {
        const note = read(s.offset, s.size);
        const namesz = note.readUInt32LE(0);
        const descsz = note.readUInt32LE(4);
        const descAt = 12 + ((namesz + 3) & ~3);
        facts.buildId = note.toString('hex', descAt, descAt + descsz);
      }
    }
    return facts;
  } catch {
    return no;
  } finally {
    closeSync(fd);
  }
}

/** What to install to get take_gil back, for this system. */
export function debugPackageHint(interp: Interpreter, osRelease = readOsRelease()): string {
  const v = interp.version?.split('.').slice(0, 2).join('.') ?? '3.X';
  const ids = `${osRelease.ID ?? ''} ${osRelease.ID_LIKE ?? ''}`;
  if (/ubuntu/.test(osRelease.ID ?? '')) return `install the debug symbols: apt-get install python${v}-dbgsym (from the ddebs archive) or python${v}-dbg, or set DEBUGINFOD_URLS`;
  if (/debian/.test(ids)) return `install the debug symbols: apt-get install python${v}-dbg (or python${v}-dbgsym from the debian-debug archive), or set DEBUGINFOD_URLS=https://debuginfod.debian.net`;
  if (/fedora|rhel|centos/.test(ids)) return `install the debug symbols: dnf debuginfo-install python3`;
  if (/alpine/.test(ids)) return `install the debug symbols: apk add python3-dbg`;
  return `install your distribution's debug-symbol package for Python ${v}, or use an interpreter built with symbols (pyenv, python.org source builds)`;
}

function readOsRelease(): Record<string, string> {
  const out: Record<string, string> = {};
  try {
    for (const line of readFileSync('/etc/os-release', 'utf8').split('\n')) {
      const m = /^([A-Z_]+)=("?)(.*)\2$/.exec(line);
      if (m) out[m[1]!] = m[3]!;
    }
  } catch {
    /* unknown system */
  }
  return out;
}

// ---------------------------------------------------------------------------
// perf probe

export interface Perf {
  (args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

export const runPerf: Perf = async (args) => {
  const r = await execa('perf', args, { reject: false, stdin: 'ignore', all: false });
  if ((r as { code?: string }).code === 'ENOENT' || (r.exitCode === undefined && /ENOENT/.test(String(r.message)))) {
    throw new RecordError(`perf is not installed: ${PERF_PACKAGE_HINT}`, 2);
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
export async function planGilProbes(bin: string, perf: Perf = runPerf): Promise<{ specs: ProbeSpec[]; notes: string[]; symbols: string[] }> {
  const syms = await gilSymbols(bin, perf);
  const notes: string[] = [];
  const specs: ProbeSpec[] = [];
  if (syms.take_gil.length === 0 || syms.drop_gil.length === 0) return { specs, notes, symbols: [...syms.take_gil, ...syms.drop_gil] };
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
  return { specs, notes, symbols: [...syms.take_gil, ...syms.drop_gil] };
}

/** The libc fallback: entry and return of pthread_cond_timedwait. */
export async function planLibcProbes(libc: string, perf: Perf = runPerf): Promise<ProbeSpec[]> {
  const e = await sitesOf(libc, LIBC_WAIT_FUNC, false, perf);
  if (e.error || e.sites.length === 0) throw new RecordError(`cannot probe ${LIBC_WAIT_FUNC} in ${libc}: ${e.error ?? 'not found'}`);
  const r = await sitesOf(libc, LIBC_WAIT_FUNC, true, perf);
  return planSites(LIBC_WAIT_EVENT, libc, e.sites, r.sites);
}

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

function pidRunsGilRecord(pid: number): boolean {
  try {
    return /gil-record/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
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

export function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}

// ---------------------------------------------------------------------------
// Putting it together: what to probe for one interpreter

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
      2,
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

export function checkPid(text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--pid wants a process id, not '${text}'`);
  return Number(text);
}

