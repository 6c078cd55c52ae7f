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

t.test('hex64: perf\'s address text, also for addresses that share a low half and for ones seen again', async (t) => {
  const b = Buffer.alloc(8);
  const hex = (order: typeof LITTLE, v: bigint) => {
    if (order === LITTLE) b.writeBigUInt64LE(v);
    else b.writeBigUInt64BE(v);
    return order.hex64(b, 0);
  };
  // Same low 32 bits, different high ones, in turn: the memo must not answer one with the other.
  const same = [0x7f885c64f7b0n, 0x5c64f7b0n, 0x1_5c64f7b0n, 0xffffffff_5c64f7b0n, 0x7f885c64f7b0n, 0n, 0x80000000n];
  for (const order of [LITTLE, BIG]) for (let round = 0; round < 3; round++) for (const v of same) t.equal(hex(order, v), v.toString(16), `${v.toString(16)}, round ${round}`);
  // Random addresses, many repeated, against BigInt's text.
  const pool = Array.from({ length: 50 }, () => randomBytes(8).readBigUInt64LE(0) >> BigInt(Math.floor(Math.random() * 64)));
  let bad = 0;
  for (let i = 0; i < 20000; i++) {
    const v = pool[Math.floor(Math.random() * pool.length)]!;
    if (hex(i % 2 === 0 ? LITTLE : BIG, v) !== v.toString(16)) bad++;
  }
  t.equal(bad, 0, '20,000 lookups of 50 addresses, none wrong');
});
