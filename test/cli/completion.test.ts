// Shell completion, yargs' own: `PROG completion` prints the script for bash
// (zsh when $SHELL is zsh) and the script asks `PROG --get-yargs-completions`.
// What it must offer is read from each bin's source: the options it declares.
import t from 'tap';
import { execa } from 'execa';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { which } from '../../lib/which.js';
import { FORMATS } from '../../filters/gil-stats/format.js';
import { COMMANDS, declaredOptions as declared } from '../helpers/declared.js';
import { bin, runBin } from '../helpers/run.js';

const everyOption = new Set(COMMANDS.flatMap(declared));

for (const name of COMMANDS) {
  t.test(`${name}: completion offers the options ${name} declares, and no other command's`, async (t) => {
    const want = declared(name);
    t.ok(want.length > 3, `${name} declares ${want.length} options`);
    const r = await runBin(name, ['--get-yargs-completions', name, '--']);
    t.equal(r.exitCode, 0, String(r.stderr));
    const offered = new Set(String(r.stdout).split('\n').filter(Boolean));
    t.same(want.filter((o) => !offered.has(o)), [], 'every declared option is offered');
    const foreign = [...everyOption].filter((o) => offered.has(o) && !want.includes(o));
    t.same(foreign, [], "no option of another command's");
  });
}

t.test("a choice's values are offered after it", async (t) => {
  const r = await runBin('gil-stats', ['--get-yargs-completions', 'gil-stats', '--format', '']);
  t.same(String(r.stdout).split('\n').filter(Boolean).sort(), [...FORMATS].sort(), "gil-stats --format: the formats it declares");
  // And those are the formats docs/gil-stats.md documents (not only what the code gave yargs).
  t.same([...FORMATS].sort(), ['csv', 'folded', 'json', 'markdown', 'ndjson', 'openmetrics', 'table']);
});

t.test('the completion command prints a script for bash, or for zsh under zsh', async (t) => {
  for (const name of COMMANDS) {
    const bash = await runBin(name, ['completion'], { env: { SHELL: '/bin/bash' } });
    t.equal(bash.exitCode, 0, `${name} completion: exit 0`);
    t.match(bash.stdout, new RegExp(`complete -o bashdefault -o default -F _${name}_yargs_completions ${name}\\n`), `${name}: a bash script for ${name}`);
    t.match(bash.stdout, new RegExp(`${name} --get-yargs-completions`), 'it asks the command itself, found on PATH');
    const zsh = await runBin(name, ['completion'], { env: { SHELL: '/bin/zsh' } });
    t.match(zsh.stdout, new RegExp(`compdef _${name}_yargs_completions ${name}\\n`), `${name}: a zsh script under zsh`);
  }
  const rec = await runBin('gil-record', ['--', 'completion'], { env: { PATH: '/nonexistent' } });
  t.not(rec.exitCode, 0, 'gil-record -- completion records a program of that name (none here)');
  t.notMatch(rec.stdout, /yargs/, 'and prints no script');
});

// The script in a real bash: what a user gets after `source <(perf-parse completion)`.
// (yargs offers every option; the script's compgen keeps those the word begins.)
const bash = which('bash');
t.test('in bash: the sourced script completes --st to --strict', { skip: bash ? false : 'bash is not on PATH' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-completion-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The command on PATH as an installed one would be.
  for (const name of ['perf-parse', 'to-trace']) {
    writeFileSync(join(dir, name), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(bin(name))} "$@"\n`);
    chmodSync(join(dir, name), 0o755);
  }
  const script = `
    source <(perf-parse completion)
    source <(to-trace completion)
    COMP_WORDS=(perf-parse --st); COMP_CWORD=1; _perf-parse_yargs_completions; echo "perf-parse: \${COMPREPLY[*]}"
    COMP_WORDS=(to-trace --fl); COMP_CWORD=1; _to-trace_yargs_completions; echo "to-trace: \${COMPREPLY[*]}"
    complete -p perf-parse
  `;
  const r = await execa(bash!, ['-c', script], { env: { PATH: `${dir}:${process.env.PATH}`, SHELL: bash! }, reject: false });
  t.equal(r.exitCode, 0, String(r.stderr));
  t.match(r.stdout, /^perf-parse: --strict$/m);
  t.match(r.stdout, /^to-trace: --flows$/m);
  t.match(r.stdout, /complete -o bashdefault -o default -F _perf-parse_yargs_completions perf-parse/, 'registered for perf-parse');
});
