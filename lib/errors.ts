// Exit codes and the two kinds of error a user can cause.

export const EXIT_OK = 0;
/** Input that cannot be used, or a failure while running. */
export const EXIT_DATA = 1;
/** The invocation is wrong (an unknown option, a missing file). */
export const EXIT_USAGE = 2;
/** Ended by Ctrl-C (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;
/** Ended by SIGHUP, the terminal gone (128 + SIGHUP). */
export const EXIT_HUNG_UP = 129;
/** Ended by SIGTERM (128 + SIGTERM). */
export const EXIT_TERMINATED = 143;

/** A problem with the invocation: exit 2. */
export class UsageError extends Error {}
/** Input that cannot be used: exit 1, message without a stack trace. */
export class DataError extends Error {}
/** An input that broke off (truncated, corrupt) after the records before the break went through: exit 1. */
export class BrokenInputError extends DataError {}
