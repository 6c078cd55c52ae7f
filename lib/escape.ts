// Text from the input (thread names, paths, symbols) is chosen by whoever ran
// the program, and gilpipe often runs as root: before it reaches a medium it
// is escaped for that medium, so it can neither drive the terminal (ESC
// sequences, BEL, C1 controls) nor reorder what is shown around it (bidi
// overrides), nor break a table, a markdown page or a CSV file. JSON needs
// none of this: JSON.stringify escapes what JSON must, and the names stay
// exact there.

/**
 * C0 controls, DEL and C1 controls; the bidi embeddings, overrides and
 * isolates; zero-width and other invisible format characters; the line and
 * paragraph separators.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
const UNSAFE_KEEP_LINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

function visible(c: string): string {
  const n = c.charCodeAt(0);
  return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** For a terminal, a table cell or any plain text: every unsafe character shown as `\xNN` or `\uNNNN`. */
export function forTerminal(s: string): string {
  return s.replace(UNSAFE, visible);
}

/** For a message of several lines (stderr): the same, but its newlines stay. */
export function forTerminalLines(s: string): string {
  return s.replace(UNSAFE_KEEP_LINES, visible);
}

const HTML: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** For HTML text and attribute values. */
export function forHtml(s: string): string {
  return forTerminal(s).replace(/[&<>"']/g, (c) => HTML[c]!);
}

/**
 * For a markdown table cell: terminal-safe, HTML escaped (markdown passes
 * HTML through), and the characters markdown gives a meaning to backslashed,
 * `|` first, which would end the cell.
 */
export function forMarkdown(s: string): string {
  return forHtml(s).replace(/[\\|`*_[\]{}()#+!~-]/g, (c) => `\\${c}`);
}

/**
 * For a CSV cell (RFC 4180): terminal-safe; quoted when it holds a comma,
 * a quote or a space at either end; and a text that starts like a formula
 * (`=`, `+`, `-`, `@`) gets a leading apostrophe, so a spreadsheet shows it
 * rather than runs it.
 */
export function forCsv(s: string): string {
  let t = forTerminal(s);
  if (/^[=+\-@]/.test(t)) t = `'${t}`;
  return /[",]|^\s|\s$/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/**
 * For an OpenMetrics or Prometheus label value: terminal-safe (a dashboard
 * shows it), then the backslash and the quote escaped as the text format wants
 * (a newline never gets here: it is `\x0a` by then).
 */
export function forOpenMetrics(s: string): string {
  return forTerminal(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

/**
 * A frame of a folded-stacks line (speedscope, flamegraph.pl): `;` would
 * split it and a newline end the line; those and every character UNSAFE
 * names (controls, bidi overrides, zero-width) become `?`. The format has
 * no escape of its own, and its viewers run in a browser.
 */
export function forFolded(s: string): string {
  return s.replace(UNSAFE, '?').replace(/;/g, '?');
}

/**
 * The columns `s` takes on a terminal, for aligning tables: East Asian wide
 * and fullwidth characters (CJK, Hangul, fullwidth forms, most emoji) take
 * two, combining marks none, the rest one. wcwidth's ranges, not the whole
 * Unicode table: a thread name is at most 15 bytes, and a column off by one
 * for a rare script costs less than loading that table at every start.
 */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x300) w += 1;
    else if (COMBINING.test(ch)) continue;
    else w += isWide(c) ? 2 : 1;
  }
  return w;
}

const COMBINING = /^[\p{Mn}\p{Me}\u200b-\u200f]$/u;

/** wcwidth's double-width ranges: CJK, Hangul, fullwidth forms, the emoji blocks. */
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe30, 0xfe4f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x1f300, 0x1f64f],
  [0x1f900, 0x1f9ff],
  [0x20000, 0x3fffd],
];

function isWide(c: number): boolean {
  return WIDE.some(([lo, hi]) => c >= lo && c <= hi);
}
