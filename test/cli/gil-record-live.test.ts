// gil-record --live's usage errors: said before anything is checked or
// recorded (no root needed), exit 2.
import t from 'tap';
import { runBin } from '../helpers/run.js';

for (const [args, msg] of [
  [['--live', '--every', '0', '--pid', '1'], /--every wants at least 100ms, not 0 ms/],
  [['--live', '--every', '50ms', '--', 'true'], /--every wants at least 100ms, not 50 ms/],
  [['--every', '2s', '--pid', '1'], /--every goes with --live/],
  [['--live', '--record-only', '--pid', '1'], /--live keeps no perf\.data and writes no trace: it cannot go with --record-only/],
  [['--live', '--viztracer', '--', 'python3', 'app.py'], /cannot go with --viztracer/],
  [['--live', '--states', 's.ndjson', '--pid', '1'], /cannot go with --states/],
  [['--live', '--py-stacks', '--pid', '1'], /cannot go with --py-stacks/],
] as const) {
  t.test(args.join(' '), async (t) => {
    const r = await runBin('gil-record', [...args]);
    t.equal(r.exitCode, 2, 'exit 2');
    t.match(String(r.stderr), msg);
    t.notMatch(String(r.stderr), /\n\s+at /, 'no stack trace');
  });
}
