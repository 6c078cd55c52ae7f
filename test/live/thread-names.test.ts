// The thread-name hook (record/python/sitecustomize.py) in every pyenv
// interpreter here: each thread's OS name (/proc/self/task/TID/comm, what perf
// records) is its threading name cut to 15 bytes on a character boundary, as
// computed here from the name's UTF-8 bytes; a program's own sitecustomize
// and PYTHONPATH still work. Needs only the interpreters, not root or perf;
// skips those that are not installed.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadNameHook, withThreadNames } from '../../record/thread-names.js';

const VERSIONS = ['3.6.15', '3.7.16', '3.8.18', '3.9.18', '3.10.13', '3.11.7', '3.12.1', '3.13.0'];
const py = (v: string) => `/root/.pyenv/versions/${v}/bin/python`;
const tmp = mkdtempSync(join(tmpdir(), 'thread-names-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const NAMES = ['hog', 'ThreadPoolExecutor-0_2', 'ünïcødé-thread-name', 'xxx€€€€€', '"quoted" \\ name', 'tab\there'];

/** Linux keeps 15 bytes; a character cut in two is dropped whole. */
function expected(name: string): string {
  let b = Buffer.from(name, 'utf8').subarray(0, 15);
  while (b.length > 0 && Buffer.from(b.toString('utf8'), 'utf8').length !== b.length) b = b.subarray(0, b.length - 1);
  return b.toString('utf8');
}

// The program under test: threads report their own OS name, read back from /proc.
const prog = join(tmp, 'names.py');
writeFileSync(
  prog,
  [
    'import json, os, sys, threading',
    'out = {}',
    'def me():',
    // 3.6 and 3.7 have no get_native_id: gettid (186 on x86-64) through ctypes.
    '    tid = threading.get_native_id() if hasattr(threading, "get_native_id") else __import__("ctypes").CDLL(None).syscall(186)',
    '    return open("/proc/self/task/%d/comm" % tid, encoding="utf-8", errors="replace").read().rstrip("\\n")',
    'def run(name):',
    '    out[name] = me()',
    `for n in ${JSON.stringify(NAMES)}:`,
    '    th = threading.Thread(target=run, args=(n,), name=n); th.start(); th.join()',
    // Renamed once running: by itself, and by another thread; the main thread keeps the program name.
    'def rename_self():',
    '    threading.current_thread().name = "renamed-by-itself"',
    '    out["<self>"] = me()',
    'th = threading.Thread(target=rename_self, name="before"); th.start(); th.join()',
    'ev, done = threading.Event(), threading.Event()',
    'def wait_rename():',
    '    ev.wait(); out["<other>"] = me(); done.set()',
    'th = threading.Thread(target=wait_rename, name="before"); th.start()',
    'th.name = "renamed-from-main"; ev.set(); done.wait(); th.join()',
    'threading.main_thread().name = "MainRenamed"',
    'out["<main>"] = open("/proc/self/comm").read().rstrip("\\n")',
    'out["<own site>"] = os.environ.get("OWN_SITE", "")',
    'print(json.dumps(out))',
  ].join('\n'),
);
// A program's own sitecustomize, on its own PYTHONPATH.
const own = join(tmp, 'own');
mkdirSync(own);
writeFileSync(join(own, 'sitecustomize.py'), 'import os\nos.environ["OWN_SITE"] = "ran"\n');

const hook = threadNameHook();
t.ok(hook, 'the hook is found beside the sources');

for (const v of VERSIONS) {
  t.test(`Python ${v}`, { skip: existsSync(py(v)) ? false : `${py(v)} is not installed` }, async (t) => {
    const env = withThreadNames({ ...process.env, PYTHONPATH: own }, hook!);
    t.match(env.PYTHONPATH, new RegExp(`^${hook}:${own}$`), 'the hook first, their PYTHONPATH kept');
    const r = await execa(py(v), [prog], { env, reject: false });
    t.equal(r.exitCode, 0, String(r.stderr));
    const out = JSON.parse(String(r.stdout));
    for (const n of NAMES) t.equal(out[n], expected(n), `${JSON.stringify(n)} is ${JSON.stringify(expected(n))} in /proc`);
    t.match(out['<main>'], /^python/, 'the main thread keeps the program name');
    t.equal(out['<self>'], expected('renamed-by-itself'), 'a thread that renames itself is renamed');
    t.equal(out['<other>'], expected('renamed-from-main'), 'a thread renamed by another is renamed');
    t.equal(out['<own site>'], 'ran', "the program's own sitecustomize still runs");
    const plain = await execa(py(v), [prog], { env: { ...process.env, PYTHONPATH: own }, reject: false });
    const without = JSON.parse(String(plain.stdout));
    t.match(without.hog, /^python/, 'without the hook the thread is called python: the hook made the difference');
  });
}
