// `-o FILE` writes a temporary file beside FILE and renames it at the end. In
// a shared directory (`-o /tmp/out.json`) the temporary name must not be one
// another user can plant a symlink at: writing through it would overwrite the
// file it points to. (merge-trace's spool of stdin: merge-trace.test.ts.)
import t from 'tap';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { bin } from '../helpers/run.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'temp-files-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

for (const [cmd, args] of [
  ['to-trace', [fx + 'gil_hog.perf.txt.gz']],
  ['gil-stats', [fx + 'gil_hog.perf.txt.gz', '--format', 'json']],
  ['perf-parse', [fx + 'gil_hog.perf.txt.gz']],
] as const) {
  t.test(`${cmd} -o: a symlink at the temporary name the build before used is not written through`, async (t) => {
    const dir = mkdtempSync(join(tmp, `${cmd}-`));
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    // exec keeps the shell's pid, so $$ is the command's: .out.json.tmp-PID was its temporary file.
    const script = 'v=$1 d=$2 b=$3; shift 3; ln -s "$v" "$d/.out.json.tmp-$$" && exec node "$b" "$@"';
    const r = await execa('sh', ['-c', script, 'sh', victim, dir, bin(cmd), ...args, '-o', join(dir, 'out.json')], { reject: false });
    t.equal(r.exitCode, 0, 'exit 0');
    t.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the file the symlink points to is untouched');
    t.ok(lstatSync(join(dir, 'out.json')).isFile(), 'the output is a file of its own, not a link');
    t.ok(readFileSync(join(dir, 'out.json'), 'utf8').length > 1000, 'and holds the output');
    t.strictSame(readdirSync(dir).filter((f) => f.includes('.tmp-') && !lstatSync(join(dir, f)).isSymbolicLink()), [], 'no temporary file left');
  });
}
