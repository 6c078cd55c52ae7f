// gil-record's own failure: a message for the user (one or more lines, each
// said on stderr) and the exit code it ends with.
import { EXIT_DATA } from '../lib/errors.js';

/** The shell's code for a command that is not found. */
export const EXIT_NOT_FOUND = 127;

export class RecordError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_DATA,
  ) {
    super(message);
  }
}

/** The first line with text in it, trimmed. */
export function firstLine(s: string): string {
  return (
    s
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? ''
  );
}
