// Spawns the real compiled commands, as a user would.
import { execa, type Options } from 'execa';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const corpus = fileURLToPath(new URL('../../../shared/corpus/', import.meta.url));
export const hasCorpus = existsSync(corpus + 'INDEX.md');

export function bin(name: string): string {
  return `${root}dist/bin/${name}.js`;
}

export async function runBin(name: string, args: string[] = [], opts: Options = {}) {
  return execa('node', [bin(name), ...args], { reject: false, stripFinalNewline: false, ...opts });
}
