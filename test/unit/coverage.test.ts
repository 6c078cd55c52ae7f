// lib/coverage.ts against a brute-force reference: a set of covered
// nanoseconds on a small integer grid.
import t from 'tap';
import fc from 'fast-check';
import { Coverage } from '../../lib/coverage.js';

t.test('in order, touching spans are one interval however many: a span given again overlaps, one after does not', async (t) => {
  const c = new Coverage(2);
  for (let i = 0; i < 10_000; i++) c.add(i * 10, i * 10 + 10);
  t.ok(c.overlaps(5000, 5010), 'a span from the middle, again');
  t.ok(c.overlaps(0, 1), 'the very first, again: nothing was forgotten');
  t.notOk(c.overlaps(100_000, 100_010), 'the next one');
  t.notOk(c.overlaps(50, 50), 'zero length overlaps nothing');
});

t.test('random spans in random order: overlaps() says what the covered set says, as long as nothing is forgotten', async (t) => {
  const arb = fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 8 })), { maxLength: 40 });
  fc.assert(
    fc.property(arb, (spans) => {
      const c = new Coverage(1000);
      const covered = new Set<number>();
      for (const [a, len] of spans) {
        const b = a + len;
        let want = false;
        for (let x = a; x < b; x++) if (covered.has(x)) want = true;
        if (c.overlaps(a, b) !== want) return false;
        // Like gil-stats: only what overlaps nothing is added.
        if (!want) {
          c.add(a, b);
          for (let x = a; x < b; x++) covered.add(x);
        }
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass('500 random sequences agree with the reference');
});

t.test('past its cap the oldest gap is forgotten: nothing before it is refused, later time still is', async (t) => {
  const c = new Coverage(3);
  for (const a of [0, 20, 40, 60]) c.add(a, a + 10);
  t.notOk(c.overlaps(0, 10), 'the oldest interval is forgotten: taken as given');
  t.ok(c.overlaps(25, 26));
  t.ok(c.overlaps(5, 65), 'a span reaching into what is remembered');
  c.clear();
  t.notOk(c.overlaps(25, 26), 'cleared');
});
