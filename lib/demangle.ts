// C++ symbol names as perf prints them: demangled without their parameter
// lists (perf's demangle_sym with DMGL_NO_OPTS: `v8::Function::Call`, not
// `v8::Function::Call(v8::Local<v8::Context>, ...)`). binutils' c++filt -p
// does that demangling; it is run once for all the names of a file, so a
// file of 80,000 C++ names costs one process (about 0.1 s).
import { childProcess } from './builtins.js';

let missing = false;

/** The names demangled, in order (a name c++filt cannot read comes back as it was), or undefined without c++filt. */
export function demangleCxx(names: string[]): string[] | undefined {
  if (names.length === 0) return [];
  if (missing) return undefined;
  try {
    const out = childProcess().execFileSync('c++filt', ['-p'], { input: names.join('\n') + '\n', maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'ignore'] });
    const lines = out.toString('utf8').split('\n');
    if (lines.length < names.length) return undefined;
    return lines.slice(0, names.length);
  } catch {
    missing = true;
    return undefined;
  }
}

/** A mangled C++ name (the Itanium ABI's `_Z` prefix), which perf shows demangled. */
export function isMangled(name: string): boolean {
  return name.startsWith('_Z');
}
