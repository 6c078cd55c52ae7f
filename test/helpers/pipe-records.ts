// Walking a little-endian pipe-mode perf.data's records by their headers
// (perf.data-file-format.txt: u32 type, u16 misc, u16 size), for tests that
// cut or change one record of a real recording.

const HEADER_TRACING_DATA = 66;

/** The offset of the first record of `type` after the 16-byte pipe header, or -1. */
export function firstRecordOf(bytes: Buffer, type: number): number {
  let p = 16;
  while (p + 8 <= bytes.length) {
    if (bytes.readUInt32LE(p) === type) return p;
    const size = bytes.readUInt16LE(p + 6);
    if (size < 8) return -1;
    // HEADER_TRACING_DATA: its data follows the record, its length in the record.
    p += size + (bytes.readUInt32LE(p) === HEADER_TRACING_DATA ? bytes.readUInt32LE(p + 8) : 0);
  }
  return -1;
}
