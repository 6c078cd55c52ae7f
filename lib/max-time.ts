/**
 * The largest time a perf clock can give, in ns: perf's clocks are 64-bit
 * (2^63 ns is 292 years, past CLOCK_REALTIME's 2026 at 1.8e18). Times past
 * 2^53 are not exact doubles, but a host up for 400 days is there, and a
 * duration between two such times is still exact to a few ns. A record past
 * it is malformed, wherever it is read (filters/records.ts, perf-parse, the
 * perf.data reader).
 */
export const MAX_TIME = 2 ** 63;
