// The copy of a pipe a command reads twice (lib/spool.ts).
import t from 'tap';
import { existsSync, lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DataError } from '../../lib/errors.js';
import { Spool } from '../../lib/spool.js';

const tmp = mkdtempSync(join(tmpdir(), 'spool-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

t.test('a directory of its own, 0700, with a random name; the file 0600; all gone after remove()', async (t) => {
  const env = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  t.teardown(() => (env === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = env)));
  const a = new Spool('cmd-1-0', 'stdin');
  const b = new Spool('cmd-1-0', 'stdin');
  t.not(a.path, b.path, 'two spools of one name do not meet');
  for (const s of [a, b]) {
    const dir = dirname(s.path);
    t.equal(dirname(dir), tmp);
    t.match(basename(dir), /^cmd-1-0-.{6}$/);
    t.equal(statSync(dir).mode & 0o777, 0o700, 'the directory: this user only');
    t.equal(lstatSync(s.path).mode & 0o777, 0o600, 'the file: this user only');
  }
  const seen: string[] = [];
  for await (const c of a.tee(chunks('{"a":', '1}'))) seen.push(c.toString());
  t.strictSame(seen, ['{"a":', '1}'], 'tee passes the chunks on');
  t.equal([...a.read()].map((c) => c.toString()).join(''), '{"a":1}', 'and read gives them back');
  a.remove();
  b.remove();
  t.strictSame(readdirSync(tmp), [], 'remove() takes the directory too');
  t.notOk(existsSync(a.path));
});

t.test('a temporary directory that cannot be used: a DataError naming the input and the directory', async (t) => {
  const env = process.env.TMPDIR;
  process.env.TMPDIR = join(tmp, 'missing');
  t.teardown(() => (env === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = env)));
  let err: unknown;
  try {
    new Spool('cmd-1-0', 'stdin');
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof DataError, 'a DataError: exit 1 with its message, not an internal error');
  t.equal((err as Error).message, `stdin: a pipe is read twice, from a copy kept in ${join(tmp, 'missing')}, and the copy failed: no such file`);
});
