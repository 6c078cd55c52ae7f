// A byte-level, resumable JSON scanner for inputs far larger than one string
// can hold (V8 caps strings at about 512 MB). It validates the grammar as it
// goes and reports only the structure a caller asks for: where values start
// and end, object keys, and the text of scalars, all for values no deeper
// than `interest`. Deeper structure is checked but costs no callbacks and no
// allocation, which is what lets a caller copy event objects through as raw
// byte ranges instead of parsing and re-serialising them.
//
// Depth: the top-level value is at depth 0; members of a container at depth d
// are at depth d+1. Positions are absolute byte offsets in the whole stream.
//
// Leniencies, each matching what a trace consumer already accepts:
// - several top-level values one after another (NDJSON, one event a line);
// - `NaN`, `Infinity` and `-Infinity`, which Python's json module writes and
//   reads (VizTracer's log_var of a float NaN produces them);
// - with `trailingComma`, a comma before `]` of a top-level array (Perfetto
//   accepts it in the array form of a trace).
// Strings are checked for escapes and control characters, not for UTF-8.

export interface ScanHooks {
  /** A value at `depth` starts at `pos`; `c` is its first byte. */
  start(depth: number, pos: number, c: number): void;
  /**
   * It ends just before `pos`. For a scalar whose text was asked for (see
   * `key`), its source text (strings with their quotes) is `tok[s..e)`; read
   * it with `tok.toString(...)` or `numberValue`, right away (the buffer is
   * the caller's chunk, which may be reused).
   */
  end(depth: number, pos: number, tok: Buffer | undefined, s: number, e: number): void;
  /**
   * An object member at `depth` has the key whose source text (quotes
   * included) is `buf[s..e)`; decode it with `keyText` or test it with
   * `keyIs`, both cheap. Return true to get the member's text in `end` when it
   * is a scalar: text is only materialised where a caller wants it.
   */
  key(depth: number, buf: Buffer, s: number, e: number): boolean;
}

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly pos: number,
    readonly line: number,
  ) {
    super(message);
  }
}

// Scanner states.
const VALUE = 0; // a value is expected
const ARR_FIRST = 1; // after `[`: a value or `]`
const OBJ_FIRST = 2; // after `{`: a key or `}`
const OBJ_KEY = 3; // after `,` in an object: a key
const COLON = 4;
const AFTER = 5; // after a member: `,` or the closing bracket
const STR = 6;
const STR_ESC = 7;
const STR_HEX = 8;
const NUM = 9;
const LIT = 10;
const ARR_NEXT = 11; // after `,` in an array: a value (or `]` if lenient)
const TOP_AFTER = 12; // after a complete top-level value

// Number sub-states.
const N_MINUS = 0;
const N_ZERO = 1;
const N_INT = 2;
const N_DOT = 3;
const N_FRAC = 4;
const N_E = 5;
const N_ESIGN = 6;
const N_EXP = 7;

// Byte classes, 1 for a member: lookups beat comparisons in hot loops. Shared
// with code that follows JSON already validated by the scanner. V8 loads an
// exported or imported binding anew on every use but folds a module's own
// const into the loop: the scanner uses PLAIN, and importers should copy the
// tables into consts of their own (about 5% of a pass, measured).
const PLAIN = new Uint8Array(256);
for (let k = 0x20; k < 256; k++) PLAIN[k] = k === 0x22 || k === 0x5c ? 0 : 1;
/** Bytes that can be passed over inside a string: all but `"`, `\` and control characters. */
export const PLAIN_IN_STRING = PLAIN;
/** Outside strings, the bytes that carry no structure: all but quotes, brackets and `:`. */
export const BORING = new Uint8Array(256).fill(1);
for (const ch of '"{}[]:') BORING[ch.charCodeAt(0)] = 0;
/** Bytes that can continue a number. */
export const NUMBER_BYTE = new Uint8Array(256);
for (const ch of '0123456789+-.eE') NUMBER_BYTE[ch.charCodeAt(0)] = 1;

const OBJ = 0;
const ARR = 1;
const MAX_DEPTH = 10000;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function describe(c: number): string {
  if (c >= 0x21 && c < 0x7f) return `'${String.fromCharCode(c)}'`;
  return `byte 0x${c.toString(16).padStart(2, '0')}`;
}

