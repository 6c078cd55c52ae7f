// The GIL probe lines of a perf script capture, read without any gilpipe
// code: the independent count the tests hold gilpipe's figures against.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface ProbeLine {
  tid: number;
  /** ns; 6-decimal captures are exact to the µs they print. */
  ts: number;
  ev: 'take_gil' | 'take_gil__return' | 'drop_gil' | 'drop_gil__return';
}

const RE = /^\s*.+?\s+(?:\d+\/)?(\d+)\s+\[\d+\]\s+(\d+)\.(\d{6}|\d{9}):\s+\w+:(take_gil|take_gil__return|drop_gil|drop_gil__return):/;

export function gilLines(capture: string): ProbeLine[] {
  const out: ProbeLine[] = [];
  for (const line of gunzipSync(readFileSync(capture)).toString('latin1').split('\n')) {
    const m = RE.exec(line);
    if (m) out.push({ tid: Number(m[1]), ts: Number(m[2]) * 1e9 + Number(m[3]!.padEnd(9, '0')), ev: m[4] as ProbeLine['ev'] });
  }
  return out;
}
