// The text of a trace as it is built: events joined the way the format wants,
// collected between two emits of the filter.

export type TraceFormat = 'json' | 'ndjson';

export class TraceText {
  private buf: string;
  private first = true;
  private readonly sep: string;

  constructor(
    private readonly format: TraceFormat,
    private readonly version: string,
  ) {
    this.sep = format === 'json' ? ',\n' : '\n';
    this.buf = format === 'json' ? '{"traceEvents":[\n' : '';
  }

  /** Characters collected since the last `take`. */
  get length(): number {
    return this.buf.length;
  }

  /** Appends one event (its JSON text). */
  ev(text: string): void {
    if (this.first) {
      this.first = false;
      this.buf += text;
    } else {
      this.buf += this.sep + text;
    }
  }

  /** The text collected so far, forgotten here. */
  take(): string {
    const s = this.buf;
    this.buf = '';
    return s;
  }

  /** Ends the event list: in JSON form, the rest of the object. */
  close(): void {
    if (this.format === 'json') {
      // viztracer_metadata: `viztracer --combine` 0.15-0.17 fails without it (KeyError).
      this.buf +=
        `${this.first ? '' : '\n'}],"displayTimeUnit":"ns",` +
        `"viztracer_metadata":{"overflow":false,"version":${JSON.stringify(this.version)}},` +
        `"file_info":{"files":{},"functions":{}}}\n`;
    } else if (!this.first) {
      this.buf += '\n';
    }
  }
}