export class JsonScanner {
  /** Deepest depth reported to the hooks; may be changed between chunks or from a hook. */
  interest: number;
  trailingComma = false;
  /** Number of top-level values started so far. */
  topValues = 0;
  /** Newlines seen outside strings, for messages. */
  line = 1;

  private state = VALUE;
  private readonly stack = new Uint8Array(MAX_DEPTH);
  private depth = 0;
  private base = 0;
  private strIsKey = false;
  private hexLeft = 0;
  private num = N_MINUS;
  private lit = '';
  private litAt = 0;
  // Capture of the token being scanned (key or scalar at a depth of interest).
  private capturing = false;
  private capFrom = 0; // absolute offset
  private capParts: Buffer[] = [];
  private keyFrom = 0;
  private wantText = false;

  constructor(
    private readonly hooks: ScanHooks,
    interest = 1,
  ) {
    this.interest = interest;
  }

  /** Open containers right now (0 between top-level values). */
  get openDepth(): number {
    return this.depth;
  }

  /** Offset of the next byte to be fed. */
  get position(): number {
    return this.base;
  }

  /**
   * Goes on as if the bytes before offset `at` had opened an array (with
   * `inObject`, an object and in it the array) and then passed a comma
   * between two of its elements: how a trace's events are scanned from the
   * middle, one part of a file per thread. Newlines are counted from here.
   */
  resumeAfterComma(at: number, inObject: boolean): void {
    let d = 0;
    if (inObject) this.stack[d++] = OBJ;
    this.stack[d++] = ARR;
    this.depth = d;
    this.state = ARR_NEXT;
    this.base = at;
    this.topValues = 1;
  }

  /** True right after a comma between two elements of a top-level array (with `inObject`, of an array in a top-level object): where resumeAfterComma starts. */
  betweenElements(inObject: boolean): boolean {
    if (this.state !== ARR_NEXT || this.capturing) return false;
    return inObject ? this.depth === 2 && this.stack[0] === OBJ && this.stack[1] === ARR : this.depth === 1 && this.stack[0] === ARR;
  }

  /** True between values at the top level or inside an array: nothing half-read. */
  get atBoundary(): boolean {
    const s = this.state;
    return s === TOP_AFTER || s === AFTER || s === ARR_FIRST || s === ARR_NEXT || (s === VALUE && this.depth === 0);
  }

  private fail(msg: string, pos: number): never {
    throw new JsonSyntaxError(msg, pos, this.line);
  }

