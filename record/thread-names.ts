// Python thread names where perf sees them: in launch mode the target runs
// with record/python/sitecustomize.py first on its PYTHONPATH, which makes
// each thread's OS name its threading name (cut to Linux's 15 bytes). perf
// records the rename as a COMM event, so every stage after it shows `hog`,
// not `python3`. Attach mode changes nothing: the names are the process's own.
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The hook's directory: beside this file in the sources, record/python/ of the package from dist/record/ or from the bundle, dist/gilpipe.mjs. */
export function threadNameHook(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [join(here, 'python'), join(here, '..', '..', 'record', 'python'), join(here, '..', 'record', 'python')]) {
    if (existsSync(join(dir, 'sitecustomize.py'))) return dir;
  }
  return undefined;
}

/**
 * The environment the target runs in: the hook's directory first on
 * PYTHONPATH, the program's own PYTHONPATH after it (the hook imports the
 * program's own sitecustomize in turn).
 */
export function withThreadNames(env: NodeJS.ProcessEnv, hook: string): NodeJS.ProcessEnv {
  const theirs = env.PYTHONPATH;
  return { ...env, PYTHONPATH: theirs ? `${hook}${delimiter}${theirs}` : hook };
}
