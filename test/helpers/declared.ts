// What a command declares, read from its bin's source rather than from
// anything the command prints: the truth for its help, completion and man page.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './run.js';

export const COMMANDS = ['perf-parse', 'gil-state', 'gil-stats', 'to-trace', 'merge-trace', 'gil-record'];

/** The long options a bin declares (`.option('name', ...)`), and --help and --version, which every command has. */
export function declaredOptions(name: string): string[] {
  const src = readFileSync(join(root, 'bin', `${name}.ts`), 'utf8');
  return [...src.matchAll(/\.option\(\s*'([a-z0-9-]+)'/g)].map((m) => `--${m[1]}`).concat(['--help', '--version']);
}

/** The first sentence of a bin's header comment (`// NAME: what it does.`), without its full stop. */
export function summary(name: string): string {
  const lines = readFileSync(join(root, 'bin', `${name}.ts`), 'utf8').split('\n').slice(1);
  const comment = lines.slice(0, lines.findIndex((l) => !l.startsWith('//'))).map((l) => l.slice(3));
  const text = comment.join(' ').replace(`${name}: `, '');
  return text.slice(0, text.search(/\.(\s|$)/));
}
