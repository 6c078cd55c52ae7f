#!/usr/bin/env node
// npm run sea: gilpipe as one executable that needs no Node on the host, with
// Node's own single-executable-application support. esbuild bundles
// bin/gilpipe.ts (every command) into one CommonJS file, node makes the blob
// of it, postject injects the blob into a copy of this node.
//
//   node scripts/sea/build.mjs [--out DIR]     (default: dist/sea; makes DIR/gilpipe)
//
// The bundle is also stored in the executable as an asset: a worker thread
// (merge-trace's scans) has no file to run, so it runs that source.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const say = (msg) => process.stderr.write(`sea: ${msg}\n`);

const args = process.argv.slice(2);
let out = join(root, 'dist/sea');
if (args[0] === '--out' && args[1] !== undefined && args.length === 2) out = resolve(args[1]);
else if (args.length > 0) {
  say('usage: node scripts/sea/build.mjs [--out DIR]');
  process.exit(2);
}

// Both are devDependencies; a host without them cannot build, and says so.
let esbuild, postject;
try {
  esbuild = await import('esbuild');
  postject = fileURLToPath(import.meta.resolve('postject/dist/cli.js'));
} catch (e) {
  say(`esbuild and postject are needed (npm ci installs them): ${e.message}`);
  process.exit(1);
}

mkdirSync(out, { recursive: true });
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundle = join(out, 'gilpipe.cjs');
const started = Date.now();

// 1. One CommonJS file. import.meta is empty in CommonJS: its url becomes
// this file's (the executable's, in the SEA); the package's name and version
// are built in, for there is no package.json beside the executable.
const built = await esbuild.build({
  entryPoints: [join(root, 'bin/gilpipe.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifyWhitespace: true,
  legalComments: 'none',
  banner: { js: "const import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  define: {
    'import.meta.url': 'import_meta_url',
    BUNDLED_PACKAGE: JSON.stringify({ name: pkg.name, version: pkg.version }),
  },
  logLevel: 'warning',
});
if (built.errors.length > 0) process.exit(1);

// 2. The blob: the bundle as main script, and as the asset scan workers run.
const config = join(out, 'sea-config.json');
const blob = join(out, 'gilpipe.blob');
writeFileSync(
  config,
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets: { 'gilpipe.cjs': bundle } }, null, 2),
);
quietly(process.execPath, ['--experimental-sea-config', config]);

// 3. A copy of this node with the blob in it. The fuse is Node's: it tells the
// copy to run the blob instead of being node.
const exe = join(out, 'gilpipe');
copyFileSync(process.execPath, exe);
quietly(process.execPath, [postject, exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2']);

const mb = (f) => (statSync(f).size / 1e6).toFixed(1);
say(`${exe}: ${mb(exe)} MB (node ${process.version}, bundle ${mb(bundle)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);

/** Runs a step, showing what it printed only when it failed (postject's ELF reader warns of every note section it does not know). */
function quietly(cmd, argv) {
  try {
    execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    process.stderr.write(`${e.stdout ?? ''}${e.stderr ?? ''}`);
    say(`failed: ${cmd} ${argv.join(' ')}`);
    process.exit(1);
  }
}
