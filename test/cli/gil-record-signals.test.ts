// gil-record interrupted while its probes go in, before perf records: a
// Ctrl-C (SIGINT) or SIGTERM then must remove what it added and exit 130 or
// 143. A stand-in `perf` on PATH logs every call and takes its time adding
// probes, so the signal lands in that window every time; no root needed.
// Signals during the recording itself, with the real perf, are tested in
// test/live/gil-record.test.ts.
import t from 'tap';
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PY } from '../helpers/recording.js';
import { bin } from '../helpers/run.js';
import { preflight, probeSystem } from '../../record/system.js';
import { runs } from '../../record/proc.js';

const dir = mkdtempSync(join(tmpdir(), 'gil-record-signals-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const calls = join(dir, 'calls');

// Lists take_gil and drop_gil as any libpython has them, dry runs (-D) say where; an add
// puts its probes in (the file `added`) after 0.8 s, a removal takes them out at once, then 1 s more.
// The keeper (perf stat) opens its counters for 1.5 s before it says it counts, and holds the
// probes while it lives: a removal then fails, as the kernel's does (EBUSY).
const added = join(dir, 'added');
const holder = join(dir, 'holder');
writeFileSync(
  join(dir, 'perf'),
  `#!/bin/sh
echo "$*" >> '${calls}'
case "$*" in
  --version) echo "perf version 6.1.0";;
  "stat "*) echo $$ > '${holder}'; sleep 1.5; echo ready; read _;;
  *" -F "*) printf 'drop_gil\\ntake_gil\\n';;
  *" -D "*%return) echo "r:gilrec_dry/x__return $3:0x1000";;
  *" -D "*) echo "p:gilrec_dry/x $3:0x1000";;
  *" -a "*) sleep 0.8; touch '${added}';;
  *" -d "*) if [ -f '${holder}' ] && [ "$(cut -d' ' -f3 /proc/$(cat '${holder}')/stat 2>/dev/null)" != Z ] && [ -e /proc/$(cat '${holder}') ]; then echo 'Device or resource busy' >&2; exit 1; fi
            rm -f '${added}'; sleep 1;;
esac
exit 0
`,
);
chmodSync(join(dir, 'perf'), 0o755);

// The stand-in needs no root, but gil-record's preflight still looks at this machine (root, tracefs) before any probe.
const stops = preflight(probeSystem({ PATH: `${dir}:${process.env.PATH}` }), true);
const skip = !existsSync(PY) ? `no ${PY}` : stops.length > 0 ? `gil-record stops before its probes here: ${stops.join('; ')}` : false;
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  t.test(`${sig} while the probes are added: they are removed, exit ${code}`, { skip }, async (t) => {
    writeFileSync(calls, '');
    rmSync(join(dir, 'added'), { force: true });
    const r = execa('node', [bin('gil-record'), '--', PY, '-c', 'pass'], { reject: false, cwd: dir, env: { PATH: `${dir}:${process.env.PATH}` } });
    t.teardown(() => {
      r.kill('SIGKILL');
    });
    let adding: string | undefined;
    for (let i = 0; i < 200 && adding === undefined; i++) {
      await sleep(50);
      adding = readFileSync(calls, 'utf8')
        .split('\n')
        .find((l) => / -a /.test(l));
    }
    t.ok(adding, `the probes are going in: ${adding}`);
    r.kill(sig);
    const done = await r;
    t.equal(done.exitCode, code, `exit ${code}`);
    const group = / -a (gilrec_\d+):/.exec(adding ?? '')?.[1];
    const log = readFileSync(calls, 'utf8').split('\n');
    t.ok(
      log.some((l) => l === `probe -q -d ${group}:*`),
      `perf probe -d ${group}:* was run (${log.filter((l) => l.includes(' -d ')).join('; ') || 'no removal'})`,
    );
    t.notOk(
      log.some((l) => l.startsWith('record')),
      'perf record never started',
    );
    t.match(String(done.stderr), /probes removed/, 'and it says so');
    // The add it cut short must not finish after the removal (SIGTERM reaches gil-record alone).
    await sleep(1000);
    t.notOk(existsSync(join(dir, 'added')), 'the add was stopped before it put its probes in');
  });
}

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  t.test(`${sig} while the keeper starts: it is stopped, the probes are removed, exit ${code}`, { skip }, async (t) => {
    writeFileSync(calls, '');
    rmSync(added, { force: true });
    rmSync(holder, { force: true });
    const r = execa('node', [bin('gil-record'), '--', PY, '-c', 'pass'], { reject: false, cwd: dir, env: { PATH: `${dir}:${process.env.PATH}` } });
    t.teardown(() => {
      r.kill('SIGKILL');
    });
    let keeping = false;
    for (let i = 0; i < 200 && !keeping; i++) {
      await sleep(50);
      keeping = existsSync(holder) && readFileSync(calls, 'utf8').split('\n').some((l) => l.startsWith('stat '));
    }
    t.ok(keeping, 'perf stat is opening its counters');
    t.ok(existsSync(added), 'with the probes in');
    r.kill(sig);
    const done = await r;
    t.equal(done.exitCode, code, `exit ${code}`);
    t.match(String(done.stderr), /probes removed/, 'it says the probes are removed');
    t.notOk(existsSync(added), `and they are (${String(done.stderr).trim().split('\n').pop()})`);
    const pid = Number(readFileSync(holder, 'utf8'));
    const alive = runs(pid);
    t.notOk(alive, 'the keeper is gone');
    if (alive) process.kill(pid, 'SIGKILL');
    t.notOk(
      readFileSync(calls, 'utf8').split('\n').some((l) => l.startsWith('record')),
      'perf record never started',
    );
  });
}
