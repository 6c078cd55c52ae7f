// TextSink, the bytes every stage writes: whatever the sizes of the texts put
// in and of the takes, the bytes out are the UTF-8 of the texts in order, a
// burst goes out in buffers of bounded size, and a buffer is filled again
// only once the writer has given it back.
import t from 'tap';
import fc from 'fast-check';
import { TextSink } from '../../lib/ndjson.js';

const MB = 1 << 20;

/** Puts `pieces` in, taking after the pieces marked; returns the takes. */
function run(sink: TextSink, pieces: Array<{ s: string; take: boolean }>): Buffer[][] {
  const takes: Buffer[][] = [];
  for (const p of pieces) {
    sink.text(p.s);
    if (p.take) takes.push([...sink.take()]);
  }
  takes.push([...sink.take()]);
  return takes;
}

t.test('the bytes out are the texts in, in order, however they are cut', async (t) => {
  const piece = fc.record({
    s: fc.oneof(fc.string({ maxLength: 50 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.nat({ max: 3 * MB }).map((n) => 'x'.repeat(n))),
    take: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), fc.boolean(), (pieces, recycle) => {
      const sink = new TextSink();
      const got: Buffer[] = [];
      for (const p of pieces) {
        sink.text(p.s);
        if (!p.take) continue;
        const bufs = [...sink.take()];
        // Written: a copy of what it held, then (sometimes) given back to be filled again.
        got.push(...bufs.map((b) => Buffer.from(b)));
        if (recycle) for (const b of bufs) sink.recycle(b);
      }
      got.push(...sink.take().map((b) => Buffer.from(b)));
      return Buffer.concat(got).equals(Buffer.from(pieces.map((p) => p.s).join(''), 'utf8'));
    }),
    { numRuns: 150 },
  );
  t.pass('150 random runs, with and without buffers given back');
});

t.test('a burst goes out in buffers of at most a megabyte', async (t) => {
  const sink = new TextSink();
  const line = `{"ph":"C","pid":1,"tid":1,"ts":12.345,"name":"GIL waiting","args":{"threads":2}},\n`;
  const n = Math.ceil((10 * MB) / line.length);
  for (let k = 0; k < n; k++) sink.text(line);
  const bufs = sink.take();
  t.equal(
    bufs.reduce((a, b) => a + b.length, 0),
    n * line.length,
    'every byte of 10 MB of text',
  );
  t.ok(bufs.length >= 10, `in ${bufs.length} buffers`);
  t.ok(
    bufs.every((b) => b.buffer.byteLength <= MB),
    'none of them bigger than 1 MB',
  );
  t.same(run(new TextSink(), []), [[]], 'nothing in, nothing out');
});

t.test('a buffer still being written is not filled again', async (t) => {
  const sink = new TextSink();
  const a = 'a'.repeat(100_000);
  const b = 'b'.repeat(100_000);
  sink.text(a);
  const [first] = sink.take();
  const copy = Buffer.from(first!);
  // Not given back: the next texts must land elsewhere.
  sink.text(b);
  sink.take();
  sink.text(b);
  sink.take();
  t.ok(first!.equals(copy), 'a take not given back keeps its bytes');
  sink.recycle(first!);
  sink.text(b);
  const [again] = sink.take();
  t.equal(again!.toString(), b, 'the next take holds the new text');
});
