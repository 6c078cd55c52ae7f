// --py-stacks: Python functions in perf's callchains. CPython 3.12 added perf
// support: with -X perf (PYTHONPERFSUPPORT=1) each Python call runs through a
// small trampoline listed in /tmp/perf-PID.map, so a stack shows
// `py::parse_all:app.py`. 3.13 added -X perf_jit (PYTHON_PERF_JIT_SUPPORT=1),
// which writes /tmp/jit-PID.dump with unwind tables for the trampolines;
// `perf inject --jit` turns it into /tmp/jitted-PID-N.so files the recording
// then names. What each version gives with DWARF unwinding (measured here on
// the pyenv builds, which have no frame pointers; docs/finding-code.md):
// - 3.12 -X perf: only the innermost Python function (the unwinder stops at
//   the first trampoline, which has no unwind table);
// - 3.13 -X perf_jit: every Python function of the stack.
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RecordError, firstLine } from './errors.js';
import type { Interpreter } from './interpreter.js';

export type PyPerfMode = 'perf' | 'perf_jit';

export interface PyStacksPlan {
  /** The interpreter's perf support to turn on, if it has one. */
  mode?: PyPerfMode;
  /** Environment variables that turn it on (the command line is left as the user wrote it). */
  env: Record<string, string>;
  /** Attached to this process: its perf files count whenever they were written. */
  pid?: number;
  notes: string[];
}

function minor(version: string | undefined): number | undefined {
  const m = /^3\.(\d+)/.exec(version ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * What --py-stacks does for this interpreter. Attached (`pid`), the process's
 * options are its own: its perf files in /tmp say whether it was started
 * with -X perf or -X perf_jit.
 */
export function planPyStacks(interp: Interpreter, pid?: number, tmp = '/tmp'): PyStacksPlan {
  const m = minor(interp.version);
  if (m === undefined || m < 12) {
    return {
      env: {},
      notes: [`--py-stacks: Python frames need Python 3.12+ (-X perf); this is Python ${interp.version ?? '?'}: recording native stacks only`],
    };
  }
  if (pid !== undefined) {
    // Measured with perf 6.1: the user stacks of a process perf attached to
    // stop after a frame or two on -k CLOCK_MONOTONIC, and without -k the
    // trampolines are still not named; so the files are kept for a newer perf.
    const attached = `perf does not name the Python frames of a process it attached to (perf 6.1 here): start the program with gil-record --py-stacks for them`;
    if (existsSync(join(tmp, `jit-${pid}.dump`))) {
      return { mode: 'perf_jit', env: {}, pid, notes: [`--py-stacks: process ${pid} writes ${tmp}/jit-${pid}.dump (-X perf_jit), kept with the recording; ${attached}`] };
    }
    if (existsSync(join(tmp, `perf-${pid}.map`))) {
      return { mode: 'perf', env: {}, pid, notes: [`--py-stacks: process ${pid} writes ${tmp}/perf-${pid}.map (-X perf), kept with the recording; ${attached}`] };
    }
    return {
      env: {},
      notes: [
        `--py-stacks: process ${pid} was not started with -X perf (3.12+) or -X perf_jit (3.13+) (no ${tmp}/perf-${pid}.map or jit-${pid}.dump): native stacks only`,
      ],
    };
  }
  if (m >= 13) {
    return { mode: 'perf_jit', env: { PYTHON_PERF_JIT_SUPPORT: '1' }, notes: ['--py-stacks: Python frames from -X perf_jit (PYTHON_PERF_JIT_SUPPORT=1), then perf inject --jit'] };
  }
  return {
    mode: 'perf',
    env: { PYTHONPERFSUPPORT: '1' },
    notes: ['--py-stacks: Python frames from -X perf (PYTHONPERFSUPPORT=1); on 3.12 without frame pointers a stack shows the innermost Python function only'],
  };
}

/** The interpreter's perf files written during the recording, or named for PID (they are named by pid). */
export function perfFilesSince(since: number, pid?: number, dir = '/tmp'): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^(perf-\d+\.map|jit-\d+\.dump|jitted-\d+-\d+\.so)$/.test(n))
    .map((n) => join(dir, n))
    .filter((p) => {
      if (pid !== undefined && new RegExp(`^(perf|jit|jitted)-${pid}[-.]`).test(p.slice(dir.length + 1))) return true;
      try {
        return statSync(p).mtimeMs >= since;
      } catch {
        return false;
      }
    });
}

/**
 * After perf record: with perf_jit, `perf inject --jit` makes the recording
 * that names the JIT'd trampolines (it writes /tmp/jitted-*.so, where perf
 * script then reads them). The files perf script needs are copied beside the
 * recording (PERF_DATA.py/), for reading it on another machine.
 */
export async function finishPyStacks(
  plan: PyStacksPlan,
  perfData: string,
  since: number,
  say: (msg: string) => void,
): Promise<void> {
  if (plan.mode === undefined) return;
  if (plan.mode === 'perf_jit') {
    const raw = `${perfData}.before-jit`;
    renameSync(perfData, raw);
    const r = await execa('perf', ['inject', '--jit', '-i', raw, '-o', perfData], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0 || !existsSync(perfData)) {
      renameSync(raw, perfData);
      say(`perf inject --jit failed (${firstLine(String(r.stderr)) || `exit ${r.exitCode}`}): the recording has native frames only`);
      return;
    }
    rmSync(raw, { force: true });
  }
  const files = perfFilesSince(since, plan.pid);
  if (files.length === 0) {
    say('--py-stacks: the interpreter wrote no /tmp/perf-PID.map or jit-PID.dump: the stacks have native frames only');
    return;
  }
  const keep = `${perfData}.py`;
  try {
    mkdirSync(keep, { recursive: true });
    for (const f of files) copyFileSync(f, join(keep, f.slice(f.lastIndexOf('/') + 1)));
  } catch (e) {
    throw new RecordError(`cannot keep the interpreter's perf files in ${keep}: ${(e as Error).message}`);
  }
  say(`kept ${files.length} file${files.length === 1 ? '' : 's'} perf script reads from /tmp (perf-PID.map, jit dumps) in ${keep}/; elsewhere, copy them to /tmp`);
}
