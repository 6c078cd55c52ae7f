// The man pages scripts/man.mjs makes from the built commands: each is valid
// roff that man renders, named as its bin's header says, with every option
// the bin declares (read from the source, not from what the command prints).
import t from 'tap';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../../lib/which.js';
import { COMMANDS, declaredOptions, summary } from '../helpers/declared.js';
import { root } from '../helpers/run.js';

const dir = mkdtempSync(join(tmpdir(), 'gilpipe-man-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const made = await execa(process.execPath, [join(root, 'scripts/man.mjs'), '--out', dir], { reject: false });

t.test('one page per command', async (t) => {
  t.equal(made.exitCode, 0, String(made.stderr));
  t.same(readdirSync(dir).sort(), COMMANDS.map((c) => `${c}.1`).sort());
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  t.same([...pkg.man].sort(), COMMANDS.map((c) => `dist/man/${c}.1`).sort(), "package.json's man lists them all");
});

const roff = (s: string) => s.replace(/\\e/g, '\\').replace(/\\-/g, '-').replace(/\\&/g, '');

for (const name of COMMANDS) {
  t.test(`${name}.1: its name, summary and every declared option`, async (t) => {
    const page = readFileSync(join(dir, `${name}.1`), 'utf8');
    t.match(page, new RegExp(`^\\.TH ${name.toUpperCase()} 1 `), 'the title line');
    const nameLine = roff(page.split('\n')[page.split('\n').indexOf('.SH NAME') + 1]!);
    t.equal(nameLine, `${name} - ${summary(name)}`, "NAME: the first sentence of the bin's header comment");
    // One written out by hand, so the rule is not only checked against a copy of itself.
    if (name === 'perf-parse') t.equal(nameLine, 'perf-parse - `perf script` text (or a perf.data file) in, NDJSON records out');
    const options = roff(page.slice(page.indexOf('.SH OPTIONS'), page.indexOf('\n.SH ', page.indexOf('.SH OPTIONS') + 1)));
    const terms = [...options.matchAll(/^\.B (.*)$/gm)].map((m) => m[1]!);
    for (const o of declaredOptions(name)) t.ok(terms.some((term) => term.split(', ').includes(o)), `${o} is there`);
    t.match(page, /^\.SH EXAMPLES$/m, 'the examples of --help');
  });
}

const man = which('man');
t.test('man renders every page with no roff warning', { skip: man ? false : 'man is not installed' }, async (t) => {
  for (const name of COMMANDS) {
    const r = await execa(man!, ['-l', join(dir, `${name}.1`)], { env: { MANPAGER: 'cat', MANWIDTH: '100', MAN_KEEP_FORMATTING: '' }, reject: false });
    t.equal(r.exitCode, 0, `man -l ${name}.1`);
    t.equal(String(r.stderr), '', 'nothing on stderr');
    t.match(r.stdout, new RegExp(`^SYNOPSIS\\n\\s+${name} `, 'm'), 'a synopsis');
  }
});
