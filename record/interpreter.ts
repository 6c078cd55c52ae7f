// Finding the interpreter that really runs: through pyenv shims, `#!` lines
// and `env`, or from /proc/PID of a running process (containers too); which
// libpython and libc it maps; whether its binary was stripped, and what to
// install to get the symbols back.
import { execa } from 'execa';
import { closeSync, existsSync, openSync, readFileSync, readSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Elf, SHT, fileSource } from '../lib/elf.js';
import { EXIT_USAGE, UsageError } from '../lib/errors.js';
import { which } from '../lib/which.js';
import { EXIT_NOT_FOUND, RecordError } from './errors.js';

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
  if (!existsSync(dir)) throw new RecordError(`no process with pid ${pid}`, EXIT_USAGE);
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
    if (code === 'ENOENT') throw new RecordError(`process ${pid} is gone (or is a kernel thread)`, EXIT_USAGE);
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
  if (path === undefined) throw new RecordError(`${argv0}: command not found`, EXIT_NOT_FOUND);
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
      EXIT_USAGE,
    );
  }
  const r = await execa(prog, ['-c', QUERY], { env, reject: false, stdin: 'ignore', timeout: 30_000 });
  if (r.exitCode !== 0) {
    throw new RecordError(
      `cannot tell which Python '${argv[0]}' runs (${prog} -c ... failed${r.stderr ? `: ${String(r.stderr).split('\n').pop()}` : ''}); name the interpreter with --python PATH`,
      EXIT_USAGE,
    );
  }
  let q: { exe: string; version: string; gil_disabled: boolean; maps: string };
  try {
    q = JSON.parse(String(r.stdout).trim().split('\n').pop()!);
  } catch {
    throw new RecordError(`cannot tell which Python '${argv[0]}' runs; name the interpreter with --python PATH`, EXIT_USAGE);
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

/** Reads just enough of an ELF file (lib/elf.ts: its section headers and build id) to tell whether it was stripped. */
export function elfFacts(path: string): ElfFacts {
  const no: ElfFacts = { elf: false, symtab: false, debugInfo: false };
  let src;
  try {
    src = fileSource(path);
  } catch {
    return no;
  }
  try {
    const elf = Elf.open(src);
    if (typeof elf === 'string') return no;
    const facts: ElfFacts = {
      elf: true,
      symtab: elf.sections.some((s) => s.type === SHT.SYMTAB),
      debugInfo: elf.sections.some((s) => s.name === '.debug_info' && s.type !== SHT.NOBITS),
    };
    const buildId = elf.buildId();
    if (buildId !== undefined) facts.buildId = buildId;
    return facts;
  } catch {
    return no;
  } finally {
    src.close();
  }
}

/** What to install to get take_gil back, for this system. */
export function debugPackageHint(interp: Interpreter, osRelease = readOsRelease()): string {
  const v = interp.version?.split('.').slice(0, EXIT_USAGE).join('.') ?? '3.X';
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

/** --pid's value: a process id. */
export function checkPid(text: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--pid wants a process id, not '${text}'`);
  return Number(text);
}

/** The interpreter of a running process (--pid), or the one a command line starts (--python names it when that cannot be told). */
export async function findInterpreter(target: { pid?: number; command: string[]; python?: string }): Promise<Interpreter> {
  return target.pid !== undefined ? interpreterOfPid(target.pid) : interpreterOfCommand(target.command, process.env, target.python);
}

/** One line for the user: which interpreter, with which libpython, and how we know. */
export function describeInterpreter(i: Interpreter): string {
  return `interpreter: ${i.exe}${i.libpython ? ` with ${i.libpython}` : ''} (Python ${i.version ?? '?'}; ${i.how})`;
}
