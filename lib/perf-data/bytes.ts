// Integers in a recording's byte order. perf writes a file in the byte order
// of the machine that recorded it; the magic says which (`PERFILE2` read as
// bytes is little-endian, `2ELIFREP` big-endian).

export class ByteOrder {
  constructor(readonly little: boolean) {}

  // Little-endian reads in bounds are done from the bytes: twice as fast as
  // Buffer's methods, which every record calls a dozen times. Anything else
  // goes to those methods, so a read past the end throws their RangeError.
  u16(b: Buffer, o: number): number {
    if (this.little && o >= 0 && o + 2 <= b.length) return b[o]! | (b[o + 1]! << 8);
    return this.little ? b.readUInt16LE(o) : b.readUInt16BE(o);
  }
  i16(b: Buffer, o: number): number {
    return this.little ? b.readInt16LE(o) : b.readInt16BE(o);
  }
  u32(b: Buffer, o: number): number {
    if (this.little && o >= 0 && o + 4 <= b.length) return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 16777216;
    return this.little ? b.readUInt32LE(o) : b.readUInt32BE(o);
  }
  i32(b: Buffer, o: number): number {
    if (this.little && o >= 0 && o + 4 <= b.length) return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
    return this.little ? b.readInt32LE(o) : b.readInt32BE(o);
  }
  /** A u64 as a double: exact below 2^53 (times, sizes, counts, ids). */
  u64(b: Buffer, o: number): number {
    if (this.little && o >= 0 && o + 8 <= b.length) {
      const lo = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 16777216;
      const hi = (b[o + 4]! | (b[o + 5]! << 8) | (b[o + 6]! << 16)) + b[o + 7]! * 16777216;
      return hi * 4294967296 + lo;
    }
    const lo = this.little ? b.readUInt32LE(o) : b.readUInt32BE(o + 4);
    const hi = this.little ? b.readUInt32LE(o + 4) : b.readUInt32BE(o);
    return hi * 4294967296 + lo;
  }
  u64big(b: Buffer, o: number): bigint {
    return this.little ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o);
  }
  i64big(b: Buffer, o: number): bigint {
    return this.little ? b.readBigInt64LE(o) : b.readBigInt64BE(o);
  }
  /** A u64 as perf prints an address: lower-case hex, no leading zeros. */
  hex64(b: Buffer, o: number): string {
    const lo = this.little ? b.readUInt32LE(o) : b.readUInt32BE(o + 4);
    const hi = this.little ? b.readUInt32LE(o + 4) : b.readUInt32BE(o);
    // Probe addresses repeat (a few functions and call sites): their text is
    // made once. Looked up by the low half as a signed 32-bit integer, which
    // V8 keeps unboxed (the whole address as a number was a heap number to
    // allocate and hash for every sample), the high half checked after.
    const key = lo | 0;
    const known = this.hexes.get(key);
    if (known !== undefined && known.hi === hi) return known.text;
    const text = hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
    if (this.hexes.size >= 4096) this.hexes.clear();
    this.hexes.set(key, { hi, text });
    return text;
  }
  private readonly hexes = new Map<number, { hi: number; text: string }>();
  /**
   * Bit `n` of the attribute's flag word (disabled is 0, sample_id_all 18,
   * context_switch 26): C bit-fields are laid out from the other end of the
   * word on a big-endian machine.
   */
  flag(b: Buffer, o: number, n: number): boolean {
    const v = this.u64big(b, o);
    const bit = this.little ? n : 63 - n;
    return ((v >> BigInt(bit)) & 1n) === 1n;
  }
}

export const LITTLE = new ByteOrder(true);
export const BIG = new ByteOrder(false);

/** The byte order a perf.data magic announces, or undefined when it is not one. */
export function magicOrder(head: Buffer): ByteOrder | undefined {
  if (head.length < 8) return undefined;
  const m = head.toString('latin1', 0, 8);
  if (m === 'PERFILE2') return LITTLE;
  if (m === '2ELIFREP') return BIG;
  return undefined;
}