  feed(b: Buffer): void {
    const n = b.length;
    const base = this.base;
    let i = 0;
    let state = this.state;
    let depth = this.depth;
    const stack = this.stack;
    let noSkip = false;
    while (i < n) {
      const c = b[i]!;
      switch (state) {
        case STR: {
          // The hot loop: most bytes of a trace are inside strings.
          let j = i;
          let d = c;
          while (PLAIN[d] === 1) {
            if (++j === n) break;
            d = b[j]!;
          }
          if (j === n) {
            i = n;
            break;
          }
          if (d === 0x22) {
            i = j + 1;
            if (this.strIsKey) {
              state = COLON;
              if (this.capturing) {
                const k = this.takeToken(b, i);
                this.wantText = this.hooks.key(depth, k, k === b ? this.keyFrom - base : 0, k === b ? i : k.length);
              }
              // Fast path for the usual `": "`.
              if (i < n && b[i] === 0x3a) {
                state = VALUE;
                i++;
                if (i < n && b[i] === 0x20) i++;
              }
            } else {
              this.depth = depth;
              state = this.scalarDone(b, i, depth);
            }
          } else if (d === 0x5c) {
            state = STR_ESC;
            i = j + 1;
          } else {
            this.fail(`control character ${describe(d)} inside a string`, base + j);
          }
          break;
        }
        case STR_ESC:
          if (c === 0x75) {
            state = STR_HEX;
            this.hexLeft = 4;
          } else if (c === 0x22 || c === 0x5c || c === 0x2f || c === 0x62 || c === 0x66 || c === 0x6e || c === 0x72 || c === 0x74) {
            state = STR;
          } else {
            this.fail(`invalid escape \\${String.fromCharCode(c)} in a string`, base + i);
          }
          i++;
          break;
        case STR_HEX:
          if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)) {
            if (--this.hexLeft === 0) state = STR;
            i++;
          } else {
            this.fail(`invalid \\u escape in a string`, base + i);
          }
          break;
        case NUM: {
          let ended = false;
          switch (this.num) {
            case N_MINUS:
              if (c === 0x30) this.num = N_ZERO;
              else if (c >= 0x31 && c <= 0x39) this.num = N_INT;
              else if (c === 0x49 /* I */) {
                state = LIT;
                this.lit = 'Infinity';
                this.litAt = 1;
              } else this.fail(`expected a digit after '-', got ${describe(c)}`, base + i);
              break;
            case N_ZERO:
              if (c === 0x2e) this.num = N_DOT;
              else if (c === 0x65 || c === 0x45) this.num = N_E;
              else ended = true;
              break;
            case N_INT:
              if (c >= 0x30 && c <= 0x39) {
                // Run through the rest of the digits at once.
                let j = i + 1;
                while (j < n && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
                i = j;
                continue;
              }
              if (c === 0x2e) this.num = N_DOT;
              else if (c === 0x65 || c === 0x45) this.num = N_E;
              else ended = true;
              break;
            case N_DOT:
              if (c >= 0x30 && c <= 0x39) this.num = N_FRAC;
              else this.fail(`expected a digit after '.', got ${describe(c)}`, base + i);
              break;
            case N_FRAC:
              if (c >= 0x30 && c <= 0x39) {
                let j = i + 1;
                while (j < n && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
                i = j;
                continue;
              }
              if (c === 0x65 || c === 0x45) this.num = N_E;
              else ended = true;
              break;
            case N_E:
              if (c === 0x2b || c === 0x2d) this.num = N_ESIGN;
              else if (c >= 0x30 && c <= 0x39) this.num = N_EXP;
              else this.fail(`expected an exponent, got ${describe(c)}`, base + i);
              break;
            case N_ESIGN:
              if (c >= 0x30 && c <= 0x39) this.num = N_EXP;
              else this.fail(`expected an exponent, got ${describe(c)}`, base + i);
              break;
            case N_EXP:
              if (!(c >= 0x30 && c <= 0x39)) ended = true;
              break;
          }
          if (ended) {
            // The byte that ended the number belongs to what follows.
            this.depth = depth;
            state = this.scalarDone(b, i, depth);
          } else {
            i++;
          }
          break;
        }
        case LIT:
          if (c !== this.lit.charCodeAt(this.litAt)) this.fail(`invalid literal (expected '${this.lit}')`, base + i);
          i++;
          if (++this.litAt === this.lit.length) {
            this.depth = depth;
            state = this.scalarDone(b, i, depth);
          }
          break;
        case COLON:
          if (c === 0x3a) state = VALUE;
          else if (isWs(c)) {
            if (c === 0x0a) this.line++;
          } else this.fail(`expected ':' after an object key, got ${describe(c)}`, base + i);
          i++;
          break;
        case AFTER:
          if (c === 0x2c) {
            if (stack[depth - 1] === OBJ) {
              // Fast path for the usual `, "key"`: straight into the key.
              let j = i + 1;
              while (j < n && b[j] === 0x20) j++;
              if (j < n && b[j] === 0x22) {
                if (depth > this.interest) {
                  // Nobody wants this key: when it and its colon are here, skip to the value.
                  let k = j + 1;
                  while (k < n && PLAIN[b[k]!] === 1) k++;
                  if (k + 1 < n && b[k] === 0x22 && b[k + 1] === 0x3a) {
                    i = k + 2;
                    if (i < n && b[i] === 0x20) i++;
                    state = VALUE;
                    continue;
                  }
                }
                state = STR;
                this.strIsKey = true;
                if (depth <= this.interest) this.beginToken(base + j);
                i = j + 1;
                continue;
              }
              state = OBJ_KEY;
            } else {
              state = ARR_NEXT;
            }
          } else if (c === 0x7d || c === 0x5d) {
            const want = stack[depth - 1] === OBJ ? 0x7d : 0x5d;
            if (c !== want) this.fail(`expected ${describe(want)} or ',', got ${describe(c)}`, base + i);
            depth--;
            state = this.containerDone(base + i + 1, depth);
          } else if (isWs(c)) {
            if (c === 0x0a) this.line++;
          } else {
            this.fail(`expected ',' or ${describe(stack[depth - 1] === OBJ ? 0x7d : 0x5d)}, got ${describe(c)}`, base + i);
          }
          i++;
          break;
        case OBJ_FIRST:
        case OBJ_KEY:
          if (c === 0x22) {
            state = STR;
            this.strIsKey = true;
            if (depth <= this.interest) this.beginToken(base + i);
          } else if (c === 0x7d && state === OBJ_FIRST) {
            depth--;
            state = this.containerDone(base + i + 1, depth);
          } else if (isWs(c)) {
            if (c === 0x0a) this.line++;
          } else {
            this.fail(`expected an object key (a string), got ${describe(c)}`, base + i);
          }
          i++;
          break;
        case TOP_AFTER:
          if (isWs(c)) {
            if (c === 0x0a) this.line++;
            i++;
            break;
          }
          state = VALUE;
        // falls through: another top-level value starts here
        case VALUE:
        case ARR_FIRST:
        case ARR_NEXT: {
          if (isWs(c)) {
            if (c === 0x0a) this.line++;
            i++;
            break;
          }
          if (c === 0x5d && state !== VALUE) {
            if (state === ARR_NEXT && !(this.trailingComma && depth === 1)) this.fail(`expected a value after ',', got ']'`, base + i);
            depth--;
            state = this.containerDone(base + i + 1, depth);
            i++;
            break;
          }
          if (depth === 0) this.topValues++;
          const pos = base + i;
          const report = depth <= this.interest;
          const want = this.wantText;
          this.wantText = false;
          if (!(c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e || c === 0x4e || c === 0x49)) {
            this.fail(`expected a value, got ${describe(c)}`, pos);
          }
          if (report) this.hooks.start(depth, pos, c);
          if ((c === 0x7b || c === 0x5b) && depth >= this.interest && !noSkip) {
            // Nothing inside is reported: when the whole value is in this
            // chunk and well formed, one tight pass checks it. Otherwise the
            // states below read it again, and say where it broke.
            const j = skipValue(b, i, n, MAX_DEPTH - depth);
            if (j > 0) {
              this.line += skippedLines;
              i = j;
              state = this.containerDone(base + j, depth);
              continue;
            }
            // It ran past the chunk (or into bytes the states will refuse):
            // so would every container nested in this one, and trying each
            // again would cost depth x chunk. The states read the rest.
            noSkip = true;
          }
          if (c === 0x7b || c === 0x5b) {
            if (depth >= MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`, pos);
            stack[depth++] = c === 0x7b ? OBJ : ARR;
            state = c === 0x7b ? OBJ_FIRST : ARR_FIRST;
          } else {
            if (report && want) this.beginToken(pos);
            if (c === 0x22) {
              // Fast lane: a plain string that ends inside this chunk is done here.
              let j = i + 1;
              while (j < n && PLAIN[b[j]!] === 1) j++;
              if (j < n && b[j] === 0x22) {
                i = j + 1;
                this.depth = depth;
                state = this.scalarDone(b, i, depth);
                continue;
              }
              state = STR;
              this.strIsKey = false;
              i = j;
              continue;
            } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
              // Fast lane: a number that ends inside this chunk is checked and done here.
              const j = numberEnd(b, i, n);
              if (j > 0) {
                i = j;
                this.depth = depth;
                state = this.scalarDone(b, i, depth);
                continue;
              }
              state = NUM;
              this.num = c === 0x2d ? N_MINUS : c === 0x30 ? N_ZERO : N_INT;
            } else {
              state = LIT;
              this.lit = c === 0x74 ? 'true' : c === 0x66 ? 'false' : c === 0x6e ? 'null' : c === 0x4e ? 'NaN' : 'Infinity';
              this.litAt = 1;
            }
          }
          i++;
          break;
        }
      }
    }
    this.state = state;
    this.depth = depth;
    if (this.capturing) {
      const from = Math.max(this.capFrom, base) - base;
      this.capParts.push(Buffer.from(b.subarray(from)));
    }
    this.base = base + n;
  }

  /**
   * End of input. A number at the very end of the top level is complete here.
   * Returns true when the input held complete values only; false when it
   * stopped inside one (the caller decides whether that is acceptable).
   */
  finish(): boolean {
    if (this.state === NUM && this.depth === 0 && (this.num === N_ZERO || this.num === N_INT || this.num === N_FRAC || this.num === N_EXP)) {
      this.state = this.scalarDone(Buffer.alloc(0), 0, 0);
    }
    return this.depth === 0 && (this.state === TOP_AFTER || (this.state === VALUE && this.topValues === 0));
  }

  private beginToken(pos: number): void {
    this.capturing = true;
    this.capFrom = pos;
    if (this.capParts.length !== 0) this.capParts = [];
  }

  /**
   * The bytes of the token that ends before local offset `end` of `b`: `b`
   * itself when the token lies inside it (then it starts at `keyFrom - base`),
   * else a copy joined from the chunks it spans.
   */
  private takeToken(b: Buffer, end: number): Buffer {
    this.capturing = false;
    if (this.capParts.length === 0) {
      this.keyFrom = this.capFrom;
      return b;
    }
    const all = Buffer.concat([...this.capParts, b.subarray(0, end)]);
    this.capParts.length = 0;
    return all;
  }

  private scalarDone(b: Buffer, end: number, depth: number): number {
    if (depth <= this.interest && this.capturing) {
      const tok = this.takeToken(b, end);
      const s = tok === b ? this.keyFrom - this.base : 0;
      const e = tok === b ? end : tok.length;
      this.hooks.end(depth, this.base + end, tok, s, e);
    } else if (depth <= this.interest) {
      this.hooks.end(depth, this.base + end, undefined, 0, 0);
    }
    return depth === 0 ? TOP_AFTER : AFTER;
  }

  private containerDone(endPos: number, depth: number): number {
    this.depth = depth;
    if (depth <= this.interest) this.hooks.end(depth, endPos, undefined, 0, 0);
    return depth === 0 ? TOP_AFTER : AFTER;
  }
}

// What skipValue found besides the end: the newlines outside strings.
let skippedLines = 0;
const SKIP_STACK = new Uint8Array(MAX_DEPTH);

/**
 * The end of the object or array that starts at b[i], when all of it is in
 * b[i..n) and it is JSON as the scanner takes it (Python's NaN and Infinity
 * included), nested at most `room` deep; -1 otherwise, for whatever reason:
 * the caller's state machine then reads the same bytes and knows which.
 * The newlines outside strings are left in `skippedLines`.
 */
function skipValue(b: Buffer, i: number, n: number, room: number): number {
  const stack = SKIP_STACK;
  let depth = 0;
  let lines = 0;
  let c = 0;
  for (;;) {
    // A value starts at b[i] (no blanks before it).
    c = b[i]!;
    if (c === 0x7b || c === 0x5b) {
      if (depth >= room) return -1;
      stack[depth++] = c === 0x7b ? OBJ : ARR;
      i++;
      while (i < n && BLANK[(c = b[i]!)] === 1) {
        if (c === 0x0a) lines++;
        i++;
      }
      if (i >= n) return -1;
      if (c === (stack[depth - 1] === OBJ ? 0x7d : 0x5d)) {
        i++;
        depth--;
      } else if (stack[depth - 1] === OBJ) {
        i = skipKey(b, i, n);
        if (i < 0) return -1;
        lines += skippedLines;
        continue;
      } else {
        continue;
      }
    } else if (c === 0x22) {
      i = skipString(b, i, n);
      if (i < 0) return -1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      if (c === 0x2d && i + 1 < n && b[i + 1] === 0x49) {
        i = skipLiteral(b, i + 1, n, INFINITY);
      } else {
        i = numberEnd(b, i, n);
      }
      if (i < 0) return -1;
    } else {
      const lit = c === 0x74 ? TRUE : c === 0x66 ? FALSE : c === 0x6e ? NULL : c === 0x4e ? NAN : c === 0x49 ? INFINITY : undefined;
      if (lit === undefined) return -1;
      i = skipLiteral(b, i, n, lit);
      if (i < 0) return -1;
    }
    // After a value: a comma and the next one, or closing brackets.
    for (;;) {
      if (depth === 0) {
        skippedLines = lines;
        return i;
      }
      while (i < n && BLANK[(c = b[i]!)] === 1) {
        if (c === 0x0a) lines++;
        i++;
      }
      if (i >= n) return -1;
      const obj = stack[depth - 1] === OBJ;
      if (c === 0x2c) {
        i++;
        while (i < n && BLANK[(c = b[i]!)] === 1) {
          if (c === 0x0a) lines++;
          i++;
        }
        if (i >= n) return -1;
        if (obj) {
          i = skipKey(b, i, n);
          if (i < 0) return -1;
          lines += skippedLines;
        }
        break;
      }
      if (c !== (obj ? 0x7d : 0x5d)) return -1;
      i++;
      depth--;
    }
  }
}

/** A key at b[i], its colon and the blanks to the value: the value's offset, or -1. */
function skipKey(b: Buffer, i: number, n: number): number {
  let lines = 0;
  let c = 0;
  if (b[i] !== 0x22) return -1;
  i = skipString(b, i, n);
  if (i < 0) return -1;
  while (i < n && BLANK[(c = b[i]!)] === 1) {
    if (c === 0x0a) lines++;
    i++;
  }
  if (i >= n || c !== 0x3a) return -1;
  i++;
  while (i < n && BLANK[(c = b[i]!)] === 1) {
    if (c === 0x0a) lines++;
    i++;
  }
  if (i >= n) return -1;
  skippedLines = lines;
  return i;
}

/** The offset after the string whose quote is at b[i], or -1. */
function skipString(b: Buffer, i: number, n: number): number {
  i++;
  for (;;) {
    while (i < n && PLAIN[b[i]!] === 1) i++;
    if (i >= n) return -1;
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c !== 0x5c || i + 1 >= n) return -1;
    const e = b[i + 1]!;
    if (e === 0x75) {
      if (i + 6 > n) return -1;
      for (let k = i + 2; k < i + 6; k++) if (HEX[b[k]!] !== 1) return -1;
      i += 6;
    } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
    } else {
      return -1;
    }
  }
}

/** The offset after the literal `lit` at b[i], or -1; it must be followed by another byte. */
function skipLiteral(b: Buffer, i: number, n: number, lit: Uint8Array): number {
  if (i + lit.length >= n) return -1;
  for (let k = 0; k < lit.length; k++) if (b[i + k] !== lit[k]) return -1;
  return i + lit.length;
}

const BLANK = new Uint8Array(256);
for (const ch of ' \n\r\t') BLANK[ch.charCodeAt(0)] = 1;
const BLANK_OR_COMMA = BLANK.slice();
BLANK_OR_COMMA[0x2c] = 1;
// What ends a number or a literal in valid JSON.
const SCALAR_END = BLANK_OR_COMMA.slice();
SCALAR_END[0x7d] = 1;
SCALAR_END[0x5d] = 1;
const HEX = new Uint8Array(256);
for (const ch of '0123456789abcdefABCDEF') HEX[ch.charCodeAt(0)] = 1;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');
const NAN = Buffer.from('NaN');
const INFINITY = Buffer.from('Infinity');

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * The end of the JSON number starting at b[i], when it is well formed and
 * followed by another byte in this chunk; -1 otherwise (then the byte-by-byte
 * number states decide, across chunks, and report errors).
 */
function numberEnd(b: Buffer, i: number, n: number): number {
  let j = i;
  if (b[j] === 0x2d) j++;
  if (j >= n) return -1;
  if (b[j] === 0x30) j++;
  else if (isDigit(b[j]!)) {
    j++;
    while (j < n && isDigit(b[j]!)) j++;
  } else return -1;
  if (j < n && b[j] === 0x2e) {
    j++;
    if (j >= n || !isDigit(b[j]!)) return -1;
    while (j < n && isDigit(b[j]!)) j++;
  }
  if (j < n && (b[j] === 0x65 || b[j] === 0x45)) {
    j++;
    if (j < n && (b[j] === 0x2b || b[j] === 0x2d)) j++;
    if (j >= n || !isDigit(b[j]!)) return -1;
    while (j < n && isDigit(b[j]!)) j++;
  }
  return j < n ? j : -1;
}

const POW10 = Array.from({ length: 23 }, (_x, k) => 10 ** k);

/**
 * The value of the JSON number `b[s..e)`, and whether Python would read it as
 * a float (it has a `.` or an exponent). Short decimals (the usual
 * `643105628.094`) are computed from their digits: an integer below 2^53
 * divided by an exact power of ten is correctly rounded, the same double
 * Number() gives, without making a string first.
 */
export function numberValue(b: Buffer, s: number, e: number): { v: number; float: boolean } {
  let k = s;
  const neg = b[k] === 0x2d;
  if (neg) k++;
  let m = 0;
  let digits = 0;
  let frac = -1;
  for (; k < e; k++) {
    const c = b[k]!;
    if (c >= 0x30 && c <= 0x39) {
      m = m * 10 + (c - 0x30);
      digits++;
      if (frac >= 0) frac++;
    } else if (c === 0x2e && frac < 0) {
      frac = 0;
    } else {
      break;
    }
  }
  if (k === e && digits <= 15 && digits > 0) {
    const v = frac > 0 ? m / POW10[frac]! : m;
    return { v: neg ? -v : v, float: frac >= 0 };
  }
  // Long, or with an exponent (where the loop stopped), or a literal such as -Infinity.
  const x = b[k];
  return { v: Number(b.toString('latin1', s, e)), float: frac >= 0 || (k < e && (x === 0x65 || x === 0x45)) };
}

/**
 * Calls `visit` for each member of the object `b[s..e)`, which the scanner
 * has already found well formed: the key's source text `b[ks..ke)` (quotes
 * included) and the value's `b[vs..ve)`. Only strings and brackets are
 * followed, so this costs a fraction of the scan that validated the bytes.
 */
export function eachMember(b: Buffer, s: number, e: number, visit: (b: Buffer, ks: number, ke: number, vs: number, ve: number) => void): void {
  let i = s + 1;
  for (;;) {
    while (i < e && BLANK_OR_COMMA[b[i]!] === 1) i++;
    if (i >= e || b[i] !== 0x22) return; // the closing brace
    const ks = i;
    i = stringEndValid(b, i, e);
    const ke = i;
    while (BLANK[b[i]!] === 1) i++;
    i++; // the colon
    while (BLANK[b[i]!] === 1) i++;
    const vs = i;
    const c = b[i]!;
    if (c === 0x22) {
      i = stringEndValid(b, i, e);
    } else if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      do {
        const d = b[i]!;
        if (d === 0x22) {
          i = stringEndValid(b, i, e);
          continue;
        }
        if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) depth--;
        i++;
      } while (depth > 0 && i < e);
    } else {
      while (i < e && SCALAR_END[b[i]!] === 0) i++;
    }
    visit(b, ks, ke, vs, i);
  }
}

/** The offset after the valid string whose quote is at b[i] (at most e). */
function stringEndValid(b: Buffer, i: number, e: number): number {
  i++;
  for (;;) {
    while (i < e && PLAIN[b[i]!] === 1) i++;
    if (i >= e) return e;
    if (b[i] === 0x22) return i + 1;
    i += 2; // an escape; \u's four digits are plain
  }
}

/** Decodes a key's source text `buf[s..e)` (quotes included). */
export function keyText(buf: Buffer, s: number, e: number): string {
  const bs = buf.indexOf(0x5c, s);
  if (bs === -1 || bs >= e) return buf.toString('utf8', s + 1, e - 1);
  return JSON.parse(buf.toString('utf8', s, e)) as string;
}

/** Whether the key source text `buf[s..e)` is exactly `"name"` (ASCII name, no escapes). */
export function keyIs(buf: Buffer, s: number, e: number, name: string): boolean {
  if (e - s !== name.length + 2) return false;
  for (let k = 0; k < name.length; k++) if (buf[s + 1 + k] !== name.charCodeAt(k)) return false;
  return true;
}

/**
 * The members of a complete JSON object held in memory, as raw text: used for
 * the small top-level values (metadata, file_info) that need merging, so big
 * integers such as baseTimeNanoseconds keep every digit.
 */
export function objectEntries(raw: Buffer): Array<{ key: string; rawKey: string; raw: string }> {
  const out: Array<{ key: string; rawKey: string; raw: string }> = [];
  let key = '';
  let from = 0;
  const sc = new JsonScanner(
    {
      key(_d, b, s, e) {
        key = keyText(b, s, e);
        return false;
      },
      start(d, pos) {
        if (d === 1) from = pos;
      },
      end(d, pos) {
        if (d === 1) out.push({ key, rawKey: JSON.stringify(key), raw: raw.toString('utf8', from, pos) });
      },
    },
    1,
  );
  sc.feed(raw);
  if (!sc.finish() || sc.topValues !== 1) throw new JsonSyntaxError('not one complete JSON value', raw.length, sc.line);
  return out;
}
