// A watchdog for the one case gil-record cannot handle itself: being killed
// (SIGKILL, the OOM killer). perf would go on recording until the workload
// ended, then die of SIGPIPE writing its last message to our closed stderr
// pipe before it wrote the perf.data header ("data size field is 0"), and
// our uprobes would stay in the kernel.
//
// perf runs with SIGPIPE ignored (runRecord), so our closed stderr cannot
// kill it. The watchdog is a small shell in a session of its own (so the
// terminal's Ctrl-C does not reach it), started beside perf, blocked reading
// a pipe from us. A normal run tells it "done" and it exits. If we die, that
// pipe reaches end-of-file with no word: it stops perf with SIGINT (perf then
// writes a whole perf.data and ends the workload, as on Ctrl-C), waits for
// perf to let go of the probes, removes them, and says so on our old stderr.
import { type ChildProcess, spawn } from 'node:child_process';

// $1 perf's pid, $2 the probe group ('' for none), $3 "pid" when perf was
// attached to a running program (--pid), which it leaves running. perf is nobody's child
// once we are gone and may linger as a zombie until reaped: its state, not
// its pid, says it is done.
export const WATCHDOG_SCRIPT = `
read -r word
[ "$word" = done ] && exit 0
kill -INT "$1" 2>/dev/null || exit 0
while [ -e "/proc/$1" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; do sleep 0.1; done
if [ "$3" = pid ]; then ended="left the program it was attached to running"; else ended="ended the program"; fi
msg="gil-record was killed: stopped perf (pid $1), which wrote a complete perf.data and $ended"
if [ -n "$2" ]; then
  # The probe keeper (record/probe-keeper.ts) ends with us but may hold the probes a moment longer.
  i=0 removed=
  while [ $i -le 30 ]; do
    if perf probe -q -d "$2:*" >/dev/null 2>&1; then removed=1; break; fi
    i=$((i+1)); sleep 0.1
  done
  if [ -n "$removed" ]; then msg="$msg; removed the probes $2:*"
  else msg="$msg; could not remove the probes $2:* (remove them with: perf probe -d '$2:*'; the next gil-record also does)"; fi
fi
echo "gil-record: $msg" >&2
`;

export interface Watchdog {
  /** The run ended normally: perf has exited and the probes are ours to remove. */
  done(): void;
}

/**
 * Starts the watchdog for a running perf; `group` is the probe group to
 * remove if we are killed; `attached`: perf records a running program (--pid).
 */
export function watchPerf(perfPid: number, group: string | undefined, attached = false): Watchdog {
  let child: ChildProcess | undefined;
  try {
    child = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'gil-record-watchdog', String(perfPid), group ?? '', attached ? 'pid' : 'command'], {
      stdio: ['pipe', 'ignore', 'inherit'],
      detached: true,
    });
    child.on('error', () => undefined); // no sh: run without a watchdog rather than fail the recording
    child.stdin?.on('error', () => undefined);
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  } catch {
    child = undefined;
  }
  return {
    done(): void {
      if (!child?.stdin || child.stdin.destroyed) return;
      child.stdin.end('done\n');
    },
  };
}
