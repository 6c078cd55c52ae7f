#!/usr/bin/env node
// gil-record: run a Python program (or attach to one) under perf with GIL
// probes, then turn the recording into gil-trace.json and the gil-stats table.
import { cli, run, Reporter, UsageError, parseDuration } from '../lib/cli.js';
import {
  ProbeGroup,
  RecordError,
  interpreterOfCommand,
  interpreterOfPid,
  planForInterpreter,
  probeEvents,
  runPerf,
  listedEvents,
  staleGroups,
  checkPid,
} from '../lib/probes.js';
import {
  checkPerfRuns,
  explainRecordFailure,
  preflight,
  probeSystem,
  recordArgs,
  runRecord,
  runPipeline,
  viztracerAvailable,
  underViztracer,
} from '../lib/record.js';

const prog = 'gil-record';

const y = cli(prog, '$0 [options] -- python script.py [args...]\n$0 [options] --pid PID [--duration 10s]', [
  ['sudo $0 -- python app.py', 'record app.py, write gil-trace.json, print the GIL table'],
  ['sudo $0 --pid 4242 --duration 10s', 'attach to a running service for 10 seconds'],
  ['sudo $0 --record-only -- python app.py', 'keep just perf.data for later: perf-parse -i perf.data | gil-state | gil-stats'],
])
  .option('output', { alias: 'o', type: 'string', default: 'gil-trace.json', requiresArg: true, describe: 'the trace file (Chrome/Perfetto JSON)' })
  .option('perf-data', { type: 'string', default: 'perf.data', requiresArg: true, describe: "where perf writes its recording (kept; an old one becomes .old, as perf does)" })
  .option('pid', { alias: 'p', type: 'string', requiresArg: true, describe: 'attach to this running process instead of running a command' })
  .option('duration', { alias: 'd', type: 'string', requiresArg: true, describe: 'with --pid: record this long (10s, 500ms); default until Ctrl-C' })
  .option('python', { type: 'string', requiresArg: true, describe: 'the interpreter the command runs, when gil-record cannot tell' })
  .option('probes', { type: 'boolean', default: true, describe: 'probe take_gil/drop_gil (--no-probes: scheduler events only)' })
  .option('fallback', { type: 'boolean', default: true, describe: 'on a stripped interpreter, probe libc pthread_cond_timedwait (--no-fallback: fail instead)' })
  .option('stacks', { type: 'boolean', default: false, describe: 'DWARF call stacks on sched_switch (only there: stacks on every probe hit lose events)' })
  .option('states', { type: 'string', requiresArg: true, describe: "keep gil-state's records in FILE (.gz compresses), for jq and gil-stats options" })
  .option('record-only', { type: 'boolean', default: false, describe: 'stop after perf record: keep perf.data, make no trace' })
  .option('viztracer', { type: 'boolean', default: false, describe: 'run the program under VizTracer too and merge both traces' })
  .option('mmap-pages', { alias: 'm', type: 'string', requiresArg: true, describe: "perf's ring buffer size per CPU (pages or 4M); more loses fewer events" })
  .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "don't echo perf's own messages" })
  .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true });

const argv = y.parseSync() as ReturnType<typeof y.parseSync> & { '--'?: Array<string | number> };

