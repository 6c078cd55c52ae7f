// The hooks of test/helpers/ts-loader.mjs. A .ts file is transpiled by esbuild
// (the transpiler tsx uses) with the project's tsconfig.json, once for each
// content: the code is kept in node_modules/.cache/gilpipe-ts (where build
// tools keep theirs, and gone with node_modules, so a test run leaves nothing
// on the system), named by a hash of esbuild's version, the options, the
// file's path and text.
// An import of `./x.js` from a .ts file, as TypeScript's NodeNext imports
// name what tsc makes, is x.ts when there is no x.js.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tsconfigRaw = readFileSync(new URL('../../tsconfig.json', import.meta.url), 'utf8');
const esbuildVersion = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('esbuild/package.json'), 'utf8')).version;
const OPTIONS = { loader: 'ts', format: 'esm', target: 'node20', sourcemap: 'inline' };
const salt = `${esbuildVersion}\0${JSON.stringify(OPTIONS)}\0${tsconfigRaw}`;
const cache = fileURLToPath(new URL('../../node_modules/.cache/gilpipe-ts/', import.meta.url));
let esbuild;

const isTs = (url) => url !== undefined && url.startsWith('file:') && new URL(url).pathname.endsWith('.ts');

export async function resolve(specifier, context, next) {
  if (isTs(context.parentURL) && specifier.endsWith('.js') && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const ts = new URL(specifier.slice(0, -3) + '.ts', context.parentURL);
    if (!existsSync(new URL(specifier, context.parentURL)) && existsSync(ts)) return { url: ts.href, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!isTs(url)) return next(url, context);
  const file = fileURLToPath(url);
  const text = readFileSync(file, 'utf8');
  const kept = join(cache, `${createHash('sha256').update(`${salt}\0${file}\0${text}`).digest('hex')}.mjs`);
  if (existsSync(kept)) return { format: 'module', source: readFileSync(kept, 'utf8'), shortCircuit: true };
  esbuild ??= await import('esbuild');
  const { code } = esbuild.transformSync(text, { ...OPTIONS, sourcefile: file, tsconfigRaw });
  try {
    mkdirSync(cache, { recursive: true });
    const part = `${kept}.${process.pid}.tmp`;
    writeFileSync(part, code);
    renameSync(part, kept);
  } catch {
    /* no cache here: transpiled again next time */
  }
  return { format: 'module', source: code, shortCircuit: true };
}
