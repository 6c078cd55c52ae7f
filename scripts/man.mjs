#!/usr/bin/env node
// Man pages for the commands, made from what they say themselves: the
// header comment of each command's source, bin/NAME.ts (NAME, DESCRIPTION) and its --help
// (SYNOPSIS, OPTIONS, EXAMPLES), as help2man does, without needing help2man.
// prepack runs it after the build; package.json's "man" installs the pages.
//
//   node scripts/man.mjs [--out DIR]     (default: dist/man; run npm run build first)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const COMMANDS = ['gil-record', 'perf-parse', 'gil-state', 'gil-stats', 'to-trace', 'merge-trace'];

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let out = join(root, 'dist/man');
if (args[0] === '--out' && args.length === 2) out = resolve(args[1]);
else if (args.length > 0) {
  process.stderr.write('man: usage: node scripts/man.mjs [--out DIR]\n');
  process.exit(2);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
mkdirSync(out, { recursive: true });
for (const name of COMMANDS) {
  const script = join(root, 'dist/bin', `${name}.js`);
  // The built file is a launcher of the bundle (scripts/bundle.mjs): the words are in the source.
  const source = readFileSync(join(root, 'bin', `${name}.ts`), 'utf8');
  if (!existsSync(script)) {
    process.stderr.write(`man: ${script} is missing: npm run build first\n`);
    process.exit(1);
  }
  // Not a terminal: yargs does not wrap, one entry a line.
  const help = execFileSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
  writeFileSync(join(out, `${name}.1`), page(name, header(source, name), help));
}
process.stderr.write(`man: ${COMMANDS.length} pages in ${out}\n`);

/** The comment at the top of a command: `// NAME: what it does`, then more lines. */
function header(source, name) {
  const lines = [];
  for (const line of source.split('\n').slice(1)) {
    if (!line.startsWith('//')) break;
    lines.push(line.replace(/^\/\/ ?/, ''));
  }
  const text = lines.join(' ').replace(new RegExp(`^${name}: `), '');
  const first = /^(.*?)\.(\s|$)/.exec(text);
  return { summary: first ? first[1] : text, description: text };
}

/** --help's sections: the usage lines, then `Title:` and its entries, split into term and text. */
function sections(help) {
  const [usage, ...rest] = help.trimEnd().split(/\n\n/);
  const out = { usage: usage.split('\n') };
  for (const block of rest) {
    const [title, ...lines] = block.split('\n');
    out[title.replace(/:$/, '')] = columns(lines);
  }
  return out;
}

/** Entries of one section, at the column where every line's text starts after two spaces. */
function columns(lines) {
  const starts = (l) => {
    const set = new Set();
    for (const m of l.matchAll(/\S {2,}(?=\S)/g)) set.add(m.index + m[0].length);
    return set;
  };
  const common = lines.map(starts).reduce((a, b) => new Set([...a].filter((p) => b.has(p))));
  const at = Math.min(...common);
  return lines.map((l) => {
    const text = l.slice(at).trim();
    const note = /^(.*?)\s{2,}((?:\[[^\]]*\]\s*)+)$/.exec(text);
    return { term: l.slice(0, at).trim(), text: note ? note[1] : text, note: note ? note[2].trim() : '' };
  });
}

function esc(s) {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

function page(name, { summary, description }, help) {
  const s = sections(help);
  const others = COMMANDS.filter((c) => c !== name)
    .map((c) => `.BR ${c} (1)`)
    .join(',\n');
  const lines = [
    `.TH ${name.toUpperCase()} 1 "" "${pkg.name} ${pkg.version}" "User Commands"`,
    '.SH NAME',
    `${esc(name)} \\- ${esc(summary)}`,
    '.SH SYNOPSIS',
    ...s.usage.flatMap((u) => {
      // A line that is not a command line says what the one before does.
      if (!u.startsWith(`${name} `)) return ['.br', esc(u)];
      const [cmd, what] = u.split(/\s{2,}/);
      return ['.HP', `.B ${esc(cmd.split(' ')[0])}`, esc(cmd.split(' ').slice(1).join(' ')), ...(what ? ['.br', esc(what)] : [])];
    }),
    // A header of one sentence is the NAME line already.
    ...(description.replace(/\.$/, '') === summary ? [] : ['.SH DESCRIPTION', esc(description)]),
    '.SH OPTIONS',
    ...(s.Options ?? []).flatMap((o) => ['.TP', `.B ${esc(o.term)}`, esc(o.note ? `${o.text} ${o.note}` : o.text)]),
    ...(s.Commands ? ['.SH COMMANDS', ...s.Commands.flatMap((c) => ['.TP', `.B ${esc(c.term)}`, esc(c.text)])] : []),
    ...(s.Examples ? ['.SH EXAMPLES', ...s.Examples.flatMap((e) => ['.TP', `.B ${esc(e.term)}`, esc(e.text)])] : []),
    '.SH EXIT STATUS',
    '0 done; 1 bad input data or a failed write; 2 a usage error.',
    ...(name === 'gil-record' ? ['Once the program ran, the exit status is its own.'] : []),
    '.SH ENVIRONMENT',
    '.TP',
    '.B GILPIPE_DEBUG=1',
    'show the stack trace of an internal error.',
    '.SH SEE ALSO',
    others,
    '.PP',
    `The records between the commands: docs/events.md in the ${esc(pkg.name)} package.`,
  ];
  return `${lines.join('\n')}\n`;
}
