// One gil-record per perf.data (record/lock.ts): a lock whose pid runs
// another gil-record refuses; one whose pid is gone, or now runs something
// else (pids wrap, a reboot starts them again), is taken over.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { lockRecording } from '../../record/lock.js';

const tmp = mkdtempSync(join(tmpdir(), 'lock-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

/** A process that lives for the test, its argv[0] as given. */
function running(argv0: string) {
  const p = execa('bash', ['-c', `exec -a ${argv0} sleep 30`], { reject: false });
  t.teardown(() => {
    p.kill('SIGKILL');
  });
  return p;
}

t.test("a lock whose pid now runs something else is stale: taken over, and released", async (t) => {
  const data = join(tmp, 'reused.data');
  const other = running('sleep');
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(`${data}.gil-record.lock`, `${other.pid}\n`);
  const release = lockRecording(data);
  t.equal(readFileSync(`${data}.gil-record.lock`, 'utf8').trim(), String(process.pid), 'the lock is ours now');
  release();
  t.notOk(existsSync(`${data}.gil-record.lock`), 'and gone once released');
});

t.test('a lock whose pid runs gil-record refuses, naming it', async (t) => {
  const data = join(tmp, 'busy.data');
  const owner = running('gil-record');
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(`${data}.gil-record.lock`, `${owner.pid}\n`);
  t.throws(() => lockRecording(data), new RegExp(`another gil-record \\(pid ${owner.pid}\\) is writing`));
  t.equal(readFileSync(`${data}.gil-record.lock`, 'utf8').trim(), String(owner.pid), 'its lock is left alone');
});

t.test('a lock whose pid is gone is stale', async (t) => {
  const data = join(tmp, 'gone.data');
  const p = execa('true');
  await p;
  writeFileSync(`${data}.gil-record.lock`, `${p.pid}\n`);
  const release = lockRecording(data);
  release();
  t.pass('taken over');
});
