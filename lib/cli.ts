// The command-line contract every command shares: options and --help
// through yargs, diagnostics on stderr as `PROG: FILE:LINE: message`, bad
// lines counted and summarised once (or fatal with --strict), errors mapped
// to exit codes (lib/errors.ts) with no stack trace for the user. Bytes in and
// out are lib/io.ts's; Ctrl-C is lib/signals.ts's.
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { basename, dirname, join } from 'node:path';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { DataError, EXIT_DATA, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import type { Context, Where } from './filter.js';
import { forTerminalLines } from './escape.js';
import { holdHeapGrowthIn } from './heap.js';

/**
 * Set by the bundlers (scripts/bundle.mjs, scripts/sea/build.mjs) to the
 * package a bundle was made from: a single executable has no package.json
 * beside it, and in a bundle the multi-call entry (bin/gilpipe.ts), not the
 * module, decides which command runs.
 */
declare const BUNDLED_PACKAGE: { name: string; version: string } | undefined;

/** The name and version of the package these commands come from. */
export function packageInfo(): { name: string; version: string } {
  if (typeof BUNDLED_PACKAGE !== 'undefined') return BUNDLED_PACKAGE;
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', 'package.json'), join(here, '..', '..', 'package.json')]) {
    try {
      const j = JSON.parse(readFileSync(p, 'utf8'));
      return { name: String(j.name), version: String(j.version) };
    } catch {
      /* try the next layout (source vs dist) */
    }
  }
  return { name: 'unknown', version: '0.0.0' };
}

export function version(): string {
  return packageInfo().version;
}

/** Set to show stack traces of internal errors: NAME_DEBUG=1, after the package's name. */
export function debugVariable(): string {
  return `${packageInfo().name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DEBUG`;
}

/** `FILE:` (or `FILE:LINE:`) in the message, at its start or after a space or a parenthesis: it names the input already. */
function namesInput(msg: string, input: string): boolean {
  for (let i = msg.indexOf(`${input}:`); i !== -1; i = msg.indexOf(`${input}:`, i + 1)) {
    if (i === 0 || ' ('.includes(msg[i - 1]!)) return true;
  }
  return false;
}

/**
 * Writes `PROG: message` lines to stderr; the only channel for diagnostics.
 * Given the command's inputs, every message names them (`gil-state:
 * host-a/0042.perf.data: ...`) unless it already does, so the notes of jobs
 * run side by side (make -j, parallel) can be told apart.
 */
export class Reporter {
  /** How the messages name the input: its name, the first and how many more, or nothing for stdin. */
  readonly input: string | undefined;
  /** Each input's name as messages give it (stdin for -): a message that names one needs no other. */
  private readonly names: readonly string[];
  constructor(
    readonly prog: string,
    inputs: readonly string[] = [],
  ) {
    this.names = inputs.map((f) => (f === '-' ? 'stdin' : f));
    const named = inputs.filter((f) => f !== '-');
    if (named.length === 1 && inputs.length === 1) this.input = named[0];
    else if (named.length > 0) this.input = `${inputs[0] === '-' ? 'stdin' : inputs[0]} and ${inputs.length - 1} more input${inputs.length > 2 ? 's' : ''}`;
  }
  /** A message may quote the input (a name, a line): it reaches the terminal escaped. */
  say(msg: string): void {
    const named = this.input === undefined || [this.input, ...this.names].some((n) => namesInput(msg, n)) ? msg : `${this.input}: ${msg}`;
    process.stderr.write(`${this.prog}: ${forTerminalLines(named)}\n`);
  }
}

/**
 * Counts the lines a stage could not use, and is the Context its filters
 * report them through. Lenient (default): skip, count, and summarise once at
 * the end. Strict: the first one is fatal (exit 1).
 */
