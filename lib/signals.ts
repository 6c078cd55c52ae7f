// The one policy for Ctrl-C and SIGTERM. The first stops the reading: a file
// at once, a pipe within a grace second (the producer upstream got the same
// signal and is flushing its last lines into it); what was read is then
// finished, written whole, and the command exits 130 (SIGINT) or 143
// (SIGTERM), saying the output is partial. Whatever the input is doing (a
// FIFO nobody writes, a stalled pipe), the command is gone within the
// deadline; a second signal ends it at once (then as the signal itself ends a
// process, which a shell reports as the same 130 or 143). An -o file is then either
// complete or not there: Output removes its temp file on every exit.
import { EXIT_INTERRUPTED, EXIT_TERMINATED } from './errors.js';

/** How long a pipe may go on after the first signal. */
export const GRACE_MS = 500;
/** By then the command is gone, whatever it was waiting for. */
export const DEADLINE_MS = 1000;

export type StopSignal = 'SIGINT' | 'SIGTERM';

export function exitCodeOf(sig: StopSignal): number {
  return sig === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED;
}

/**
 * Ends the process as the signal would: the exit handlers run first (they
 * remove half-written files), then the signal is raised again with its
 * default action, which the shell reports as 128 + its number. Not
 * process.exit: a thread of libuv's pool blocked in open() on a FIFO that no
 * one writes would hold exit() forever.
 */
function die(sig: StopSignal): void {
  process.emit('exit', exitCodeOf(sig));
  process.removeAllListeners(sig);
  process.kill(process.pid, sig);
}

export class Interrupt {
  /** The signal that asked to stop, once one did. */
  signal: StopSignal | undefined;
  private listeners: Array<() => void> = [];

  /** `handle: false`: a run inside a command that handles signals itself (gil-record). */
  constructor(opts: { handle?: boolean } = {}) {
    if (opts.handle === false) return;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => this.stop(sig));
  }

  get requested(): boolean {
    return this.signal !== undefined;
  }

  private stop(sig: StopSignal): void {
    if (this.signal !== undefined) return die(this.signal);
    this.signal = sig;
    setTimeout(() => die(sig), DEADLINE_MS).unref();
    for (const l of this.listeners) l();
  }

  /** Calls fn on the first signal; returns a function that stops that. */
  onRequest(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  /** The exit code of a command that ran to here: 130 or 143 after a signal, else 0. */
  get exitCode(): number {
    return this.signal === undefined ? 0 : exitCodeOf(this.signal);
  }

  /** The note a command makes when a signal cut its input short. */
  get partialNote(): string | undefined {
    if (this.signal === undefined) return undefined;
    return `${this.signal === 'SIGINT' ? 'interrupted' : 'terminated'}: the output holds what was read before, not all of the input`;
  }
}
