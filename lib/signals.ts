// The one Ctrl-C policy: stop reading, let the command flush what it has,
// then exit 130; a second Ctrl-C exits at once.
import { EXIT_INTERRUPTED } from './errors.js';

/**
 * Inputs that are pipes keep draining after the first Ctrl-C, since the
 * producer upstream got the same signal and is about to close them; that way
 * nothing it flushed is lost.
 */
export class Interrupt {
  requested = false;
  private listeners: Array<() => void> = [];
  constructor() {
    process.on('SIGINT', () => {
      if (this.requested) process.exit(EXIT_INTERRUPTED);
      this.requested = true;
      for (const l of this.listeners) l();
    });
  }
  /** Calls fn on the first Ctrl-C; returns a function that stops that. */
  onRequest(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }
  /** The exit code of a command that ran to here: 130 after Ctrl-C, else 0. */
  get exitCode(): number {
    return this.requested ? EXIT_INTERRUPTED : 0;
  }
}
