// The parts of an ELF file a symbol lookup needs, read with positional reads
// so a large binary is never read whole: the header, the section and program
// headers, the build id note, the .gnu_debuglink name and the symbol tables
// (.symtab, .dynsym) with their string tables. 64-bit files of either byte
// order; a 32-bit one is reported as such (Elf.open returns a reason).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BIG, type ByteOrder, LITTLE } from './perf-data/bytes.js';

export const SHT = { SYMTAB: 2, NOBITS: 8, DYNSYM: 11 } as const;
export const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, GNU_IFUNC: 10 } as const;
export const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;
export const SHN = { UNDEF: 0, LORESERVE: 0xff00, ABS: 0xfff1 } as const;
export const SHF_ALLOC = 2;
export const PT_LOAD = 1;
const STV_INTERNAL = 1;
/** Header tables larger than this are a corrupt file's. */
const MAX_TABLE = 64 << 20;
const STV_HIDDEN = 2;

/** Where bytes come from: a file (positional reads) or a buffer already in memory (the vdso). */
export interface ByteSource {
  read(pos: number, len: number): Buffer;
  close(): void;
}

/** Up to `len` bytes of an open file from `pos` (fewer at its end; `size` is the file's). */
export function readAt(fd: number, pos: number, len: number, size: number): Buffer {
  const n = Math.max(0, Math.min(len, size - pos));
  const b = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fd, b, got, n - got, pos + got);
    if (r === 0) break;
    got += r;
  }
  return got === n ? b : b.subarray(0, got);
}

export function fileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  const size = fstatSync(fd).size;
  return { read: (pos, len) => readAt(fd, pos, len, size), close: () => closeSync(fd) };
}

export function bufferSource(b: Buffer): ByteSource {
  return { read: (pos, len) => b.subarray(Math.min(pos, b.length), Math.min(pos + len, b.length)), close: () => {} };
}

export interface Section {
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface Segment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  visibility: number;
  shndx: number;
}

/** An opened ELF file: its headers, ready to read a symbol table from. */
export class Elf {
  private constructor(
    readonly src: ByteSource,
    readonly order: ByteOrder,
    /** e_type: 2 ET_EXEC, 3 ET_DYN. */
    readonly type: number,
    readonly sections: Section[],
    readonly segments: Segment[],
  ) {}

  /** The ELF in `src`, or a reason it cannot be read here. */
  static open(src: ByteSource): Elf | string {
    const h = src.read(0, 64);
    if (h.length < 16 || h.toString('latin1', 0, 4) !== '\x7fELF') return 'not an ELF file';
    if (h[4] !== 2) return 'a 32-bit ELF file';
    const order = h[5] === 1 ? LITTLE : h[5] === 2 ? BIG : undefined;
    if (order === undefined || h.length < 64) return 'a malformed ELF header';
    const type = order.u16(h, 16);
    const phoff = order.u64(h, 32);
    const shoff = order.u64(h, 40);
    const phentsize = order.u16(h, 54);
    let phnum = order.u16(h, 56);
    const shentsize = order.u16(h, 58);
    let shnum = order.u16(h, 60);
    let shstrndx = order.u16(h, 62);
    const raw: Omit<Section, 'name'>[] = [];
    const names: number[] = [];
    if (shoff > 0 && shentsize >= 64) {
      // More than 0xff00 sections, or an index past it: the real numbers are in section 0.
      const first = src.read(shoff, 64);
      if (first.length === 64) {
        if (shnum === 0) shnum = order.u64(first, 32);
        if (shstrndx === 0xffff) shstrndx = order.u32(first, 40);
        if (phnum === 0xffff) phnum = order.u32(first, 44);
      }
      // A section table past any real file's (a corrupt header) is not read.
      if (shnum * shentsize > MAX_TABLE) return 'a malformed ELF header';
      const all = src.read(shoff, shnum * shentsize);
      for (let i = 0; i + 1 <= shnum && (i + 1) * shentsize <= all.length; i++) {
        const o = i * shentsize;
        names.push(order.u32(all, o));
        raw.push({
          type: order.u32(all, o + 4),
          flags: order.u64(all, o + 8),
          addr: order.u64(all, o + 16),
          offset: order.u64(all, o + 24),
          size: order.u64(all, o + 32),
          link: order.u32(all, o + 40),
          entsize: order.u64(all, o + 56),
        });
      }
    }
    let strs: Buffer = Buffer.alloc(0);
    const sh = raw[shstrndx];
    if (sh !== undefined && sh.type !== SHT.NOBITS) strs = src.read(sh.offset, sh.size);
    const sections = raw.map((s, i) => ({ ...s, name: cstr(strs, names[i]!) }));
    const segments: Segment[] = [];
    if (phoff > 0 && phentsize >= 56 && phnum * phentsize <= MAX_TABLE) {
      const all = src.read(phoff, phnum * phentsize);
      for (let i = 0; (i + 1) * phentsize <= all.length; i++) {
        const o = i * phentsize;
        segments.push({
          type: order.u32(all, o),
          flags: order.u32(all, o + 4),
          offset: order.u64(all, o + 8),
          vaddr: order.u64(all, o + 16),
          filesz: order.u64(all, o + 32),
          memsz: order.u64(all, o + 40),
        });
      }
    }
    return new Elf(src, order, type, sections, segments);
  }

