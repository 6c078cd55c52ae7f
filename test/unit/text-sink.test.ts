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

t.test('what the writer holds is never written over, however long it holds it', async (t) => {
  const step = fc.record({
    s: fc.oneof(fc.string({ maxLength: 50 }), fc.nat({ max: 600_000 }).map((n) => 'y'.repeat(n))),
    take: fc.boolean(),
    giveBack: fc.nat({ max: 3 }),
  });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
      const sink = new TextSink();
      const held: Array<{ b: Buffer; copy: Buffer }> = [];
      for (const p of steps) {
        sink.text(p.s);
        if (p.take) for (const b of sink.take()) held.push({ b, copy: Buffer.from(b) });
        // The oldest writes finish first, as a stream's do.
        for (const h of held.splice(0, p.giveBack)) {
          if (!h.b.equals(h.copy)) return false;
          sink.recycle(h.b);
        }
        if (!held.every((h) => h.b.equals(h.copy))) return false;
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass('150 random runs of takes held and given back');
});

t.test('the slabs are filled again: 100 MB through a writer a megabyte behind needs a few', async (t) => {
  const sink = new TextSink();
  const line = `{"type":"span","pid":1,"tid":2,"state":"hold","ts":123456789,"dur":1234}\n`;
  const slabs = new Set<ArrayBufferLike>();
  const inFlight: Buffer[] = [];
  let inFlightBytes = 0;
  let bytes = 0;
  while (bytes < 100 * MB) {
    for (let k = 0; k < 1000; k++) sink.text(line);
    bytes += 1000 * line.length;
    for (const b of sink.take()) {
      slabs.add(b.buffer);
      inFlight.push(b);
      inFlightBytes += b.length;
    }
    while (inFlightBytes > MB) {
      const done = inFlight.shift()!;
      inFlightBytes -= done.length;
      sink.recycle(done);
    }
  }
  t.ok(slabs.size <= 3, `${slabs.size} slabs of a megabyte for 100 MB`);
});