export class BadInput implements Context {
  readonly where: Where = { file: 'stdin', line: 0, blank: 0 };
  count = 0;
  constructor(
    private readonly reporter: Reporter,
    private readonly strict: boolean,
    private readonly what = 'malformed line',
  ) {}
  /** Of the current input: how many, and the first. */
  private inInput = 0;
  private firstInInput: string | undefined;
  /** The first problem of an ended input that was not unreadable: the summary's first. */
  private firstReadable: string | undefined;
  /** Inputs none of whose lines could be used, with their first problem: the wrong file, not a line gone bad. */
  private readonly unreadable: Array<{ file: string; why: string; count: number }> = [];
  /** The unreadable inputs were raised as the run's error. */
  private raised = false;
  malformed(why: string): void {
    this.count++;
    const where = `${this.where.file}:${this.where.line}: ${why}`;
    if (this.inInput++ === 0) this.firstInInput = where;
    if (this.strict) throw new DataError(where);
  }
  /** The driver begins an input. */
  startInput(name: string): void {
    this.where.file = name;
    this.where.line = 0;
    this.where.blank = 0;
    this.inInput = 0;
    this.firstInInput = undefined;
  }
  /**
   * The driver read an input to its end: if every line of it that is not
   * blank was unusable (a binary input has no lines), it is kept as
   * unreadable, to be raised once the output is written.
   */
  endInput(): void {
    const lines = this.where.line - (this.where.blank ?? 0);
    if (lines > 0 && this.inInput >= lines) {
      const what = lines === 1 ? 'its one line could not be read' : `none of its ${lines} lines could be read`;
      this.unreadable.push({ file: this.where.file, why: `${this.where.file}: ${what} (first: ${this.firstInInput})`, count: this.inInput });
    } else this.firstReadable ??= this.firstInInput;
  }
  /**
   * The error the run ends with when an input was unreadable (the first,
   * and the names of the others); those inputs are then left out of the
   * summary of skipped lines. Undefined when none was.
   */
  unreadableError(): DataError | undefined {
    const [first, ...more] = this.unreadable;
    if (first === undefined) return undefined;
    this.raised = true;
    const names = [...new Set(more.map((u) => u.file))];
    const list = names.slice(0, 3).join(', ') + (names.length > 3 ? ` and ${names.length - 3} more` : '');
    return new DataError(more.length === 0 ? first.why : `${first.why}; no line of ${list} could be read either`);
  }
  /** The current input broke off (lib/filter.ts `broken`): the driver raises it once the input's records are out. */
  brokenInput: string | undefined;
  broken(why: string): void {
    this.brokenInput ??= `${this.where.file}: ${why}`;
  }
  summarise(): void {
    // Strict: the first one stopped the run, and its error says so; nothing was skipped.
    if (this.strict) return;
    // The unreadable inputs are named apart: by the run's error, else here
    // (Ctrl-C, or another input broke off first), so none goes unnamed.
    if (!this.raised) for (const u of this.unreadable) this.reporter.say(u.why);
    let count = this.count;
    for (const u of this.unreadable) count -= u.count;
    // The current input's, for a driver that does not end inputs (or a run stopped inside one).
    const first = this.firstReadable ?? this.firstInInput;
    if (count <= 0) return;
    const plural = count === 1 ? this.what : `${this.what}s`;
    this.reporter.say(`skipped ${count} ${plural} (first: ${first})`);
  }
}

// The command cli() was called for: under `gilpipe perf-parse`, argv[1] is gilpipe.
let running: string | undefined;

/** The name of the command this process runs, for messages made outside its Reporter. */
export function commandName(): string {
  return running ?? basename(process.argv[1] ?? '', '.js');
}

/** True in a bundle: dist/gilpipe.mjs, or the single executable's. */
export function inBundle(): boolean {
  return typeof BUNDLED_PACKAGE !== 'undefined';
}

/** A command's body: what it does with its arguments (those after its name). */
export type Main = (args: string[]) => Promise<void>;

/**
 * Runs a command's main when its module is the script node was started with
 * (`node dist/bin/perf-parse.js`, or an npm link to it), and not when the
 * multi-call entry bin/gilpipe.ts imports it.
 */
export function runWhenMain(moduleUrl: string, main: Main): void {
  if (inBundle() || process.argv[1] === undefined) return;
  let script: string;
  try {
    script = realpathSync(process.argv[1]);
  } catch {
    return;
  }
  if (script === fileURLToPath(moduleUrl)) void main(hideBin(process.argv));
}

/**
 * The yargs skeleton every command starts from: its usage line, examples,
 * -o, --strict, --help, --version, shell completion, and exit 2 on a usage error.
 */
