// Every class of hostile text through every escaper: nothing that can drive
// a terminal, reorder text, end a table cell or run in a spreadsheet survives.
import t from 'tap';
import { displayWidth, forCsv, forFolded, forHtml, forMarkdown, forTerminal, forTerminalLines } from '../../lib/escape.js';

const HOSTILE: Array<[string, string]> = [
  ['ESC sequence', '\x1b[2Jclear'],
  ['OSC title with BEL', '\x1b]0;PWN\x07'],
  ['C1 CSI', '\u009b31mred'],
  ['bidi override', '\u202etxt.exe'],
  ['bidi isolate', '\u2066x\u2069'],
  ['zero-width', 'a\u200bb\ufeff'],
  ['line separator', 'a\u2028b'],
  ['NUL, DEL, backspace', 'a\x00b\x7fc\x08'],
  ['newline and tab', 'new\nline\tx'],
  ['HTML', '<script>alert(1)</script>'],
  ['markdown', '|md|*b*_[x](y)'],
  ['CSV', '"q",=1+2'],
];
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

for (const [what, s] of HOSTILE) {
  t.test(what, async (t) => {
    t.notOk(RAW.test(forTerminal(s)), `terminal: ${JSON.stringify(forTerminal(s))}`);
    t.notOk(RAW.test(forTerminalLines(s).replace(/\n/g, '')), 'terminal lines: nothing raw but the newlines');
    t.notOk(/[<>]/.test(forHtml(s)), 'HTML: no tag');
    const md = forMarkdown(s);
    t.notOk(RAW.test(md) || /(^|[^\\])\|/.test(md) || /[<>]/.test(md), `markdown: ${md}`);
    const csv = forCsv(s);
    t.notOk(RAW.test(csv), 'CSV: nothing raw');
    t.notOk(/^"?[=+\-@]/.test(csv), 'CSV: no formula');
    t.notOk(RAW.test(forFolded(s)) || forFolded(s).includes(';'), `folded: ${JSON.stringify(forFolded(s))}`);
  });
}

t.test('what is safe stays as it is', async (t) => {
  for (const s of ['python', 'ThreadPoolExecutor-0_2', 'größer-π-线', 'my worker 1']) t.equal(forTerminal(s), s);
  t.equal(forTerminal('\x1b[2J'), '\\x1b[2J');
  t.equal(forTerminal('\u202e'), '\\u202e');
  t.equal(forCsv('a,b'), '"a,b"');
  t.equal(forCsv('=1+2'), "'=1+2");
  t.equal(forMarkdown('a|b'), 'a\\|b');
  t.equal(forFolded('ThreadPoolExecutor-0_2'), 'ThreadPoolExecutor-0_2');
  t.equal(forFolded('a;b\u202ec'), 'a?b?c', 'the frame separator and a bidi override');
});

t.test('displayWidth: the columns a terminal gives text (wcwidth)', async (t) => {
  t.equal(displayWidth('python'), 6);
  t.equal(displayWidth('größer-π-线'), 11, 'Latin and Greek one column each, 线 two');
  t.equal(displayWidth('线程'), 4);
  t.equal(displayWidth('한글'), 4, 'Hangul');
  t.equal(displayWidth('ｗｉｄｅ'), 8, 'fullwidth forms');
  t.equal(displayWidth('e\u0301'), 1, 'a combining accent takes none');
  t.equal(displayWidth('🐍'), 2, 'an emoji two');
  t.equal(displayWidth(''), 0);
});
