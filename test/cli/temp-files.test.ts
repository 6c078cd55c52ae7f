// `-o FILE` writes a temporary file beside FILE and renames it at the end. In
// a shared directory (`-o /tmp/out.json`) the temporary name must not be one
// another user can plant a symlink at: writing through it would overwrite the
// file it points to. (merge-trace's spool of stdin: merge-trace.test.ts.)
import t from 'tap';
import { chmodSync, chownSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

t.test('-o onto a symlink replaces the file it names, with that file\'s mode and owner, and keeps the link', async (t) => {
  const dir = mkdtempSync(join(tmp, 'link-'));
  const dated = join(dir, 'stats-2026-12-07.json');
  writeFileSync(dated, 'old\n');
  chmodSync(dated, 0o640);
  const root = process.getuid?.() === 0;
  if (root) chownSync(dated, 65534, 65534);
  symlinkSync('stats-2026-12-07.json', join(dir, 'latest.json'));
  const r = await execa('node', [bin('gil-stats'), fx + 'gil_hog.perf.txt.gz', '--format', 'json', '-o', join(dir, 'latest.json')], { reject: false });
  t.equal(r.exitCode, 0, r.stderr);
  t.ok(lstatSync(join(dir, 'latest.json')).isSymbolicLink(), 'the link is still a link');
  t.equal(JSON.parse(readFileSync(dated, 'utf8')).type, 'gil_stats', 'the file it names holds the output');
  const st = statSync(dated);
  t.equal(st.mode & 0o777, 0o640, 'with the mode it had');
  if (root) t.same([st.uid, st.gid], [65534, 65534], 'and the owner it had');
  t.strictSame(readdirSync(dir).sort(), ['latest.json', 'stats-2026-12-07.json'], 'no temporary file left');
});

t.test('-o onto a dangling link creates the file it names; -o /dev/stdout onto a file writes that file, /dev/stdout stays a link', async (t) => {
  const dir = mkdtempSync(join(tmp, 'dangling-'));
  symlinkSync('made.json', join(dir, 'out.json'));
  const r = await execa('node', [bin('gil-stats'), fx + 'gil_hog.perf.txt.gz', '--format', 'json', '-o', join(dir, 'out.json')], { reject: false });
  t.equal(r.exitCode, 0, r.stderr);
  t.ok(lstatSync(join(dir, 'out.json')).isSymbolicLink());
  t.equal(JSON.parse(readFileSync(join(dir, 'made.json'), 'utf8')).type, 'gil_stats');
  const wasLink = lstatSync('/dev/stdout', { throwIfNoEntry: false })?.isSymbolicLink();
  if (!wasLink) return t.pass('no /dev/stdout link on this system');
  const file = join(dir, 'stdout.json');
  const s = await execa('sh', ['-c', 'exec node "$1" "$2" --format json -o /dev/stdout > "$3"', 'sh', bin('gil-stats'), fx + 'gil_hog.perf.txt.gz', file], { reject: false });
  t.equal(s.exitCode, 0, s.stderr);
  t.ok(lstatSync('/dev/stdout').isSymbolicLink(), '/dev/stdout is still the link it was');
  t.equal(JSON.parse(readFileSync(file, 'utf8')).type, 'gil_stats', 'the output went to the file stdout was on');
  t.strictSame(readdirSync('/dev').filter((f) => f.includes('.tmp-')), [], 'no temporary file in /dev');
});
