// ByteOrder's reads against Buffer's own methods: the fast little-endian
// path must give what readUInt32LE and friends give, and throw where they do.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { BIG, LITTLE } from '../../lib/perf-data/bytes.js';

t.test('every width at every offset of random bytes, both byte orders, as Buffer reads them', async (t) => {
  let bad = 0;
  let checked = 0;
  for (let round = 0; round < 50; round++) {
    const b = randomBytes(64 + round);
    for (let o = 0; o + 8 <= b.length; o++) {
      const want = [b.readUInt16LE(o), b.readUInt32LE(o), b.readInt32LE(o), Number(b.readBigUInt64LE(o))];
      const got = [LITTLE.u16(b, o), LITTLE.u32(b, o), LITTLE.i32(b, o), LITTLE.u64(b, o)];
      const wantBig = [b.readUInt16BE(o), b.readUInt32BE(o), b.readInt32BE(o), Number(b.readBigUInt64BE(o))];
      const gotBig = [BIG.u16(b, o), BIG.u32(b, o), BIG.i32(b, o), BIG.u64(b, o)];
      for (let k = 0; k < 4; k++) {
        checked += 2;
        if (got[k] !== want[k] || gotBig[k] !== wantBig[k]) bad++;
      }
    }
  }
  t.equal(bad, 0, `${checked} reads, none different`);
  // The extremes: sign bits and all ones.
  const ones = Buffer.alloc(8, 0xff);
  t.equal(LITTLE.u32(ones, 0), 0xffffffff);
  t.equal(LITTLE.i32(ones, 0), -1);
  t.equal(LITTLE.u64(ones, 0), Number(ones.readBigUInt64LE(0)));
  const sign = Buffer.from([0, 0, 0, 0x80, 0, 0, 0, 0x80]);
  t.equal(LITTLE.i32(sign, 0), -2147483648);
  t.equal(LITTLE.u32(sign, 0), 2147483648);
});

t.test('a read past the end, or before the start, throws the RangeError Buffer throws', async (t) => {
  const b = Buffer.alloc(8);
  for (const [name, f] of [
    ['u16', (o: number) => LITTLE.u16(b, o)],
    ['u32', (o: number) => LITTLE.u32(b, o)],
    ['i32', (o: number) => LITTLE.i32(b, o)],
    ['u64', (o: number) => LITTLE.u64(b, o)],
  ] as const) {
    const width = name === 'u16' ? 2 : name === 'u64' ? 8 : 4;
    t.throws(() => f(8 - width + 1), RangeError, `${name} one byte past the end`);
    t.throws(() => f(-1), RangeError, `${name} before the start`);
    t.throws(() => f(NaN), `${name} at NaN`);
    t.doesNotThrow(() => f(8 - width), `${name} at the last place it fits`);
  }
});
