// Can this machine run gil-record for real: root, perf that records
// tracepoints, uprobes in tracefs, and an interpreter with symbols. The
// reason it cannot, for a test's skip, or false.
import { execa } from 'execa';
import { existsSync } from 'node:fs';

export const PY = process.env.GILPIPE_PYTHON ?? '/root/.pyenv/versions/3.11.7/bin/python';

export async function whyNotRecord(py = PY): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'not root: uprobes and tracepoints need root';
  if ((await execa('perf', ['--version'], { reject: false })).exitCode !== 0) return 'perf is not installed';
  if (!existsSync('/sys/kernel/tracing/uprobe_events') && !existsSync('/sys/kernel/debug/tracing/uprobe_events')) return 'no uprobe_events in tracefs';
  if (!existsSync(py)) return `${py} is missing (set GILPIPE_PYTHON to an interpreter with symbols)`;
  const r = await execa('perf', ['record', '-q', '-o', '/dev/null', '-e', 'sched:sched_switch', '--', 'true'], { reject: false });
  if (r.exitCode !== 0) return `perf cannot record tracepoints here: ${String(r.stderr).trim().split('\n')[0]}`;
  return false;
}
