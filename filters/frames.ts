// A callchain frame as users name it, and the stacks spans carry.
//
// perf prints a frame as `addr sym+0xoff (dso)`. A span's stack keeps what
// tells code apart and drops what differs between runs: no offsets, no
// addresses where there is a symbol, the dso's base name. CPython 3.12+'s
// `-X perf` trampolines (`py::function:file`, from /tmp/perf-PID.map) keep
// their file and lose the map's name, which holds the pid.
import type { Frame } from './records.js';

/** Frames a span's stack keeps, leaf first. */
export const STACK_FRAMES = 16;

const PY = 'py::';

/** `sym (dso)`, `py::function:file`, or `[addr] (dso)` where perf had no symbol. */
export function frameName(f: Frame): string {
  const sym = f.sym ?? null;
  if (sym !== null && sym.startsWith(PY)) return sym;
  const dso = f.dso ? ` (${f.dso.slice(f.dso.lastIndexOf('/') + 1)})` : '';
  return `${sym !== null && sym !== '[unknown]' ? sym : `[${f.addr}]`}${dso}`;
}

/** The kernel's frames: perf's `[kernel.kallsyms]` dso (and modules, `.ko`). */
export function isKernel(f: Frame): boolean {
  const d = f.dso ?? '';
  return d === '[kernel.kallsyms]' || d.endsWith('.ko') || d.startsWith('[kernel');
}

/** perf's end-of-chain markers: `0 [unknown] ([unknown])`, `7fffffffdfff [unknown]`. */
function isEnd(f: Frame): boolean {
  return (f.sym === undefined || f.sym === null || f.sym === '[unknown]') && (f.dso === '[unknown]' || f.dso === undefined || f.dso === null);
}

/** A callchain as a span's stack, leaf first; `user`: without the kernel's frames on top. */
export function stackOf(chain: readonly Frame[] | undefined, user = false): string[] | undefined {
  if (chain === undefined) return undefined;
  const out: string[] = [];
  for (const f of chain) {
    if (isEnd(f) || (user && isKernel(f))) continue;
    out.push(frameName(f));
    if (out.length === STACK_FRAMES) break;
  }
  return out.length > 0 ? out : undefined;
}

/** Is this frame a Python function (`py::name:file`)? */
export function isPyFrame(name: string): boolean {
  return name.startsWith(PY);
}

/** The innermost Python function of a stack, as `name (file)`, or undefined. */
export function pyFunction(stack: readonly string[] | undefined): { function: string; file: string } | undefined {
  for (const s of stack ?? []) {
    if (!isPyFrame(s)) continue;
    const rest = s.slice(PY.length);
    // `py::Class.method:/path/file.py`; a file can hold ':' (`<frozen importlib._bootstrap>` does not).
    const colon = rest.indexOf(':');
    return colon < 0 ? { function: rest, file: '' } : { function: rest.slice(0, colon), file: rest.slice(colon + 1) };
  }
  return undefined;
}

/** CPython's own machinery around a call and the GIL: not the code a user would change. */
const INTERPRETER = /^(?:take_gil|drop_gil|PyEval_|_PyEval_|_Py_HandlePending|PyObject_Vectorcall|PyObject_Call|_PyObject_|method_vectorcall|cfunction_|_PyFunction_|_PyThreadState_|__libc_|_start\b)/;

/** The innermost named native frame that is not CPython's machinery or a libc helper: the C code a holder was in (`sre_ucs1_match`, `fsync`). */
export function nativeLeaf(stack: readonly string[] | undefined): string | undefined {
  for (const s of stack ?? []) {
    if (isPyFrame(s)) return undefined;
    const name = s.replace(/ \(.*\)$/, '');
    if (!INTERPRETER.test(name) && !name.startsWith('[') && !(isLibc(s) && LIBC_HELPER.test(name))) return name;
  }
  return undefined;
}

/** libc's helpers (memmove, malloc) under the code that called them are not the code to change; its system calls (fsync) are. */
const LIBC_HELPER = /^_*(?:mem|str|wcs|malloc|calloc|realloc|free|cfree|_int_|tcache|arena)/;

/** A frame of libc (or the loader). */
export function isLibc(name: string): boolean {
  return /\((?:libc|libpthread|ld-linux[^)]*)\.so[^)]*\)$/.test(name);
}

/** The scheduler's own frames at the top of a switch-out stack: how it slept, not why. */
const SCHEDULER = /^(?:__schedule|schedule|schedule_\w+|io_schedule\w*|__\w*schedule\w*|preempt_\w+|\w*_sleep\w*|do_nanosleep|hrtimer_\w+|futex_\w+|__futex_\w+|do_futex|__x64_sys_\w+|x64_sys_call|do_syscall_64|entry_SYSCALL_64\w*|syscall_exit_\w+|irqentry_\w+|asm_\w+|bit_wait\w*|__wait_on_bit\w*|out_of_line_wait_on_bit\w*|wait_for_completion\w*|__wait_for_common|wait_on_page_bit\w*|folio_wait_bit\w*|__folio_lock\w*|rwsem_down_\w+|__mutex_lock\w*|mutex_lock\w*)$/;

/**
 * What a thread switched out with `stack` blocked in: the first kernel frame
 * below the scheduler's and the waiting primitives' own (`jbd2_log_wait_commit`
 * under an fsync, `filemap_fault` for a page fault), with the system call
 * it came through (`jbd2_log_wait_commit in fsync`); else the first user frame.
 */
export function blockedIn(stack: readonly string[] | undefined): string | undefined {
  let fn: string | undefined;
  let first: string | undefined;
  for (const s of stack ?? []) {
    const name = s.replace(/ \(.*\)$/, '');
    if (!s.endsWith('([kernel.kallsyms])') && !s.endsWith('.ko)')) {
      fn ??= first ?? name;
      break;
    }
    first ??= name;
    const sys = /^__(?:x64|ia32|arm64)_sys_(\w+)$/.exec(name);
    if (sys) return `${fn ?? first} in ${sys[1]}`;
    if (fn === undefined && !SCHEDULER.test(name)) fn = name;
  }
  return fn ?? first;
}
