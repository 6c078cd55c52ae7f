// Trace Event times are microseconds; the records' are integer nanoseconds.
// Text is built from the integer, never from a float division, so a time
// prints as exactly the nanosecond it was ("154053896.361"), and a duration
// printed as end - start (both already whole nanoseconds) makes Perfetto's
// llround(ts * 1000) land every slice end exactly where the next one starts.

/** `ns` (a non-negative safe integer) as microseconds with 3 decimals. */
export function usText(ns: number): string {
  const us = Math.floor(ns / 1000);
  const frac = ns - us * 1000;
  return us + (frac >= 100 ? '.' : frac >= 10 ? '.0' : '.00') + frac;
}

/**
 * Parses a time in seconds as perf prints it (`154.053896361`, up to 9
 * decimals) into integer nanoseconds without a float of seconds in between.
 * Returns undefined when the text is not such a number.
 */
export function secondsToNs(text: string): number | undefined {
  const m = /^\s*(\d+)(?:\.(\d{0,9}))?\s*$/.exec(text);
  if (!m) return undefined;
  const ns = Number(m[1]) * 1e9 + Number((m[2] ?? '').padEnd(9, '0'));
  return Number.isSafeInteger(ns) ? ns : undefined;
}
