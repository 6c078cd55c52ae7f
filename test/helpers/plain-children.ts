// Loaded into every test process (package.json's tap.node-arg). tap hooks
// every spawn (process-on-spawn) to put its process-info loader into the
// child's NODE_OPTIONS, so that each process a test starts reports to it for
// coverage, which this suite does not collect. The loader cost each command
// a test spawns 0.4 s of CPU on start instead of 0.15 s, over a suite that
// spawns the commands thousands of times. Children start as a user starts
// them, with the NODE_OPTIONS the suite was run with, less tap's loader.
// (If tap's internals move, children only get the hook back: slower, not
// wrong.)
import { createRequire } from 'node:module';

try {
  (createRequire(import.meta.url)('process-on-spawn') as { removeAllListeners(): void }).removeAllListeners();
} catch {
  /* not tap's layout: nothing to take off */
}
// tap put its loader into this process's NODE_OPTIONS too, which children inherit.
const kept = (process.env.NODE_OPTIONS ?? '').match(/"(?:[^"\\]|\\.)*"|\S+/g)?.filter((o) => !o.includes('@tapjs/processinfo')) ?? [];
if (kept.length > 0) process.env.NODE_OPTIONS = kept.join(' ');
else delete process.env.NODE_OPTIONS;
