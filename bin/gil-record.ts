#!/usr/bin/env node
// gil-record: run a Python program (or attach to one) under perf with GIL
// probes, then turn the recording into gil-trace.json and the gil-stats table.
import { cli, runWhenMain, run, Reporter, parseDuration } from '../lib/cli.js';
import { UsageError } from '../lib/errors.js';
import { checkOutputPath } from '../lib/io.js';
import { RecordError } from '../record/errors.js';
import { checkPid, describeInterpreter, findInterpreter } from '../record/interpreter.js';
import { runPipeline } from '../record/pipeline.js';
import { defaultMmapSize, lostAdvice } from '../record/perf-record.js';
import { checkLive, recordLive } from '../record/live.js';
import { lockRecording } from '../record/lock.js';
import { planForInterpreter } from '../record/probes.js';
import { finishPyStacks, planPyStacks } from '../record/py-stacks.js';
import { Recorder, recordingStatus, type Target } from '../record/session.js';
import { checkSystem } from '../record/system.js';

const prog = 'gil-record';

export async function main(args: string[]): Promise<void> {
  const y = cli(prog, '$0 [options] -- python script.py [args...]\n$0 [options] --pid PID [--duration 10s]', [
    ['sudo $0 -- python app.py', 'record app.py, write gil-trace.json, print the GIL table'],
    ['sudo $0 --pid 4242 --duration 10s', 'attach to a running service for 10 seconds'],
    ['sudo $0 --record-only -- python app.py', 'keep just perf.data for later: perf-parse -i perf.data | gil-state | gil-stats'],
  ], args)
    .option('output', { alias: 'o', type: 'string', default: 'gil-trace.json', requiresArg: true, describe: 'the trace file (Chrome/Perfetto JSON)' })
    .option('perf-data', { type: 'string', default: 'perf.data', requiresArg: true, describe: "where perf writes its recording (kept; an old one becomes .old, as perf does)" })
    .option('pid', { alias: 'p', type: 'string', requiresArg: true, coerce: checkPid, describe: 'attach to this running process instead of running a command' })
    .option('duration', {
      alias: 'd',
      type: 'string',
      requiresArg: true,
      coerce: (text: string) => parseDuration(text) / 1e9,
      describe: 'with --pid: record this long (10s, 500ms); default until Ctrl-C',
    })
    .option('python', { type: 'string', requiresArg: true, describe: 'the interpreter the command runs, when gil-record cannot tell' })
    .option('probes', { type: 'boolean', default: true, describe: 'probe take_gil/drop_gil (--no-probes: scheduler events only)' })
    .option('fallback', { type: 'boolean', default: true, describe: 'on a stripped interpreter, probe libc pthread_cond_timedwait (--no-fallback: fail instead)' })
    .option('stacks', { type: 'boolean', default: false, describe: 'DWARF call stacks on sched_switch (only there: stacks on every probe hit lose events)' })
    .option('py-stacks', {
      type: 'boolean',
      default: false,
      describe: 'Python functions in the stacks: the interpreter\'s perf support (3.12+), DWARF stacks on GIL probes and sched_switch',
    })
    .option('states', { type: 'string', requiresArg: true, describe: "keep gil-state's records in FILE (.gz compresses), for jq and gil-stats options" })
    .option('record-only', { type: 'boolean', default: false, describe: 'stop after perf record: keep perf.data, make no trace' })
    .option('viztracer', { type: 'boolean', default: false, describe: 'run the program under VizTracer too and merge both traces' })
    .option('mmap-pages', { alias: 'm', type: 'string', requiresArg: true, describe: "perf's ring buffer per CPU (pages, or a size: 4M); default 16M (less beyond 16 CPUs); more loses fewer events" })
    .option('live', { type: 'boolean', default: false, describe: 'GIL wait and hold every --every as they happen (a screen on a terminal, else NDJSON records), the whole-run table on stderr at the end; keeps no perf.data, writes no trace' })
    .option('every', { type: 'string', requiresArg: true, coerce: parseDuration, describe: 'with --live: the interval (default 1s; 500ms, 10s)' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: "don't echo perf's own messages" })
    .parserConfiguration({ 'halt-at-non-option': true, 'populate--': true });

  const argv = y.parseSync() as ReturnType<typeof y.parseSync> & { '--'?: Array<string | number>; pid?: number; duration?: number };
  // Everything after the options is the command to record, so yargs never
  // sees `completion` as its command: alone and without --, it is that.
  if (args.length === 1 && args[0] === 'completion') {
    y.showCompletionScript();
    return;
  }

  await run(prog, async () => {
    const say = new Reporter(prog);
    const target: Target = { command: [...argv._, ...(argv['--'] ?? [])].map(String), pid: argv.pid, durationS: argv.duration };
    if (target.pid === undefined && target.command.length === 0) throw new UsageError('give a command after --, or --pid PID (try --help)');
    if (target.pid !== undefined && target.command.length > 0) throw new UsageError('give either a command or --pid, not both');
    if (target.durationS !== undefined && target.pid === undefined) throw new UsageError('--duration goes with --pid (a command records until it exits)');
    if (argv.viztracer && target.pid !== undefined) throw new UsageError('--viztracer runs the program itself: it cannot attach to --pid');
    // What would fail after the recording fails now, before anything is added or run.
    if (argv['perf-data'] === '') throw new UsageError('--perf-data wants a file name');
    if (!argv['record-only'] && !argv.live) checkOutputPath('-o', argv.output);
    if (argv.states !== undefined) checkOutputPath('--states', argv.states);
    if (argv['mmap-pages'] !== undefined && !/^\d+[BKMG]?(,\d+[BKMG]?)?$/i.test(argv['mmap-pages'])) {
      throw new UsageError(`-m ${argv['mmap-pages']}: not a number of pages (16) nor a size (4M, 512K)`);
    }
    const vizOut = argv.viztracer ? `${argv.output.replace(/\.json$/, '')}.viztracer.json` : undefined;

    const recorder = new Recorder(say);
    try {
      if (argv.live || argv.every !== undefined) checkLive(argv);
      // 1. Can this machine record at all?
      await checkSystem(argv.probes);

      // 2. Which interpreter, and where its GIL lives.
      const interp = await findInterpreter({ ...target, python: argv.python });
      say.say(describeInterpreter(interp));
      const plan = await planForInterpreter(interp, { noProbes: !argv.probes, fallback: argv.fallback });
      for (const note of plan.notes) say.say(note);
      if (argv.live) {
        const live = { target, interp, specs: plan.specs, stacks: argv.stacks, mmapPages: argv['mmap-pages'] ?? defaultMmapSize(), quiet: argv.quiet };
        return await recordLive(recorder, live, { everyNs: argv.every ?? 1e9, screen: process.stdout.isTTY === true, say });
      }
      const py = argv['py-stacks'] ? planPyStacks(interp, target.pid) : undefined;
      for (const note of py?.notes ?? []) say.say(note);

      // 3. perf record, with probes in a group of our own, removed whatever happens;
      // no other gil-record may write the same perf.data meanwhile.
      const unlock = lockRecording(argv['perf-data']);
      const mmap = argv['mmap-pages'] ?? defaultMmapSize();
      const started = Date.now();
      const rec = await recorder.record({
        target,
        interp,
        specs: plan.specs,
        perfData: argv['perf-data'],
        stacks: argv.stacks,
        pyStacks: py,
        mmapPages: mmap,
        quiet: argv.quiet,
        viztracer: vizOut,
      });

      // The interpreter's perf files: perf inject --jit, and a copy beside perf.data.
      if (py && rec.wrote && !rec.aborted) await finishPyStacks(py, argv['perf-data'], started, (m) => say.say(m));
      unlock();
      // 4. What perf did; the exit status is the command's own.
      const status = recordingStatus(rec, target, say, mmap);
      if (rec.aborted) return status;
      if (argv['record-only']) {
        say.say(`wrote ${argv['perf-data']}; later: perf-parse -i ${argv['perf-data']} | gil-state | gil-stats`);
        return status;
      }

      // 5. The pipeline: perf-parse | gil-state, then to-trace and gil-stats.
      const result = await runPipeline({ perfData: argv['perf-data'], output: argv.output, states: argv.states, viztracer: vizOut, say: (m) => say.say(m) });
      if (result.empty) return status;
      say.say(`perf lost ${result.lost} events${result.lost > 0 ? ': spans across those gaps are marked unknown' : ''}`);
      const advice = lostAdvice(result.lost, result.events, mmap);
      if (advice) say.say(advice);
      say.say(`wrote ${result.trace} (open it in https://ui.perfetto.dev or chrome://tracing) and kept ${argv['perf-data']}${argv.states ? ` and ${argv.states}` : ''}`);
      return status;
    } catch (e) {
      if (!(e instanceof RecordError)) throw e;
      for (const line of e.message.split('\n')) say.say(line);
      return e.exitCode;
    }
  });
}

runWhenMain(import.meta.url, main);
