// Where a command is found on PATH, as a shell would look it up.
import { existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The file CMD names: itself when it has a `/`, else the first match on PATH. */
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
