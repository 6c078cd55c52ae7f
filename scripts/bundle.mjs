#!/usr/bin/env node
// npm run build, after tsc: the commands as ES modules, dist/gilpipe.mjs
// (bin/gilpipe.ts, the multi-call entry) and a chunk per command and per
// part they share (dist/gilpipe-*.mjs, every module and dependency bundled),
// and each dist/bin/COMMAND.js a two-line launcher of the entry. Node
// resolves, reads and compiles a few files instead of about 150, and only
// those of the command that runs. The launcher's name says which command
// runs, as a link to the single executable does.
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

// The chunks of an earlier build: their names change with their contents.
for (const f of readdirSync(join(root, 'dist'))) if (/^gilpipe-.*\.mjs$/.test(f)) rmSync(join(root, 'dist', f));

// yargs' string-width (and cliui's) build an Intl.Segmenter and a `v`-flag
// emoji RegExp when they load: 20 ms of CPU at every command's start, for
// widths that only --help and usage errors measure. Each importer gets a
// stand-in that loads its own copy on the first call (esbuild runs a
// require()d ES module's body then, not at start).
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(build) {
    build.onResolve({ filter: /^string-width$/ }, (args) =>
      args.namespace === 'lazy-string-width' ? undefined : { path: args.resolveDir, namespace: 'lazy-string-width' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: "let real; export default function stringWidth(s, o) { real ??= require('string-width').default; return real(s, o); }",
      // Resolved from the importer's folder: the copy it would have got.
      resolveDir: args.path,
      loader: 'js',
    }));
  },
};

// yargs() guesses the program's version at once, walking up from the main
// file and reading each package.json on the way: 8 ms of every command's
// start, for a version lib/cli.ts then sets itself. The guess is left out;
// the build fails if yargs' source no longer has it where it was.
const noVersionGuess = {
  name: 'no-version-guess',
  setup(build) {
    build.onLoad({ filter: /[\\/]yargs[\\/]build[\\/]lib[\\/]yargs-factory\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const guess = '        yargs.help();\n        yargs.version();\n';
      if (!src.includes(guess)) throw new Error(`${args.path}: yargs.version() is no longer where scripts/bundle.mjs drops it`);
      return { contents: src.replace(guess, '        yargs.help();\n'), loader: 'js' };
    });
  },
};

// esbuild rejects on errors (and prints them): the build then fails with it.
await esbuild.build({
  plugins: [lazyStringWidth, noVersionGuess],
  entryPoints: [join(root, 'bin/gilpipe.ts')],
  // Each command a chunk of its own, loaded when it runs (bin/gilpipe.ts); the
  // chunks beside the entry, so a module finds the files it looks for from
  // its own place (record/python, package.json) as from the entry's.
  outdir: join(root, 'dist'),
  entryNames: '[name]',
  chunkNames: 'gilpipe-[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  // through2 builds on readable-stream, a copy of Node's streams for other
  // runtimes: 150 KB of modules compiled at every start (20 ms of CPU), and
  // a slower Transform on every piped input. On Node it gets Node's own.
  alias: { 'readable-stream': 'node:stream' },
  minifyWhitespace: true,
  // The CommonJS packages inside (yargs' parts, through2) call require: an ES module has none of its own.
  banner: { js: "import { createRequire as gilpipeCreateRequire } from 'node:module';\nconst require = gilpipeCreateRequire(import.meta.url);" },
  define: { BUNDLED_PACKAGE: JSON.stringify({ name: pkg.name, version: pkg.version }) },
  logLevel: 'warning',
});

// tsc's own dist/bin/ files are replaced: its gilpipe.js would import launchers, not modules.
for (const f of ['gilpipe.js', 'gilpipe.js.map', ...Object.values(pkg.bin).map((p) => `${p.slice('dist/bin/'.length)}.map`)]) rmSync(join(root, 'dist/bin', f), { force: true });
for (const [name, path] of Object.entries(pkg.bin)) {
  const file = join(root, path);
  writeFileSync(file, `#!/usr/bin/env node\n// ${name}: every command is in ../gilpipe.mjs (scripts/bundle.mjs); it runs the one this file is named after.\nimport '../gilpipe.mjs';\n`);
  chmodSync(file, 0o755);
}
