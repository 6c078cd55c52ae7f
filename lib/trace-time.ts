// Trace Event times are microseconds; the records' are integer nanoseconds.
// Text is built from the integer, never from a float division, so a time
// prints as exactly the nanosecond it was ("154053896.361"), and a duration
// printed as end - start (both already whole nanoseconds) makes Perfetto's
// llround(ts * 1000) land every slice end exactly where the next one starts.

/** Three digits, zero-padded ("007"), and the same after a point (".007"). */
const DIGITS3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const POINT3: readonly string[] = DIGITS3.map((d) => `.${d}`);

// A recording's times are past 2^31 µs (an uptime over 36 minutes), where a
// number is no longer a small integer and V8 prints it by its slow double
// path: 9 % of to-trace's CPU. Printed as whole milliseconds (a small
// integer, the same for thousands of times in a row) and two 3-digit table
// entries it is three times faster.
let lastMs = -1;
let lastMsText = '';

/** `ns` (a non-negative safe integer) as microseconds with 3 decimals. */
export function usText(ns: number): string {
  const ms = Math.floor(ns / 1e6);
  const rest = ns - ms * 1e6;
  // ms >= 1: its text has no leading zero to strip. (For a safe integer the
  // division cannot round up to the next integer, so rest is in [0, 1e6).)
  if (ms >= 1) {
    if (ms !== lastMs) {
      lastMs = ms;
      lastMsText = String(ms);
    }
    const us = Math.floor(rest / 1000);
    return lastMsText + DIGITS3[us]! + POINT3[rest - us * 1000]!;
  }
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
