// The time window of --from/--to: spans are clipped to it, points outside it
// are left out. No bound: that side is open.

export class TimeWindow {
  constructor(
    readonly from: number | undefined,
    readonly to: number | undefined,
  ) {}

  contains(ts: number): boolean {
    return (this.from === undefined || ts >= this.from) && (this.to === undefined || ts <= this.to);
  }

  /** [ts, end) clipped to the window; undefined when nothing is left. */
  clip(ts: number, end: number): [number, number] | undefined {
    const { from, to } = this;
    const s = from !== undefined && ts < from ? from : ts;
    const e = to !== undefined && end > to ? to : end;
    // A 0-length span stays when it is inside; a longer one clipped to 0 goes.
    if (e < s || (e === s && ts !== end)) return undefined;
    return [s, e];
  }
}