  /** The first section of that name (as libelf's lookup by name finds it). */
  section(name: string): { index: number; s: Section } | undefined {
    const index = this.sections.findIndex((s) => s.name === name);
    return index < 0 ? undefined : { index, s: this.sections[index]! };
  }

  /** The GNU build id, in hex, from the first of the note sections perf looks in. */
  buildId(): string | undefined {
    const sec = this.section('.note.gnu.build-id') ?? this.section('.notes') ?? this.section('.note');
    if (sec === undefined || sec.s.type === SHT.NOBITS) return undefined;
    return noteBuildId(this.src.read(sec.s.offset, sec.s.size), this.order);
  }

  /** The file name .gnu_debuglink names, if any. */
  debugLink(): string | undefined {
    const sec = this.section('.gnu_debuglink');
    if (sec === undefined || sec.s.type === SHT.NOBITS) return undefined;
    const name = cstr(this.src.read(sec.s.offset, Math.min(sec.s.size, 4096)), 0);
    return name.length > 0 ? name : undefined;
  }

  /** A symbol table section (by its index) with its string table. */
  symbols(index: number): ElfSymbol[] {
    const s = this.sections[index];
    if (s === undefined || s.entsize < 24) return [];
    const strSec = this.sections[s.link];
    if (strSec === undefined || strSec.type === SHT.NOBITS) return [];
    const data = this.src.read(s.offset, s.size);
    const strs = this.src.read(strSec.offset, strSec.size);
    const o = this.order;
    const out: ElfSymbol[] = [];
    for (let p = 0; p + 24 <= data.length; p += s.entsize) {
      const info = data[p + 4]!;
      out.push({
        name: cstr(strs, o.u32(data, p), 'utf8'),
        value: o.u64(data, p + 8),
        size: o.u64(data, p + 16),
        type: info & 0xf,
        bind: info >> 4,
        visibility: data[p + 5]! & 3,
        shndx: o.u16(data, p + 6),
      });
    }
    return out;
  }
}

/** perf's symbol kinds (symbol-elf.c): functions and objects, or labels in a text or data section. */
export function isFunctionOrObject(s: ElfSymbol): boolean {
  return (s.type === STT.FUNC || s.type === STT.GNU_IFUNC || s.type === STT.OBJECT) && s.name.length > 0 && s.shndx !== SHN.UNDEF;
}

export function isLabel(s: ElfSymbol): boolean {
  return (
    s.type === STT.NOTYPE &&
    s.name.length > 0 &&
    s.shndx !== SHN.UNDEF &&
    s.shndx !== SHN.ABS &&
    s.visibility !== STV_HIDDEN &&
    s.visibility !== STV_INTERNAL
  );
}

/**
 * The GNU build id (NT_GNU_BUILD_ID) among ELF notes: a note section, or a
 * notes file such as /sys/kernel/notes. Sizes are read as given, however
 * large: a note that runs past the data ends the walk.
 */
export function noteBuildId(d: Buffer, order: ByteOrder): string | undefined {
  for (let p = 0; p + 12 <= d.length; ) {
    const namesz = order.u32(d, p);
    const descsz = order.u32(d, p + 4);
    const type = order.u32(d, p + 8);
    const nameAt = p + 12;
    const descAt = nameAt + align4(namesz);
    const next = descAt + align4(descsz);
    if (next > d.length) return undefined;
    if (type === 3 && namesz === 4 && d.toString('latin1', nameAt, nameAt + 3) === 'GNU') return d.toString('hex', descAt, descAt + descsz);
    p = next;
  }
  return undefined;
}

/** n rounded up to a multiple of 4, for any u32 (a bit mask would go negative from 2^31). */
function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** A NUL-terminated string; symbol names as UTF-8, as perf-parse reads perf's bytes. */
function cstr(b: Buffer, at: number, enc: 'latin1' | 'utf8' = 'latin1'): string {
  if (at >= b.length) return '';
  let e = at;
  while (e < b.length && b[e] !== 0) e++;
  return b.toString(enc, at, e);
}