export function cli(prog: string, usage: string, examples: Array<[string, string]>, args: string[], repeatable: readonly string[] = []): Argv {
  running = prog;
  let y = yargs(args)
    .scriptName(prog)
    .usage(usage)
    .version(version())
    .help()
    .alias('h', 'help')
    .alias('V', 'version')
    // `PROG completion` prints a bash script (zsh when $SHELL is zsh) that asks
    // `PROG --get-yargs-completions` for the options as the words are typed.
    .completion('completion', `print a ${prog} completion script for bash or zsh: source <(${prog} completion) in ~/.bashrc or ~/.zshrc`)
    .strictOptions()
    // Help that goes to a pipe or a file is not wrapped: what reads it (a pager, the man page generator) wraps for its own width.
    .wrap(process.stdout.isTTY ? Math.min(100, process.stdout.columns) : null)
    .fail((msg, err) => {
      // yargs reports its own parse errors (`-i` without a value) as a YError:
      // those are usage errors, not bugs, and get no stack trace. A check's
      // refusal comes as its text.
      if (typeof err === 'string') [msg, err] = [err, undefined as unknown as Error];
      if (err instanceof UsageError) [msg, err] = [err.message, undefined as unknown as Error];
      if (err && err.name !== 'YError') throw err;
      if (err && !msg) msg = err.message;
      process.stderr.write(`${prog}: ${forTerminalLines(msg)}\nTry '${prog} --help'.\n`);
      process.exit(EXIT_USAGE);
    });
  for (const [cmd, what] of examples) y = y.example(cmd, what);
  // An option given twice arrives as an array, which no code of a one-value
  // option expects ("output.replace is not a function", "text.split is not a
  // function" in a coerce): a usage error, unless the option is one that
  // repeats (an array option, or `repeatable`: --label, --shift, parsed from
  // their list by their coerce). Every other option gets a coerce that says
  // so, yargs' first look at its value, before the option's own coerce.
  const option = y.option.bind(y) as (key: string, o?: Record<string, unknown>) => Argv;
  (y as unknown as { option: typeof option }).option = (key, o) => {
    if (o?.array === true || repeatable.includes(key)) return option(key, o);
    const coerce = o?.coerce as ((v: unknown) => unknown) | undefined;
    return option(key, {
      ...o,
      coerce: (v: unknown) => {
        if (Array.isArray(v)) throw new UsageError(twiceMessage(key));
        return coerce === undefined ? v : coerce(v);
      },
    });
  };
  return y;
}

const twiceMessage = (name: string): string => `${name.length > 1 ? '--' : '-'}${name} was given more than once: give it once`;

export const outputOption = {
  alias: 'o',
  type: 'string',
  describe: 'write to FILE instead of stdout (.gz compresses)',
  requiresArg: true,
} as const;

export const strictOption = {
  type: 'boolean',
  default: false,
  describe: 'stop at the first malformed line (exit 1) instead of skipping it',
} as const;

/**
 * Runs a command body: maps errors to messages and exit codes. No user ever
 * sees a stack trace for bad input; the debug variable (debugVariable()) shows them for bugs.
 */
export async function run(prog: string, body: () => Promise<number | void>): Promise<void> {
  let code: number;
  holdHeapGrowthIn();
  // stderr read by something that went (`2>&1 | head`): the messages have
  // nowhere to go, the work goes on (gil-record still has probes to remove).
  // Unhandled, the write's EPIPE was a stack trace and an abandoned run.
  process.stderr.on('error', () => undefined);
  try {
    code = (await body()) ?? EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${prog}: ${forTerminalLines(e.message)}\n`);
      code = EXIT_USAGE;
    } else if (e instanceof DataError) {
      process.stderr.write(`${prog}: ${forTerminalLines(e.message)}\n`);
      code = EXIT_DATA;
    } else {
      const err = e as Error;
      process.stderr.write(`${prog}: internal error: ${forTerminalLines(err?.message ?? String(e))}\n`);
      const debug = debugVariable();
      if (process.env[debug]) process.stderr.write(`${err?.stack}\n`);
      else process.stderr.write(`${prog}: (set ${debug}=1 for details, and please report it)\n`);
      code = EXIT_DATA;
    }
  }
  process.exitCode = code;
}

/** Parses `10ms`, `1.5s`, `250us`, `100000ns`, `2m` into integer nanoseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|min)?\s*$/.exec(text);
  if (!m) throw new UsageError(`not a duration: '${text}' (examples: 10ms, 1.5s, 250us)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, min: 60e9 };
  return Math.round(n * mult[unit]!);
}

/** A count of lines read, on stderr once a second while a long input is read, when a person is watching. */
export function progress(prog: string, lines: () => number): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  const timer = setInterval(() => process.stderr.write(`\r${prog}: ${lines().toLocaleString('en')} lines read`), 1000);
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}
