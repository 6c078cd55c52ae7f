// The symbolizer's bookkeeping (lib/perf-data/symbols.ts) on this machine's
// own libraries: a process's maps as perf keeps them (a map laid over part of
// another cuts it, keeping each piece's file offset; a fork copies them; the
// last thread's exit drops them), and the symbol tables kept within their
// bound however many files are mapped, with the same answers as an unbounded
// cache; kernel frames of another kernel named from perf's cached kallsyms,
// or left unnamed and said. That frames are named as perf names them is
// test/unit/perf-data.test.ts and test/live/perf-data-symbols.test.ts.
import t from 'tap';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { collectingContext } from '../../lib/filter.js';
import type { Frame } from '../../lib/perf-grammar.js';
import { LITTLE } from '../../lib/perf-data/bytes.js';
import { PerfDataDecoder } from '../../lib/perf-data/decoder.js';
import { openPerfDataFile } from '../../lib/perf-data/file.js';
import { Symbolizer, type SymbolizerOptions } from '../../lib/perf-data/symbols.js';
import { Elf, PT_LOAD, fileSource } from '../../lib/elf.js';

const fx = fileURLToPath(new URL('../fixtures/perfdata/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'gilpipe-symbols-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const LIBDIR = '/usr/lib/x86_64-linux-gnu';
const PROT_EXEC = 4;

/** The MMAP record bytes the symbolizer reads the start address from (at 16). */
function at(start: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeBigUInt64LE(BigInt(start), 16);
  return b;
}

/** A callchain of user addresses. */
function chain(...ips: number[]): Buffer {
  const b = Buffer.alloc(8 * ips.length);
  ips.forEach((ip, i) => b.writeBigUInt64LE(BigInt(ip), 8 * i));
  return b;
}

function frame(s: Symbolizer, pid: number, ip: number) {
  return s.resolve(pid, chain(ip), 0, 1, LITTLE)[0]!;
}

/** The executable segment of a real library: its file offset and size. */
function textOf(path: string): { offset: number; size: number } | undefined {
  const e = Elf.open(fileSource(path));
  if (typeof e === 'string') return undefined;
  try {
    const x = e.segments.find((p) => p.type === PT_LOAD && (p.flags & 1) !== 0 && p.filesz > 0x4000);
    return x && { offset: x.offset, size: x.filesz };
  } finally {
    e.src.close();
  }
}

const all = readdirSync(LIBDIR)
  .filter((f) => /\.so(\.\d+)*$/.test(f))
  .map((f) => join(LIBDIR, f))
  .filter((p) => statSync(p).isFile())
  .map((path) => ({ path, text: textOf(path) }))
  .filter((l): l is { path: string; text: { offset: number; size: number } } => l.text !== undefined);
const libs = all.slice(0, 80);

t.test('maps: a new map cuts the old one it overlaps, each piece keeps its file offset', async (t) => {
  const libc = all.find((l) => l.path.endsWith('/libc.so.6'));
  if (libc === undefined) return t.skip(`no libc.so.6 in ${LIBDIR}`);
  const s = new Symbolizer();
  const base = 0x7f0000000000;
  s.mmap(1, at(base), 16, LITTLE, libc.text.size, libc.text.offset, libc.path, PROT_EXEC, false);
  const probe = [0.1, 0.5, 0.9].map((k) => base + Math.floor(libc.text.size * k));
  const before = probe.map((ip) => frame(s, 1, ip));
  t.ok(before.every((f) => typeof f.sym === 'string' && f.dso === libc.path), `named: ${before.map((f) => f.sym).join(', ')}`);
  t.same(before.map((f) => f.addr), probe.map((ip) => (ip - base + libc.text.offset).toString(16)), 'printed as offsets in the file');
  // An anonymous executable map over the middle: its frames are the JIT's, the pieces around it still libc's.
  s.mmap(1, at(probe[1]! - 0x1000), 16, LITTLE, 0x2000, 0, '//anon', PROT_EXEC, false);
  const after = probe.map((ip) => frame(s, 1, ip));
  t.same([after[0], after[2]], [before[0], before[2]], 'the pieces before and after: the same frames');
  t.same(after[1], { addr: probe[1]!.toString(16), sym: null, dso: '/tmp/perf-1.map' }, 'the middle: anonymous memory, named after the perf map perf would read');
  t.same(frame(s, 2, probe[0]!), { addr: probe[0]!.toString(16), sym: null, dso: null }, 'another process: no map there');
  s.fork(2, 2, 1, false);
  t.same(frame(s, 2, probe[0]!), before[0], 'a fork copies the maps');
  s.fork(2, 3, 2, false);
  s.exit(2, 2);
  t.same(frame(s, 2, probe[0]!), before[0], 'kept while a thread of the process lives');
  s.exit(2, 3);
  t.same(frame(s, 2, probe[0]!).dso, null, "dropped with the process's last thread");
  t.same(frame(s, 1, probe[0]!), before[0], 'the parent keeps its own');
});

t.test('symbol tables: kept within the bound however many files are mapped, the same answers', async (t) => {
  if (libs.length < 20) return t.skip(`only ${libs.length} libraries in ${LIBDIR}`);
  const bound = 20000;
  const small = new Symbolizer({ maxCachedSymbols: bound });
  const big = new Symbolizer();
  const ips: number[] = [];
  libs.forEach((l, i) => {
    const start = 0x7e0000000000 + i * 0x100000000;
    for (const s of [small, big]) s.mmap(7, at(start), 16, LITTLE, l.text.size, l.text.offset, l.path, PROT_EXEC, false);
    ips.push(start + Math.floor(l.text.size / 3));
  });
  let most = 0;
  let largest = 0;
  const answers: string[] = [];
  let differ = 0;
  // Twice round: the second pass reloads what the bound dropped.
  for (const pass of [1, 2]) {
    for (const ip of ips) {
      const f = frame(small, 7, ip);
      answers.push(JSON.stringify(f));
      const had = big.cache().symbols;
      if (JSON.stringify(f) !== JSON.stringify(frame(big, 7, ip))) differ++;
      // The unbounded one loads each file once: what it grew by is that file's table.
      largest = Math.max(largest, big.cache().symbols - had);
      most = Math.max(most, small.cache().symbols);
    }
  }
  t.equal(differ, 0, 'every frame as an unbounded cache names it, both times round');
  const named = answers.filter((a) => a.includes('"sym":"')).length;
  t.ok(named > ips.length / 2, `${libs.length} files, ${named} of ${answers.length} frames named`);
  t.ok(big.cache().symbols > bound * 2, `unbounded: ${big.cache().symbols} symbols of ${big.cache().files} files kept`);
  // A table larger than the bound is kept alone: the bound is what is kept besides the file in use.
  t.ok(most <= bound + largest, `bounded: at most ${most} symbols kept (bound ${bound}, the largest file ${largest})`);
  t.ok(small.cache().files < libs.length, `${small.cache().files} of ${libs.length} files kept at the end`);
});

/** The committed callchain fixture's records, read with these symbol options; and the reader's notes. */
async function callchainRecords(symbols: SymbolizerOptions): Promise<{ records: Array<{ callchain?: Frame[] }>; notes: string[] }> {
  const path = join(tmp, 'callchain.data');
  writeFileSync(path, gunzipSync(readFileSync(join(fx, 'callchain.perf.data.gz'))));
  const chunks: Buffer[] = [];
  for await (const c of openPerfDataFile(path).stream()) chunks.push(c as Buffer);
  const records: Array<{ callchain?: Frame[] }> = [];
  const d = new PerfDataDecoder((r) => records.push(r as { callchain?: Frame[] }), collectingContext('callchain.data'), { symbols });
  d.write(Buffer.concat(chunks));
  d.end();
  return { records, notes: d.notes() };
}

/** A kernel notes file naming another kernel. */
function otherKernel(): string {
  const notes = join(tmp, 'notes');
  const b = Buffer.alloc(12 + 4 + 20);
  b.writeUInt32LE(4, 0);
  b.writeUInt32LE(20, 4);
  b.writeUInt32LE(3, 8);
  b.write('GNU\0', 12, 'latin1');
  b.fill(0xab, 16);
  writeFileSync(notes, b);
  return notes;
}

t.test('kernel frames of another kernel: from the kallsyms perf record left in its cache, else unnamed and said', async (t) => {
  const kernel = (rs: Array<{ callchain?: Frame[] }>) => rs.flatMap((r) => r.callchain ?? []).filter((f) => f.addr.startsWith('ffff'));
  const here = kernel((await callchainRecords({})).records);
  t.ok(here.length > 500, `${here.length} kernel frames`);
  // No kallsyms to be had: every kernel frame keeps its address and [kernel.kallsyms], and the note says why.
  const none = await callchainRecords({ kernelNotes: otherKernel(), buildIdDir: join(tmp, 'no-cache') });
  const frames = kernel(none.records);
  t.same(frames.map((f) => f.addr), here.map((f) => f.addr), 'the same frames, the same addresses');
  t.ok(frames.every((f) => f.sym === null && f.dso === '[kernel.kallsyms]'), 'none named, all in [kernel.kallsyms]');
  t.match(none.notes.join('\n'), new RegExp(`${frames.length} callchain frames left unnamed: kernel frames: recorded on kernel 24a3598f[0-9a-f]+, not this one \\(abab`), none.notes.join('\n'));
  // The copy perf record keeps in ~/.debug: the same names as from the running kernel's.
  const recorded = readFileSync(join(fx, 'callchain.build-ids'), 'utf8').split('\n').find((l) => l.endsWith(' [kernel.kallsyms]'))!.split(' ')[0]!;
  const cache = join(homedir(), '.debug');
  if (!existsSync(join(cache, '[kernel.kallsyms]', recorded, 'kallsyms'))) return t.comment(`no kallsyms of ${recorded} in ${cache}: the cached copy is not tried here`);
  const cached = await callchainRecords({ kernelNotes: otherKernel(), buildIdDir: cache });
  t.same(kernel(cached.records), here, "named from the cache's copy as from /proc/kallsyms");
});

t.test('a corrupt library: its frames stay unnamed with a note; no hang, no exception', { timeout: 60_000 }, async (t) => {
  const libc = all.find((l) => l.path.endsWith('/libc.so.6'));
  if (libc === undefined) return t.skip(`no libc.so.6 in ${LIBDIR}`);
  const good = readFileSync(libc.path);
  const e = Elf.open(fileSource(libc.path));
  if (typeof e === 'string') return t.fail(e);
  const sec = (name: string) => e.sections.find((s) => s.name === name);
  // Where each header lies in the file, from the ELF64 layout (the section header table at e_shoff, 64 bytes an entry).
  const shoff = Number(good.readBigUInt64LE(0x28));
  const entryOf = (name: string) => shoff + 64 * e.sections.findIndex((s) => s.name === name);
  e.src.close();
  const note = sec('.note.gnu.build-id');
  const cases: Array<[string, (b: Buffer) => void]> = [
    // A size of 2^32 - 12: rounded with a 32-bit mask it went back by 12 bytes, and the walk never ended.
    ['a build-id note of size 0xfffffff4', (b) => note && b.writeUInt32LE(0xfffffff4, note.offset + 4)],
    ['a build-id note name of size 2^31', (b) => note && b.writeUInt32LE(0x80000000, note.offset)],
    ['a .rela.plt entry size of 1', (b) => sec('.rela.plt') && b.writeBigUInt64LE(1n, entryOf('.rela.plt') + 56)],
    ['a symbol table past the end of the file', (b) => sec('.dynsym') && b.writeBigUInt64LE(BigInt(b.length * 4), entryOf('.dynsym') + 24)],
    ['a section header table past the end of the file', (b) => b.writeBigUInt64LE(BigInt(b.length + 4096), 0x28)],
    ['only its first 4 KiB', () => undefined],
  ];
  for (const [what, corrupt] of cases) {
    const copy = join(tmp, 'libc-corrupt.so');
    let b = Buffer.from(good);
    corrupt(b);
    if (what === 'only its first 4 KiB') b = b.subarray(0, 4096);
    writeFileSync(copy, b);
    const s = new Symbolizer();
    const base = 0x7f0000000000;
    s.mmap(1, at(base), 16, LITTLE, libc.text.size, libc.text.offset, copy, PROT_EXEC, false);
    let f: Frame | undefined;
    t.doesNotThrow(() => (f = frame(s, 1, base + Math.floor(libc.text.size / 2))), `${what}: read without an exception`);
    if (what.startsWith('a build-id note')) {
      // The note runs past its section: there is no build id to be had from it (the ELF spec's note layout).
      const opened = Elf.open(fileSource(copy));
      t.equal(typeof opened === 'string' ? opened : opened.buildId(), undefined, `${what}: no build id`);
      if (typeof opened !== 'string') opened.src.close();
    }
    t.equal(f?.dso, copy, `${what}: the frame keeps its file`);
    if (f?.sym === null) t.match(s.notes().join('\n'), /left unnamed: .*libc-corrupt\.so/, `${what}: unnamed, and the note names the file`);
  }
});

t.test("overlapping symbols: the first holding the address on perf's way down its tree, so the order they came in decides", async (t) => {
  // A JIT that reuses memory lists both uses in its perf map. perf inserts the
  // lines in order; the first becomes the root, the second hangs below it, and
  // symbols__find stops at the first symbol holding the address.
  const dir = mkdtempSync(join(tmp, 'maps-'));
  const base = 0x7f1000000000;
  const ask = (pid: number, lines: string[]) => {
    writeFileSync(join(dir, `perf-${pid}.map`), lines.map((l) => `${l}\n`).join(''));
    const s = new Symbolizer({ perfMapDirs: [dir] });
    s.mmap(pid, at(base), 16, LITTLE, 0x10000, 0, '//anon', PROT_EXEC, false);
    return [0x150, 0x120, 0x1f0].map((off) => frame(s, pid, base + off).sym);
  };
  const outer = `${(base + 0x100).toString(16)} 100 outer`;
  const inner = `${(base + 0x13b).toString(16)} 40 inner`;
  t.same(ask(11, [outer, inner]), ['outer', 'outer', 'outer'], 'the outer one first: it is the root and holds all three');
  // The outer one went left of the root (it starts before it): past the inner one's end the walk goes right, where nothing is.
  t.same(ask(12, [inner, outer]), ['inner', 'outer', null], 'the inner one first: it is the root, holds what it covers, and hides the outer one after it');
});

t.test("a perf map that is neither this user's nor root's is not read, as perf does not read it", { skip: process.getuid?.() === 0 ? false : 'needs root to give a file to another user' }, async (t) => {
  // Anyone can write /tmp/perf-PID.map for a pid that is not theirs, and name
  // its frames as they like: perf's dso__load ignores such a file.
  const dir = mkdtempSync(join(tmp, 'owned-'));
  const base = 0x7f2000000000;
  const map = join(dir, 'perf-21.map');
  writeFileSync(map, `${(base + 0x100).toString(16)} 100 planted_name\n`);
  const ask = () => {
    const s = new Symbolizer({ perfMapDirs: [dir] });
    s.mmap(21, at(base), 16, LITTLE, 0x10000, 0, '//anon', PROT_EXEC, false);
    return { sym: frame(s, 21, base + 0x150).sym, notes: s.notes().join('\n') };
  };
  t.equal(ask().sym, 'planted_name', "root's own: read");
  chownSync(map, 65534, 65534);
  const other = ask();
  t.equal(other.sym, null, "another user's: the frame stays unnamed");
  t.match(other.notes, /perf-21\.map is not owned by this user or root: not read/, 'and the note says why');
});

t.test("recordings read one after another share a file's symbol table, never a process's perf map", async (t) => {
  const libc = all.find((l) => l.path.endsWith('/libc.so.6'));
  if (libc === undefined) return t.skip(`no libc.so.6 in ${LIBDIR}`);
  // A copy of libc, removed once the first recording's frame is named: only a kept table can name the second's.
  const dir = mkdtempSync(join(tmp, 'shared-'));
  const lib = join(dir, 'libshared.so');
  writeFileSync(lib, readFileSync(libc.path));
  const start = 0x7f5000000000;
  const ip = start + Math.floor(libc.text.size / 2);
  const first = new Symbolizer({ perfMapDirs: [dir] });
  first.mmap(9, at(start), 16, LITTLE, libc.text.size, libc.text.offset, lib, PROT_EXEC, false);
  const named = frame(first, 9, ip);
  t.type(named.sym, 'string', `named from the file: ${named.sym}`);
  // And a JIT's perf map, which the next recording (another process under the same pid) must read afresh.
  const jit = 0x7f6000000000;
  writeFileSync(join(dir, 'perf-9.map'), `${jit.toString(16)} 100 first_jit_fn\n`);
  first.mmap(9, at(jit), 16, LITTLE, 0x1000, 0, '//anon', PROT_EXEC, false);
  t.equal(frame(first, 9, jit + 0x10).sym, 'first_jit_fn');
  rmSync(lib);
  writeFileSync(join(dir, 'perf-9.map'), `${jit.toString(16)} 100 second_jit_fn\n`);

  const tables = first.tables;
  tables.forget();
  const files = tables.size().files;
  const second = new Symbolizer({ perfMapDirs: [dir], cache: tables });
  second.mmap(9, at(start), 16, LITTLE, libc.text.size, libc.text.offset, lib, PROT_EXEC, false);
  second.mmap(9, at(jit), 16, LITTLE, 0x1000, 0, '//anon', PROT_EXEC, false);
  t.same(frame(second, 9, ip), named, 'the file, gone from the disk, is named from the table kept');
  t.equal(frame(second, 9, jit + 0x10).sym, 'second_jit_fn', 'the perf map is read again: the new process is not the old one');
  t.equal(tables.size().files, files + 1, 'one table more: the new perf map, not a second copy of the file');
  const alone = new Symbolizer({ perfMapDirs: [dir] });
  alone.mmap(9, at(start), 16, LITTLE, libc.text.size, libc.text.offset, lib, PROT_EXEC, false);
  t.equal(frame(alone, 9, ip).sym, null, 'without the kept tables the file is not there to name it');
  t.match(alone.notes().join('\n'), /libshared\.so is not on this machine/, 'and that is said');
});

t.test('a callchain with a context marker perf does not know: no frames, as perf script prints none', async (t) => {
  // perf's add_callchain_ip: a value at or past PERF_CONTEXT_MAX (-4095) that is
  // not HV, KERNEL, USER or a guest's is "invalid callchain context", and the
  // callchain is dropped whole (a frame-pointer walk that went through garbage).
  const s = new Symbolizer();
  const words = (...xs: bigint[]) => {
    const b = Buffer.alloc(8 * xs.length);
    xs.forEach((x, i) => b.writeBigUInt64LE(x, 8 * i));
    return b;
  };
  const M = (n: number) => (1n << 64n) + BigInt(n);
  const good = words(M(-512), 0x7f0000001000n, 0x7f0000002000n);
  t.equal(s.resolve(1, good, 0, 3, LITTLE).length, 2, 'PERF_CONTEXT_USER: a mode, then two frames');
  t.equal(s.resolve(1, words(M(-128), 0xffffffff81000000n, M(-512), 0x7f0000001000n), 0, 4, LITTLE).length, 2, 'kernel then user');
  t.equal(s.resolve(1, words(M(-2560), 0x7f0000001000n), 0, 2, LITTLE).length, 1, "a guest's user context: a mode perf knows");
  t.same(s.resolve(1, words(M(-512), 0x7f0000001000n, M(-4000), 0x7f0000002000n), 0, 4, LITTLE), [], 'an unknown marker: nothing, also of the frames before it');
  t.equal(s.stats.frames, 2 + 2 + 1, 'the dropped frames are not counted');
});
