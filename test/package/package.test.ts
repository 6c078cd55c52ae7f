// The package as npm pack makes it (what npm publish would ship) holds the
// built commands, and once installed they run from PATH. Packed from a copy
// of the source tree, so the build that prepack runs does not touch the
// dist/ the other tests are using.
import t from 'tap';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { which } from '../../lib/which.js';
import { bin, root } from '../helpers/run.js';
import { PY, whyNotRecord } from '../helpers/recording.js';

const npm = (await execa('npm', ['--version'], { reject: false })).exitCode === 0;
const skip = npm ? false : 'npm is not on PATH';
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-pack-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const fx = join(root, 'test/fixtures/');

t.test('npm pack builds the commands, and an install runs all six from PATH', { skip, timeout: 240_000 }, async (t) => {
  // The source tree as git knows it, with this checkout's node_modules for the build.
  const src = join(tmp, 'src');
  const files = (await execa('git', ['ls-files', '-co', '--exclude-standard'], { cwd: root })).stdout.split('\n').filter(Boolean);
  for (const f of files) {
    if (!existsSync(join(root, f))) continue;
    mkdirSync(dirname(join(src, f)), { recursive: true });
    cpSync(join(root, f), join(src, f));
  }
  symlinkSync(join(root, 'node_modules'), join(src, 'node_modules'));
  const packed = await execa('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: src });
  const tarball = join(tmp, packed.stdout.trim().split('\n').pop()!);
  t.ok(existsSync(tarball), `packed ${tarball}`);
  const list = (await execa('tar', ['tzf', tarball])).stdout.split('\n');
  for (const name of ['perf-parse', 'gil-state', 'gil-stats', 'to-trace', 'merge-trace', 'gil-record']) {
    t.ok(list.includes(`package/dist/bin/${name}.js`), `the tarball holds dist/bin/${name}.js`);
  }
  for (const name of ['perf-parse', 'gil-state', 'gil-stats', 'to-trace', 'merge-trace', 'gil-record']) {
    t.ok(list.includes(`package/dist/man/${name}.1`), `the tarball holds the man page of ${name}`);
  }
  // record/python/ is data: gil-record's start-up hook for the programs it runs.
  const data = (f: string) => f.startsWith('package/record/python/');
  t.notOk(list.some((f) => !data(f) && (/^package\/(test|bin|filters|lib|record)\//.test(f) || f.endsWith('.ts') || f.endsWith('.map'))), 'no tests, sources or source maps');
  t.ok(list.includes('package/record/python/sitecustomize.py'), "the tarball holds gil-record's thread-name hook");

  const prefix = join(tmp, 'prefix');
  const inst = await execa('npm', ['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund'], { reject: false });
  t.equal(inst.exitCode, 0, String(inst.stderr).slice(-500));
  const env = { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
  const sh = (cmd: string) => execa('sh', ['-c', cmd], { env, stripFinalNewline: false, reject: false });
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

  const capture = fx + 'gil_hog.perf.txt.gz';
  const parsed = await sh(`perf-parse ${capture}`);
  const here = await execa('node', [bin('perf-parse'), capture], { stripFinalNewline: false });
  t.equal(parsed.exitCode, 0);
  t.ok(parsed.stdout === here.stdout, 'perf-parse from PATH = perf-parse of this checkout');
  const stats = await sh(`perf-parse ${capture} | gil-state | gil-stats --format json`);
  const summary = JSON.parse(String(stats.stdout));
  t.equal(summary.type, 'gil_stats');
  t.ok(summary.threads.length >= 3, 'gil-state | gil-stats: the three threads of the GIL hog');
  const trace = join(tmp, 'trace.json');
  t.equal((await sh(`gil-state ${capture} | to-trace -o ${trace}`)).exitCode, 0);
  t.ok(JSON.parse(readFileSync(trace, 'utf8')).traceEvents.length > 100, 'to-trace wrote a trace');
  const merged = await sh(`merge-trace ${trace} ${fx}viztracer/threads.json`);
  t.equal(merged.exitCode, 0);
  t.ok(JSON.parse(String(merged.stdout)).traceEvents.length > 100, 'merge-trace merged');
  const rec = await sh('gil-record --version');
  t.equal(String(rec.stdout).trim(), version, 'gil-record runs');

  // The man pages, where man looks beside PREFIX/bin; what --help says is in them.
  if (which('man') === undefined) t.comment('man is not installed: the pages are checked as files only');
  else {
    const man = await execa('man', ['-M', join(prefix, 'share/man'), 'perf-parse'], { env: { ...env, MANPAGER: 'cat', MANWIDTH: '200' }, reject: false });
    t.equal(man.exitCode, 0, String(man.stderr));
    t.match(man.stdout, /^NAME\n\s+perf-parse - `perf script` text/m, 'man -M PREFIX/share/man perf-parse: its NAME');
    t.match(man.stdout, /^\s+-i, --input$/m, 'and its options');
  }
  t.ok(existsSync(join(prefix, 'share/man/man1/gil-record.1')), 'installed in PREFIX/share/man/man1');
  const completion = await sh('gil-stats --get-yargs-completions gil-stats --');
  t.match(completion.stdout, /^--switch-interval$/m, 'the installed command answers its completion');
  // The installed gil-record finds its hook (record/python, beside dist/): the program it runs has it first on PYTHONPATH.
  const installed = join(prefix, 'lib/node_modules/gilpipe');
  // Where the bundle looks for it (threadNameHook: record/python beside dist/), without perf too.
  t.ok(existsSync(join(installed, 'dist/gilpipe.mjs')) && existsSync(join(installed, 'record/python/sitecustomize.py')), 'installed: the bundle, and the hook beside its dist/');
  const noRecord = await whyNotRecord();
  if (noRecord) t.comment(`the installed gil-record's thread-name hook is not checked: ${noRecord}`);
  else {
    const seen = join(tmp, 'pythonpath.txt');
    const py = `import os; open(${JSON.stringify(seen)}, 'w').write(os.environ.get('PYTHONPATH', ''))`;
    const ran = await execa('gil-record', ['--record-only', '--no-probes', '-q', '--perf-data', join(tmp, 'hook.perf.data'), '--', PY, '-c', py], { env, cwd: tmp, reject: false });
    if (ran.exitCode !== 0) t.comment(String(ran.stderr).slice(-500));
    t.equal(ran.exitCode, 0, 'the installed gil-record records');
    t.equal(existsSync(seen) ? readFileSync(seen, 'utf8').split(':')[0] : undefined, join(installed, 'record/python'), 'the installed gil-record finds its thread-name hook');
  }
});
