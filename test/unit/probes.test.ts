// gil-record's record/ modules without recording: finding interpreters,
// symbols and probe places on the real interpreters of this machine, checked
// against independent tools (ldd, nm, file) rather than against our own output.
import t from 'tap';
import { execa } from 'execa';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  mappedFiles,
  isLibpython,
  isLibc,
  versionFromName,
  elfFacts,
  resolveProgram,
  interpreterOfCommand,
  interpreterOfPid,
  debugPackageHint,
} from '../../record/interpreter.js';
import { sortSymbols, parseDefinitions, planSites, planGilProbes, planForInterpreter, GIL_SYMBOL_RE } from '../../record/probes.js';
import { probeDefinitions, probeEvents, listedEvents, staleGroups, explainProbeFailure, renameAround } from '../../record/probe-group.js';
import { preflight } from '../../record/system.js';
import { recordArgs, underViztracer, explainRecordFailure, SCHED_EVENTS, withDefaultSignals, defaultMmapSize, mmapBytes, biggerMmap, lostAdvice, mmapText } from '../../record/perf-record.js';

const PYENV = '/root/.pyenv/versions';
const py = (v: string) => `${PYENV}/${v}/bin/python3`;
const lib = (v: string) => `${PYENV}/${v}/lib/libpython${v.split('.').slice(0, 2).join('.')}.so.1.0`;
const perfOk = (await execa('perf', ['--version'], { reject: false })).exitCode === 0;
const hasNm = (await execa('nm', ['--version'], { reject: false })).exitCode === 0;
const noPerf = perfOk ? false : 'perf is not installed';
const tmp = mkdtempSync(join(tmpdir(), 'probes-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** The address of a symbol as binutils' nm reports it (an independent reading of the symbol table). */
async function nmAddr(file: string, sym: string): Promise<string | undefined> {
  const r = await execa('nm', [file], { reject: false });
  const line = String(r.stdout)
    .split('\n')
    .find((l) => l.endsWith(` ${sym}`));
  return line ? '0x' + BigInt('0x' + line.split(' ')[0]).toString(16) : undefined;
}

t.test('mappedFiles reads /proc/PID/maps; libpython and libc are the ones ldd names', { skip: existsSync(py('3.11.7')) ? false : 'no pyenv 3.11.7' }, async (t) => {
  const r = await execa(py('3.11.7'), ['-c', 'print(open("/proc/self/maps").read())']);
  const files = mappedFiles(String(r.stdout));
  const ldd = String((await execa('ldd', [py('3.11.7')])).stdout);
  const lddLib = /libpython\S+ => (\S+)/.exec(ldd)![1]!;
  const lddLibc = /libc\.so\.6 => (\S+)/.exec(ldd)![1]!;
  t.equal(realpathSync(files.find(isLibpython)!), realpathSync(lddLib), 'libpython as ldd resolves it');
  t.equal(realpathSync(files.find(isLibc)!), realpathSync(lddLibc), 'libc as ldd resolves it');
  t.ok(files.every((f) => f.startsWith('/')), 'only paths, no [heap]/[stack]');
  t.same(mappedFiles('7f0-7f1 r-xp 00000000 08:01 123 /opt/sp dir/libpython3.12.so.1.0 (deleted)\n7f1-7f2 rw-p 0 00:00 0 [heap]\n'), ['/opt/sp dir/libpython3.12.so.1.0']);
});

t.test('names: libpython, libc, versions and the free-threaded t', async (t) => {
  t.ok(isLibpython('/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0'));
  t.ok(isLibpython('/usr/local/lib/libpython3.13t.so.1.0'));
  t.notOk(isLibpython('/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so'));
  t.ok(isLibc('/usr/lib/x86_64-linux-gnu/libc.so.6'));
  t.ok(isLibc('/lib/ld-musl-x86_64.so.1'));
  t.notOk(isLibc('/usr/lib/x86_64-linux-gnu/libcrypt.so.1'));
  t.same(versionFromName('/usr/bin/python3.13t'), { version: '3.13', freeThreaded: true });
  t.same(versionFromName('/x/libpython3.11.so.1.0'), { version: '3.11', freeThreaded: false });
  t.same(versionFromName('/usr/bin/uwsgi'), { freeThreaded: false });
});

t.test('elfFacts: Debian python3.11 is stripped (file(1) agrees), pyenv libpython is not', async (t) => {
  const sys = '/usr/bin/python3.11';
  if (existsSync(sys)) {
    const file = String((await execa('file', ['-L', sys], { reject: false })).stdout);
    const f = elfFacts(sys);
    t.ok(f.elf, 'an ELF file');
    t.equal(f.symtab, /not stripped/.test(file), `symtab as file(1) says: ${file.slice(-40)}`);
    t.match(f.buildId ?? '', /^[0-9a-f]{40}$/, 'build-id read');
    if (/BuildID\[sha1\]=([0-9a-f]+)/.exec(file)) t.equal(f.buildId, /BuildID\[sha1\]=([0-9a-f]+)/.exec(file)![1], 'the build-id file(1) prints');
  }
  if (existsSync(lib('3.11.7'))) {
    const f = elfFacts(lib('3.11.7'));
    t.ok(f.symtab, 'pyenv libpython keeps its symbol table');
    t.ok(f.debugInfo, 'and its DWARF');
  }
  t.same(elfFacts('/etc/os-release'), { elf: false, symtab: false, debugInfo: false }, 'not ELF');
  t.notOk(elfFacts('/nonexistent').elf);
});

t.test('symbol names: clones match, look-alikes do not', async (t) => {
  for (const ok of ['take_gil', 'drop_gil', 'take_gil.constprop.0', 'take_gil.lto_priv.0', 'take_gil.llvm.9825546073713290718']) t.match(ok, GIL_SYMBOL_RE);
  for (const no of ['create_gil', 'tracemalloc_malloc_gil', 'take_gil_x', '_take_gil', 'PyEval_RestoreThread']) t.notMatch(no, GIL_SYMBOL_RE);
  t.same(sortSymbols(['take_gil.constprop.0', 'create_gil', 'drop_gil', 'take_gil']), { take_gil: ['take_gil', 'take_gil.constprop.0'], drop_gil: ['drop_gil'] });
});

t.test('planSites: one event per place, returns only where an entry sits', async (t) => {
  const p = planSites(
    'take_gil',
    '/lib.so',
    [
      { kind: 'p', offset: '0x10' },
      { kind: 'p', offset: '0x20' },
      { kind: 'p', offset: '0x10' }, // a clone's DWARF lookup lands on both again
      { kind: 'p', offset: '0x99' }, // an inlined copy
    ],
    [
      { kind: 'r', offset: '0x20' },
      { kind: 'r', offset: '0x10' },
      { kind: 'r', offset: '0x50' }, // a return with no entry of ours (another symbol version)
    ],
  );
  t.same(p, [
    { event: 'take_gil', bin: '/lib.so', offset: '0x10', ret: true },
    { event: 'take_gil_1', bin: '/lib.so', offset: '0x20', ret: true },
    { event: 'take_gil_2', bin: '/lib.so', offset: '0x99', ret: false },
  ]);
  t.same(probeDefinitions('gilrec_7', p).map((d) => d.def), [
    'gilrec_7:take_gil=0x10',
    'gilrec_7:take_gil=0x10%return',
    'gilrec_7:take_gil_1=0x20',
    'gilrec_7:take_gil_1=0x20%return',
    'gilrec_7:take_gil_2=0x99',
  ]);
  t.same(probeEvents('gilrec_7', p), ['gilrec_7:take_gil', 'gilrec_7:take_gil__return', 'gilrec_7:take_gil_1', 'gilrec_7:take_gil_1__return', 'gilrec_7:take_gil_2']);
  t.same(parseDefinitions('p:g/take_gil /x/libpython3.8.so.1.0:0x174160\nr:g/x__return /x/lib:0x1743c0\nnoise\n'), [
    { kind: 'p', offset: '0x174160' },
    { kind: 'r', offset: '0x1743c0' },
  ]);
});

// Every pyenv interpreter here: perf finds take_gil/drop_gil; each planned
// offset is the start of a symbol nm names (or, for an entry-only place, lies
// inside another function: an inlined copy).
const versions = ['3.8.18', '3.9.18', '3.10.13', '3.11.7', '3.12.1', '3.13.0'].filter((v) => existsSync(lib(v)));
t.test('planGilProbes on the pyenv interpreters', { skip: noPerf || (hasNm ? (versions.length ? false : 'no pyenv interpreters') : 'no nm') }, async (t) => {
  for (const v of versions) {
    const plan = await planGilProbes(lib(v));
    const take = plan.specs.filter((s) => s.event.startsWith('take_gil'));
    const drop = plan.specs.filter((s) => s.event.startsWith('drop_gil'));
    t.ok(take.length >= 1 && drop.length >= 1, `${v}: take_gil and drop_gil found`);
    t.equal(take[0]!.offset, await nmAddr(lib(v), 'take_gil'), `${v}: take_gil at the address nm gives`);
    t.ok(take[0]!.ret && drop[0]!.ret, `${v}: the plain names have return probes`);
    t.equal(drop[0]!.offset, await nmAddr(lib(v), 'drop_gil'), `${v}: drop_gil at the address nm gives`);
    if (v === '3.8.18') {
      // gcc cloned take_gil: most calls go to the clone, so it needs its own return probe.
      const clone = await nmAddr(lib(v), 'take_gil.constprop.0');
      t.ok(clone, '3.8 has take_gil.constprop.0');
      t.same(take.map((s) => [s.offset, s.ret]), [[take[0]!.offset, true], [clone, true]], '3.8: the clone is its own entry/return pair');
    }
    if (v === '3.13.0') {
      t.equal(drop.length, 2, '3.13: drop_gil is also inlined (into PyEval_ReleaseLock)');
      t.equal(drop[1]!.ret, false, '3.13: the inlined copy has no return probe');
    }
  }
});

t.test('planForInterpreter: stripped Debian python falls back to libc and names the fix', { skip: noPerf || (existsSync('/usr/bin/python3.11') ? false : 'no /usr/bin/python3.11') }, async (t) => {
  const interp = await interpreterOfCommand(['/usr/bin/python3.11']);
  t.notOk(interp.libpython, 'Debian links the interpreter statically: no libpython');
  const plan = await planForInterpreter(interp);
  t.equal(plan.source, 'cond_timedwait');
  t.same(plan.specs.map((s) => [s.event, s.ret]), [['pcond_timedwait', true]]);
  t.equal(plan.bin, interp.libc);
  const text = plan.notes.join('\n');
  t.match(text, /python3\.11 is stripped/);
  t.match(text, /apt-get install python3\.11-dbg/);
  t.match(text, /waits only/);
  await t.rejects(planForInterpreter(interp, { fallback: false }), /stripped/, '--no-fallback fails instead');
});

t.test('planForInterpreter: a free-threaded build says there is no GIL to trace', async (t) => {
  const plan = await planForInterpreter({ exe: '/usr/bin/python3.13t', freeThreaded: true, version: '3.13.1', how: 'test' }, { noProbes: true });
  t.equal(plan.source, 'none');
  t.match(plan.notes.join('\n'), /free-threaded build.*no GIL to trace unless the GIL is enabled at run time \(PYTHON_GIL=1/);
});

t.test('interpreters: through a pyenv shim, a #! script, and a running pid (ldd is the truth)', { skip: existsSync(py('3.11.7')) ? false : 'no pyenv 3.11.7' }, async (t) => {
  const ldd = String((await execa('ldd', [py('3.11.7')])).stdout);
  const lddLib = realpathSync(/libpython\S+ => (\S+)/.exec(ldd)![1]!);
  const script = join(tmp, 'app');
  writeFileSync(script, `#!/usr/bin/env python3.11\nprint("hi")\n`);
  chmodSync(script, 0o755);
  const env = { ...process.env, PATH: `${PYENV}/3.11.7/bin:/usr/bin:/bin` };
  t.same(resolveProgram(script, env), [`${PYENV}/3.11.7/bin/python3.11`], '#!/usr/bin/env python3.11 resolves on PATH');
  const viaScript = await interpreterOfCommand([script], env);
  t.equal(viaScript.libpython, lddLib);
  t.equal(viaScript.version, '3.11.7');
  if (existsSync('/root/.pyenv/shims/python')) {
    const shimmed = await interpreterOfCommand(['python'], { ...process.env, PATH: `/root/.pyenv/shims:${process.env.PATH}`, PYENV_VERSION: '3.11.7' });
    t.equal(shimmed.libpython, lddLib, 'the shim (a bash script) is seen through');
    t.equal(shimmed.exe, realpathSync(`${PYENV}/3.11.7/bin/python3.11`));
  }
  const child = execa(py('3.11.7'), ['-c', 'import time; time.sleep(30)'], { reject: false });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const byPid = interpreterOfPid(child.pid!);
    t.equal(byPid.exe, realpathSync(`${PYENV}/3.11.7/bin/python3.11`), '/proc/PID/exe');
    t.equal(realpathSync(byPid.libpython!), lddLib, '/proc/PID/maps');
    t.equal(byPid.version, '3.11');
    t.match(byPid.how, /\/proc\/\d+\/maps/);
  } finally {
    child.kill('SIGKILL');
    await child;
  }
  t.throws(() => interpreterOfPid(2 ** 22 + 5), /no process with pid/);
  await t.rejects(interpreterOfCommand(['/bin/true']), /cannot tell which Python.*--python PATH/);
  t.throws(() => resolveProgram('no-such-command-here', env), /command not found/);
});

t.test('listing and stale groups: only gilrec_<pid> of dead gil-records', async (t) => {
  const listed = listedEvents(
    '  gilrec_1234:take_gil (on take_gil@Python/ceval_gil.h in /x)\n  python:take_gil (on take_gil in /x)\n  gilrec_99:drop_gil (on 0x10 in /x)\n',
  );
  t.same(listed, ['gilrec_1234:take_gil', 'python:take_gil', 'gilrec_99:drop_gil']);
  t.same(staleGroups(listed, (pid) => pid === 99), ['gilrec_1234'], 'a live gil-record and other people\'s groups are left alone');
});

t.test('messages say what to do', async (t) => {
  const base = { uid: 0, paranoid: 2, tracefs: '/sys/kernel/tracing', uprobes: true, perf: '/usr/bin/perf' };
  t.same(preflight(base, true), [], 'root with tracefs and uprobes: fine');
  t.match(preflight({ ...base, perf: undefined }, true)[0], /perf is not installed.*apt-get install linux-perf/);
  t.match(preflight({ ...base, uid: 1000 }, true)[0], /needs root: run gil-record with sudo/);
  t.match(preflight({ ...base, uid: 1000 }, false)[0], /kernel\.perf_event_paranoid is 2.*sudo sysctl kernel\.perf_event_paranoid=-1/);
  t.same(preflight({ ...base, uid: 1000, paranoid: -1 }, false), [], 'paranoid -1 lets users record tracepoints');
  t.match(preflight({ ...base, tracefs: undefined, uprobes: false }, false)[0], /tracefs is not mounted.*mount -t tracefs nodev \/sys\/kernel\/tracing/);
  t.match(preflight({ ...base, uprobes: false }, true)[0], /no uprobe events.*CONFIG_UPROBE_EVENTS.*--no-probes/);
  t.same(preflight({ ...base, uprobes: false }, false), [], '--no-probes does not need uprobes');
  t.match(explainProbeFailure('Error: Failed to write event: Permission denied', '/x'), /needs root/);
  t.match(explainRecordFailure('Error:\nAccess to performance monitoring and observability operations is limited.\nperf_event_paranoid setting is 4:'), /kernel\.perf_event_paranoid is 4.*sudo/);
  t.match(explainRecordFailure('event syntax error: \'sched:sched_switch\'\n unknown tracepoint'), /tracefs/);
  t.match(debugPackageHint({ exe: '/usr/bin/python3.12', version: '3.12.3', freeThreaded: false, how: '' }, { ID: 'ubuntu', ID_LIKE: 'debian' }), /python3\.12-dbgsym/);
  t.match(debugPackageHint({ exe: '/usr/bin/python3', version: '3.12.3', freeThreaded: false, how: '' }, { ID: 'fedora' }), /dnf debuginfo-install python3/);
});

t.test('perf record command line', async (t) => {
  const a = recordArgs({ output: 'p.data', probeEvents: ['gilrec_1:take_gil'], stacks: true, command: ['python', 'x.py'] });
  t.same(a.slice(0, 3), ['record', '-k', 'CLOCK_MONOTONIC'], 'CLOCK_MONOTONIC, to line up with VizTracer');
  t.ok(a.includes('--switch-events'), 'switch-in records, which per-process sched_switch cannot show');
  t.ok(a.includes('sched:sched_switch/call-graph=dwarf/'), 'stacks on sched_switch');
  t.equal(a.filter((x) => x.includes('call-graph')).length, 1, 'and nowhere else');
  for (const ev of SCHED_EVENTS.slice(1)) t.ok(a.includes(ev));
  t.same(a.slice(-3), ['--', 'python', 'x.py']);
  t.same(withDefaultSignals(['python', 'x.py'], true), ['env', '--default-signal=PIPE,HUP', 'python', 'x.py'], 'the program gets SIGPIPE and SIGHUP back where env can');
  t.same(withDefaultSignals(['python', 'x.py'], false), ['python', 'x.py'], 'and runs as it is where env cannot');
  t.same(recordArgs({ output: 'p', probeEvents: [], stacks: false, pid: 42, durationS: 2.5 }).slice(-5), ['-p', '42', '--', 'sleep', '2.5']);
  t.notOk(recordArgs({ output: 'p', probeEvents: [], stacks: false, pid: 42 }).includes('--'), 'no duration: until Ctrl-C');
  t.same(underViztracer(['python3', '-X', 'dev', 'app.py', '-v'], 'v.json'), ['python3', '-X', 'dev', '-m', 'viztracer', '-o', 'v.json', '--quiet', '--', 'app.py', '-v']);
  t.same(underViztracer(['python3', '-m', 'pkg.main', 'a'], 'v.json'), ['python3', '-m', 'viztracer', '-o', 'v.json', '--quiet', '--module', 'pkg.main', 'a']);
  t.throws(() => underViztracer(['python3', '-c', 'pass'], 'v.json'), /python -c/);
});

t.test('names taken by other groups are skipped (perf refuses a name used in any group)', async (t) => {
  const specs = [
    { event: 'take_gil', bin: '/l', offset: '0x1', ret: true },
    { event: 'take_gil_1', bin: '/l', offset: '0x2', ret: true },
    { event: 'drop_gil', bin: '/l', offset: '0x3', ret: true },
  ];
  // someone's per4m-style `python:take_gil` and `python:take_gil__return`, and a `take_gil_2__return`
  const renamed = renameAround(specs, new Set(['take_gil', 'take_gil__return', 'take_gil_2__return']));
  t.same(renamed.map((s) => s.event), ['take_gil_1', 'take_gil_3', 'drop_gil']);
  t.same(renameAround(specs, new Set()).map((s) => s.event), ['take_gil', 'take_gil_1', 'drop_gil'], 'nothing taken: names as planned');
  // gil-record's own: tagged with its pid, numbered per function.
  t.same(renameAround(specs, new Set(), '812').map((s) => s.event), ['take_gil_8120', 'take_gil_8121', 'drop_gil_8120']);
  t.same(renameAround(specs, new Set(['take_gil_8120__return']), '812').map((s) => s.event), ['take_gil_8121', 'take_gil_8122', 'drop_gil_8120'], 'still clear of a taken name');
  for (const n of ['take_gil_8120', 'drop_gil_8121']) t.match(n, /^(take|drop)_gil(?:_\d+)?$/, `${n} reads as the GIL function in gil-state's default pattern`);
});

t.test('interpreterOfPid reads a container process through /proc/PID/root', async (t) => {
  // A proc directory shaped like the kernel's for a process in another mount
  // namespace: exe and maps name paths inside the container.
  const proc = join(tmp, 'proc');
  const pid = 4242;
  const dir = join(proc, String(pid));
  const { mkdirSync, symlinkSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  symlinkSync('/usr/local/bin/python3.12', join(dir, 'exe'));
  symlinkSync('/var/lib/containers/overlay/abc/merged', join(dir, 'root'));
  writeFileSync(
    join(dir, 'maps'),
    [
      '00400000-00401000 r--p 00000000 00:2a 1234 /usr/local/bin/python3.12',
      '7f00-7f10 r-xp 00000000 00:2a 99 /usr/local/lib/libpython3.12.so.1.0',
      '7f20-7f30 r-xp 00000000 00:2a 98 /lib/x86_64-linux-gnu/libc.so.6',
      '7f40-7f50 rw-p 00000000 00:00 0 [heap]',
    ].join('\n') + '\n',
  );
  const i = interpreterOfPid(pid, proc);
  t.equal(i.exe, join(dir, 'root', '/usr/local/bin/python3.12'));
  t.equal(i.libpython, join(dir, 'root', '/usr/local/lib/libpython3.12.so.1.0'));
  t.equal(i.libc, join(dir, 'root', '/lib/x86_64-linux-gnu/libc.so.6'));
  t.equal(i.version, '3.12');
  t.match(i.how, /through \/proc\/4242\/root: a container/);
});

t.test('--python names the interpreter when the command does not', { skip: existsSync(py('3.12.1')) ? false : 'no pyenv 3.12.1' }, async (t) => {
  const i = await interpreterOfCommand(['./run-my-app'], process.env, py('3.12.1'));
  t.equal(i.version, '3.12.1');
  t.match(i.libpython ?? '', /libpython3\.12\.so/);
});

t.test('tracefs is found in /proc/mounts, which users without root can read', async (t) => {
  const { tracefsMount } = await import('../../record/system.js');
  t.equal(tracefsMount('sysfs /sys sysfs rw 0 0\nnone /sys/kernel/tracing tracefs rw,relatime 0 0\n'), '/sys/kernel/tracing');
  t.equal(tracefsMount('debugfs /sys/kernel/debug debugfs rw 0 0\n'), '/sys/kernel/debug/tracing', 'old kernels: under debugfs');
  t.equal(tracefsMount('sysfs /sys sysfs rw 0 0\n'), undefined);
  t.same(preflight({ uid: 1000, paranoid: -1, tracefs: '/sys/kernel/tracing', uprobes: false, perf: '/usr/bin/perf' }, true).length, 1, 'a user is told to use sudo, not that uprobes are missing');
});

t.test('the ring buffer: a default that loses nothing here, and the fix when events are lost', async (t) => {
  t.equal(defaultMmapSize(2), '16M', '16 MiB per CPU on small machines');
  t.equal(defaultMmapSize(16), '16M');
  t.equal(defaultMmapSize(64), '4M', '256 MiB shared out beyond 16 CPUs');
  t.equal(defaultMmapSize(1024), '1M', 'never below 1 MiB');
  t.equal(mmapBytes('128'), 128 * 4096, 'a bare number is pages, as perf reads it');
  t.equal(mmapBytes('4M'), 4 << 20);
  t.equal(mmapBytes('512K'), 512 << 10);
  t.equal(mmapBytes('lots'), undefined);
  t.equal(biggerMmap('16M'), '64M', 'four times the buffer');
  t.equal(biggerMmap('1'), '16M', 'at least 16 MiB');
  t.equal(biggerMmap('512M'), '2G');
  t.equal(mmapText('1'), '1 pages (4 KiB)', 'pages said as pages');
  t.equal(mmapText('3'), '3 pages, which perf rounds up to 4 (16 KiB)', 'as perf rounds them: "rounding mmap pages size to 16K (4 pages)"');
  t.match(lostAdvice(500, 500, '1'), /buffer was 1 pages \(4 KiB\) per CPU\): record again with -m 16M/);
  t.equal(lostAdvice(0, 1000, '16M'), undefined, 'nothing lost: nothing to say');
  t.equal(lostAdvice(1, 1000, '16M'), undefined, 'under 0.1 %: counted, not warned about');
  const advice = lostAdvice(60, 940, '16M');
  t.match(advice, /perf lost 6\.0% of the events \(60 of 1000; the buffer was 16M per CPU\): record again with -m 64M/);
});
