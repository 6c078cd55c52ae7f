#!/usr/bin/env node
// npm test: tap in two lanes at once. The files of test/live record with
// perf, one at a time (tap's `serial`: they add uprobes and time what they
// record), and mostly wait on the programs they record: about one CPU of
// the two. The other files are CPU-bound on tap's two jobs. One lane after
// the other took about 290 + 205 s; side by side, 355 s. The live lane's
// report is held and printed after the other's, so the two never interleave.
// Arguments go to both lanes (`npm test -- --reporter=terse`).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tap = join(root, 'node_modules', '.bin', 'tap');
const args = process.argv.slice(2);
const live = readdirSync(join(root, 'test', 'live'))
  .filter((n) => n.endsWith('.test.ts'))
  .sort()
  .map((n) => `test/live/${n}`);

const lanes = [];
const run = (argv, held, env = process.env, nice = 0) =>
  new Promise((resolve) => {
    const child = spawn(tap, argv, { cwd: root, env, stdio: held ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    lanes.push(child);
    // Set before tap starts its test processes, which inherit it.
    if (nice !== 0 && child.pid !== undefined) {
      try {
        setPriority(child.pid, nice);
      } catch {
        // Not allowed here: both lanes at the same priority.
      }
    }
    const out = [];
    if (held) {
      child.stdout.on('data', (b) => out.push(b));
      child.stderr.on('data', (b) => out.push(b));
    }
    child.on('error', (e) => resolve({ code: 1, out: [Buffer.from(`npm test: cannot run ${tap}: ${e.message}\n`)] }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });

// Ctrl-C reaches both lanes from the terminal; a SIGTERM (a CI timeout) is
// passed on. A live run not started yet is not started after it.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    interrupted = true;
    for (const c of lanes) c.kill(sig);
  });
}

const files = `${live.length} file${live.length === 1 ? '' : 's'}`;
if (live.length > 0) process.stderr.write(`npm test: the ${files} of test/live run beside the others; their report follows.\n`);
// A tap run first builds tap's plugins when they changed (always, on a fresh
// clone), into node_modules: two runs at once would both build, into the same
// folder. The live run starts once the first has built, which its --before
// script says with a file.
const dir = mkdtempSync(join(tmpdir(), 'gilpipe-npm-test-'));
const ready = join(dir, 'ready');
let restDone = false;
// The live files time what they record: when both lanes want the CPUs, theirs
// come first: the other lane runs at nice 10 (its few recordings check what
// happened, not how long it took).
const restRun = run(['--before', 'scripts/test-ready.mjs', '--exclude', 'test/live/**', ...args], false, { ...process.env, GILPIPE_TEST_READY: ready }, 10).then((r) => {
  restDone = true;
  return r;
});
const liveRun = (async () => {
  if (live.length === 0) return { code: 0, out: [] };
  while (!existsSync(ready) && !restDone && !interrupted) await sleep(100);
  if (interrupted) return { code: 130, out: [Buffer.from('interrupted before it started\n')] };
  return run([...live, ...args], true);
})();
const [rest, recorded] = await Promise.all([restRun, liveRun]);
rmSync(dir, { recursive: true, force: true });
if (live.length > 0) {
  process.stdout.write(`\n--- test/live (${files}, run beside the others) ---\n`);
  for (const b of recorded.out) process.stdout.write(b);
}
process.exitCode = rest.code !== 0 ? rest.code : recorded.code;