await run(prog, async () => {
  const say = new Reporter(prog);
  const command = [...argv._, ...(argv['--'] ?? [])].map(String);
  const pid = argv.pid !== undefined ? checkPid(argv.pid) : undefined;
  if (pid === undefined && command.length === 0) throw new UsageError('give a command after --, or --pid PID (try --help)');
  if (pid !== undefined && command.length > 0) throw new UsageError('give either a command or --pid, not both');
  if (argv.duration !== undefined && pid === undefined) throw new UsageError('--duration goes with --pid (a command records until it exits)');
  if (argv.viztracer && pid !== undefined) throw new UsageError('--viztracer runs the program itself: it cannot attach to --pid');
  const durationS = argv.duration !== undefined ? parseDuration(argv.duration) / 1e9 : undefined;

  const group = new ProbeGroup();
  const stopEarly = signalsOutsideRecording(say);
  try {
    // 1. Can this machine record at all?
    const problems = preflight(probeSystem(), argv.probes);
    if (problems.length > 0) throw new RecordError(problems.join('\n'), 2);
    await checkPerfRuns();

    // 2. Which interpreter, and where its GIL lives.
    const interp = pid !== undefined ? interpreterOfPid(pid) : await interpreterOfCommand(command, process.env, argv.python);
    say.say(`interpreter: ${interp.exe}${interp.libpython ? ` with ${interp.libpython}` : ''} (Python ${interp.version ?? '?'}; ${interp.how})`);
    const plan = await planForInterpreter(interp, { noProbes: !argv.probes, fallback: argv.fallback });
    for (const note of plan.notes) say.say(note);

    // 3. Probes in a group of our own, removed whatever happens.
    stopEarly.group = group;
    const stale = staleGroups(listedEvents((await runPerf(['probe', '-l'])).stdout));
    for (const g of stale) {
      say.say(`removing probes left by a gil-record that was killed: ${g}`);
      await runPerf(['probe', '-q', '-d', `${g}:*`]);
    }
    process.on('exit', () => group.removeSync());
    let target = command;
    const vizOut = `${argv.output.replace(/\.json$/, '')}.viztracer.json`;
    if (argv.viztracer) {
      if (!(await viztracerAvailable(interp.exe))) {
        throw new RecordError(`--viztracer: VizTracer is not installed for ${interp.exe}: ${interp.exe} -m pip install viztracer`, 2);
      }
      target = underViztracer(command, vizOut);
    }
    let rec;
    try {
      stopEarly.disarm(); // perf record handles the signals while it runs
      const specs = await group.add(plan.specs);
      if (specs.length > 0) say.say(`probes: ${probeEvents(group.name, specs).join(' ')}`);
      say.say(pid !== undefined ? `recording pid ${pid} ${durationS !== undefined ? `for ${durationS} s` : 'until Ctrl-C'}...` : `recording: ${command.join(' ')}`);
      rec = await runRecord(
        recordArgs({ output: argv['perf-data'], probeEvents: probeEvents(group.name, specs), stacks: argv.stacks, pid, durationS, mmapPages: argv['mmap-pages'], command: target }),
        { quiet: argv.quiet },
      );
    } finally {
      await group.remove();
      const left = await group.list();
      if (left.length > 0) say.say(`WARNING: could not remove probes ${left.join(' ')}: perf probe -d '${group.name}:*'`);
      stopEarly.arm();
    }
    if (rec.aborted) {
      say.say(`${rec.signal === 'SIGTERM' ? 'terminated' : 'interrupted twice'}: probes removed, no trace made`);
      return rec.signal === 'SIGTERM' ? 143 : 130;
    }

    // 4. What perf did.
    if (!rec.wrote) throw new RecordError(explainRecordFailure(rec.stderr), 1);
    if (rec.lostWarning) say.say(`perf lost events while recording (${rec.lostWarning}); try a bigger buffer: -m 16M`);
    // Ctrl-C is how an attached recording normally ends; a command that was
    // interrupted ends as interrupted commands do (130), after the pipeline.
    const targetCode = rec.signal !== undefined ? (pid === undefined ? 130 : 0) : pid === undefined ? rec.exitCode : 0;
    if (rec.signal !== undefined) say.say(`stopped by ${rec.signal}: processing what was recorded`);
    if (targetCode !== 0 && rec.signal === undefined) say.say(`${command[0]} exited with status ${targetCode} (gil-record passes it on)`);
    if (argv['record-only']) {
      say.say(`wrote ${argv['perf-data']}; later: perf-parse -i ${argv['perf-data']} | gil-state | gil-stats`);
      return targetCode;
    }

    // 5. The pipeline: perf-parse | gil-state, then to-trace and gil-stats.
    const result = await runPipeline({
      perfData: argv['perf-data'],
      output: argv.output,
      states: argv.states,
      viztracer: argv.viztracer ? vizOut : undefined,
      say: (m) => say.say(m),
    });
    say.say(`perf lost ${result.lost} events${result.lost > 0 ? ': spans across those gaps are marked unknown' : ''}`);
    say.say(`wrote ${result.trace} (open it in https://ui.perfetto.dev or chrome://tracing) and kept ${argv['perf-data']}${argv.states ? ` and ${argv.states}` : ''}`);
    return targetCode;
  } catch (e) {
    if (e instanceof RecordError) {
      for (const line of e.message.split('\n')) say.say(line);
      return e.exitCode;
    }
    throw e;
  }
});

/** Ctrl-C or SIGTERM while not recording: remove our probes (if any) and exit as interrupted. */
function signalsOutsideRecording(say: Reporter) {
  const handler = (sig: NodeJS.Signals): void => {
    const had = ctl.group?.added === true;
    ctl.group?.removeSync();
    say.say(`${sig === 'SIGINT' ? 'interrupted' : 'terminated'}${had ? ': probes removed' : ''}`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  const ctl = {
    group: undefined as ProbeGroup | undefined,
    arm(): void {
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
    },
    disarm(): void {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
  ctl.arm();
  return ctl;
}
