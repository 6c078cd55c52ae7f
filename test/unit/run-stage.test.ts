// The command-line driver's file reading: a regular file is read into two
// buffers that take turns. Every byte of every input reaches the chain, in
// order, across the turns; and a file is open from the start of the run, so
// one removed before its turn is still read, as a stream held it before.
import t from 'tap';
import fs, { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInput, Reporter } from '../../lib/cli.js';
import { Output } from '../../lib/io.js';
import { LineSplitter, PERF_TEXT } from '../../lib/lines.js';
import { TextSink } from '../../lib/ndjson.js';
import { openInputs, pump } from '../../lib/run-stage.js';
import { Interrupt } from '../../lib/signals.js';

t.test('every line of every file, in order, even one removed before its turn', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-run-stage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Lines of many lengths, so that the 64 KB reads cut lines (and UTF-8 characters) everywhere.
  const lines = (tag: string, n: number): string[] => Array.from({ length: n }, (_x, k) => `${tag} ${k} ${'é€x'.repeat(k % 97)}`);
  const a = lines('a', 6000);
  const b = lines('b', 3000);
  writeFileSync(join(dir, 'a.txt'), a.join('\n') + '\n');
  writeFileSync(join(dir, 'b.txt'), b.join('\n') + '\n');
  writeFileSync(join(dir, 'empty.txt'), '');
  const inputs = await openInputs([join(dir, 'a.txt'), join(dir, 'empty.txt'), join(dir, 'b.txt')]);
  unlinkSync(join(dir, 'b.txt'));
  const out = join(dir, 'out.txt');
  const reporter = new Reporter('test');
  const sink = new TextSink();
  const bad = new BadInput(reporter, false);
  const head = new LineSplitter((line) => sink.text(Buffer.from(line, 'latin1').toString('utf8') + '\n'), bad, PERF_TEXT);
  const o = new Output(out);
  await pump(inputs, head, { out: o, sink, bad, interrupt: new Interrupt({ handle: false }) });
  await o.commit();
  t.equal(bad.count, 0, 'no line cut short');
  t.equal(readFileSync(out, 'utf8'), [...a, ...b].join('\n') + '\n', 'the lines of a.txt, then those of the removed b.txt');
});

t.test("a file's region (a perf.data's records): the prelude, then exactly those bytes of the file, across the turns", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-run-stage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bytes = Buffer.alloc(300_000);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + (i >> 9)) & 255;
  const path = join(dir, 'r.data');
  writeFileSync(path, bytes);
  const prelude = Buffer.from('PRELUDE');
  // Not on a read's boundary, longer than two reads, and ending before the file does.
  for (const [start, len] of [[1001, 200_003], [0, 300_000], [70_000, 0], [5, 65_536]] as const) {
    const [input] = await openInputs([path]);
    const got: Buffer[] = [];
    const head = { write: (b: Buffer) => void got.push(Buffer.from(b)), end: () => undefined };
    const reporter = new Reporter('test');
    const sink = new TextSink();
    const o = new Output(join(dir, 'out'));
    input!.region = { prelude, start, len };
    await pump([input!], head, { out: o, sink, bad: new BadInput(reporter, false), interrupt: new Interrupt({ handle: false }) });
    o.discard();
    t.ok(Buffer.concat(got).equals(Buffer.concat([prelude, bytes.subarray(start, start + len)])), `from byte ${start}, ${len} bytes: the prelude and those bytes, nothing else`);
  }
});

t.test('Output: a big buffer reaches the file whole, in writes of at most 128 KB, and is given back once all are made', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gilpipe-run-stage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Every write() call the file gets, seen through fs (lib/sync-file.ts imports writeSync from it).
  const sizes: number[] = [];
  const real = fs.writeSync;
  fs.writeSync = ((fd: number, b: NodeJS.ArrayBufferView, offset?: number, length?: number, position?: number | null) => {
    const n = real(fd, b, offset, length, position);
    sizes.push(n);
    return n;
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  t.teardown(() => {
    fs.writeSync = real;
    syncBuiltinESMExports();
  });
  const big = Buffer.alloc(3 * 1024 * 1024 + 5);
  for (let k = 0; k < big.length; k++) big[k] = (k * 2654435761) >>> 24;
  const out = join(dir, 'out.bin');
  const o = new Output(out);
  let givenBack = -1;
  await o.write(big, () => (givenBack = sizes.reduce((x, y) => x + y, 0)));
  await o.write(Buffer.from('end'));
  await o.commit();
  t.ok(readFileSync(out).equals(Buffer.concat([big, Buffer.from('end')])), 'the bytes, in order');
  t.ok(sizes.length >= 25, `${sizes.length} writes`);
  t.ok(Math.max(...sizes) <= 128 * 1024, `none over 128 KB (the largest ${Math.max(...sizes)})`);
  t.ok(givenBack >= big.length, `given back once all of it was written, not before (at ${givenBack} bytes of ${big.length})`);
});
