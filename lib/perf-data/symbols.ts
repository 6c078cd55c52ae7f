// Callchain frames named as `perf script -F +ip,+sym,+dso` names them, without
// perf: the address, the symbol and the file of each frame. A process's
// memory maps come from its MMAP/MMAP2 records (forks copy them, a new map
// cuts away what it overlaps, as perf's maps__fixup_overlappings does); a
// user frame's symbol comes from the ELF symbol tables of the file mapped
// there, found where perf looks for them (debug files, the build-id cache,
// the file itself); a kernel frame's from kallsyms; a frame in anonymous
// executable memory from the perf map file a JIT wrote (/tmp/perf-PID.map,
// CPython 3.12's -X perf). The rules are perf 6.1's (tools/perf/util/
// symbol.c, symbol-elf.c, map.c, machine.c), read for facts:
// - the address printed is the file offset (ip - map start + pgoff) for a
//   file-backed map, the ip itself for the kernel, anonymous memory and
//   frames in no map;
// - ELF symbols are functions, objects and labels of text or data sections,
//   moved from their virtual address to the file offset of their PT_LOAD
//   segment; a symbol of size 0 ends where the next one starts; of two at one
//   address, the one with a size, else not weak, else global, else fewer
//   leading underscores, else the longer name is kept;
// - kallsyms keeps T, W, D and B symbols, ends fixed the same way.
// - symbols live in perf's red-black tree (symbol-tree.ts); where they overlap,
//   the frame gets the first one holding it on the way down from the root.
// C++ names are demangled as perf shows them (without parameters, by
// c++filt). Where perf would name a frame that is not named here (a C++
// name without c++filt, a 32-bit file), the frame is left `sym: null` and a
// note says why.
import { existsSync, lstatSync, openSync, readFileSync, readSync, closeSync, statSync } from 'node:fs';
import { homedir, hostname, release } from 'node:os';
import type { Frame } from '../perf-grammar.js';
import { Elf, type ElfSymbol, PT_LOAD, SHF_ALLOC, SHN, SHT, STB, bufferSource, fileSource, isFunctionOrObject, isLabel, noteBuildId } from '../elf.js';
import { type ByteOrder, LITTLE } from './bytes.js';
import { demangleCxx, isMangled } from '../demangle.js';
import { SymbolTree } from './symbol-tree.js';

/** Addresses at or above this are kernel ones; they are kept as offsets from it, which a double holds exactly. */
const KBASE_HI = 0xffff0000;
const TWO32 = 4294967296;
/** perf script's default --max-stack: frames after this many are not printed. */
const MAX_STACK = 127;
const CONTEXT = { HV: 0xffffffe0, KERNEL: 0xffffff80, USER: 0xfffffe00 } as const;
/** The other context markers perf knows (guest, guest kernel, guest user, deferred user): only a mode, no frame. */
const OTHER_CONTEXTS = new Set([0xfffff800, 0xfffff780, 0xfffff600, 0xfffffd80]);

interface Sym {
  start: number;
  end: number;
  bind: number;
  name: string;
  /** A C++ name left mangled (no c++filt): perf would show it demangled. */
  mangled?: true;
}

/**
 * A file's symbols as perf's tree holds them after its fix-ups: in address
 * order, each with its children in the tree, so that an address is looked up
 * along the path perf takes.
 */
class SymbolTable {
  private constructor(
    readonly starts: Float64Array,
    readonly ends: Float64Array,
    /** null: a name perf shows demangled, which could not be demangled here. */
    readonly names: Array<string | null>,
    private readonly left: Int32Array,
    private readonly right: Int32Array,
    private readonly root: number,
  ) {}
  static of(tree: SymbolTree<Sym>): SymbolTable {
    const { items, left, right, root } = tree.flatten();
    const n = items.length;
    const starts = new Float64Array(n);
    const ends = new Float64Array(n);
    const names = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const s = items[i]!;
      starts[i] = s.start;
      ends[i] = s.end;
      names[i] = s.mangled ? null : s.name;
    }
    return new SymbolTable(starts, ends, names, left, right, root);
  }
  /** The same tree, every address moved down by `delta`. */
  shifted(delta: number): SymbolTable {
    return new SymbolTable(
      this.starts.map((x) => x - delta),
      this.ends.map((x) => x - delta),
      this.names,
      this.left,
      this.right,
      this.root,
    );
  }
  get size(): number {
    return this.names.length;
  }
  get first(): number {
    return this.starts[0] ?? 0;
  }
  get last(): number {
    return this.ends[this.ends.length - 1] ?? 0;
  }
  /** The symbol holding `a`: start <= a < end, or a symbol of size 0 at a (perf's symbols__find). */
  find(a: number): string | null | undefined {
    const i = this.index(a);
    return i < 0 ? undefined : this.names[i];
  }
  /** The index of that symbol, -1 for none: the first on the way down from the root that holds it. */
  index(a: number): number {
    let n = this.root;
    while (n >= 0) {
      const start = this.starts[n]!;
      const end = this.ends[n]!;
      if (a < start) n = this.left[n]!;
      else if (a > end || (a === end && a !== start)) n = this.right[n]!;
      else return n;
    }
    return -1;
  }
}

function roundup4k(x: number): number {
  return Math.ceil(x / 4096) * 4096;
}

/** symbols__fixup_end: a symbol of size 0 ends where the next starts (kallsyms: not across the kernel/module border). */
function fixupEnd(tree: SymbolTree<Sym>, kallsyms: boolean): void {
  let prev: Sym | undefined;
  for (let n = tree.first(); n >= 0; n = tree.next(n)) {
    const curr = tree.items[n]!;
    if (prev !== undefined && prev.end === prev.start) {
      if (kallsyms && !prev.name.includes('[') !== !curr.name.includes('[')) prev.end = roundup4k(prev.end + 4096);
      else prev.end = curr.start;
    }
    prev = curr;
  }
  if (prev !== undefined && prev.end === prev.start) prev.end = roundup4k(prev.start) + 4096;
}

function underscores(s: string): number {
  let i = 0;
  while (s.charCodeAt(i) === 95) i++;
  return i;
}

/** choose_best_symbol: true when `a` stays over `b` (same start). */
function better(a: Sym, b: Sym): boolean {
  const la = a.end - a.start;
  const lb = b.end - b.start;
  if (lb === 0 && la > 0) return true;
  if (la === 0 && lb > 0) return false;
  const wa = a.bind === STB.WEAK;
  const wb = b.bind === STB.WEAK;
  if (wb && !wa) return true;
  if (wa && !wb) return false;
  const ga = a.bind === STB.GLOBAL;
  const gb = b.bind === STB.GLOBAL;
  if (ga && !gb) return true;
  if (gb && !ga) return false;
  const ua = underscores(a.name);
  const ub = underscores(b.name);
  if (ub > ua) return true;
  if (ua > ub) return false;
  if (a.name.length !== b.name.length) return a.name.length > b.name.length;
  // arch__choose_best_symbol: avoid the "SyS" syscall aliases.
  if (a.name.startsWith('SyS') || a.name.startsWith('compat_SyS')) return false;
  return true;
}

/** symbols__fixup_duplicate: one symbol per start, the others erased from the tree in perf's order. */
function fixupDuplicate(tree: SymbolTree<Sym>): void {
  let cur = tree.first();
  if (cur < 0) return;
  for (let nx = tree.next(cur); nx >= 0; nx = tree.next(cur)) {
    const a = tree.items[cur]!;
    const b = tree.items[nx]!;
    if (a.start !== b.start) cur = nx;
    else if (better(a, b)) tree.erase(nx);
    else {
      tree.erase(cur);
      cur = nx;
    }
  }
}

/** What a file-backed map resolves against, once loaded. */
interface Dso {
  table?: SymbolTable;
  /** Why frames in it may be named differently by perf, or not at all here. */
  problem?: string;
}

/** The owner of `p` itself (a link's own, as perf's lstat gives it), or undefined when there is nothing there. */
function ownerOf(p: string): number | undefined {
  try {
    return lstatSync(p).uid;
  } catch {
    return undefined;
  }
}

function isRegular(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

interface Candidate {
  elf: Elf;
  path: string;
}

/** The ELF symbol sources of a user-space file, in perf's order (dso__load): syms has .symtab, runtime .dynsym. */
function loadElfDso(path: string, buildId: string | undefined, buildIdDir: string): Dso {
  let problem: string | undefined;
  let bid = buildId;
  const names: string[] = [];
  const slash = path.lastIndexOf('/');
  const dir = path.slice(0, slash);
  if (isRegular(path)) {
    const e = openElf(path);
    if (typeof e !== 'string') {
      // Without the recording's build id, the file's own: the debug files are found by it.
      bid ??= e.buildId();
      const link = e.debugLink();
      e.src.close();
      if (link !== undefined) {
        const found = [link, `${dir}/${link}`, `${dir}/.debug/${link}`, `/usr/lib/debug${dir}/${link}`].find(isRegular);
        if (found !== undefined) names.push(found);
      }
    }
  }
  if (bid !== undefined) {
    const linkname = `${buildIdDir}/.build-id/${bid.slice(0, 2)}/${bid.slice(2)}`;
    names.push(isRegular(linkname) ? linkname : `${linkname}/elf`, `${linkname}/debug`);
  }
  names.push(`/usr/lib/debug${path}.debug`, `/usr/lib/debug${path}`);
  if (bid !== undefined) names.push(`/usr/lib/debug/.build-id/${bid.slice(0, 2)}/${bid.slice(2)}.debug`);
  names.push(path, `${dir}/.debug${path.slice(slash)}`);
  if (path.startsWith('/usr/lib/')) names.push(`/usr/lib/debug${path.slice(4)}`);

  let syms: Candidate | undefined;
  let runtime: Candidate | undefined;
  const opened: Elf[] = [];
  try {
    for (const name of names) {
      if (!isRegular(name)) continue;
      const e = openElf(name);
      if (typeof e === 'string') {
        if (e !== 'not an ELF file') problem ??= `${name} is ${e}`;
        continue;
      }
      opened.push(e);
      if (bid !== undefined && e.buildId() !== bid) {
        if (name === path) problem ??= `${path} is not the file that was recorded (its build id differs)`;
        continue;
      }
      const symtab = e.section('.symtab');
      const dynsym = e.section('.dynsym');
      let used = false;
      if (syms === undefined && symtab?.s.type === SHT.SYMTAB) {
        syms = { elf: e, path: name };
        used = true;
      }
      if (runtime === undefined && dynsym?.s.type === SHT.DYNSYM) {
        runtime = { elf: e, path: name };
        used = true;
      }
      if (used && syms !== undefined && runtime !== undefined) break;
    }
    syms ??= runtime;
    runtime ??= syms;
    if (syms === undefined || runtime === undefined) {
      return { problem: problem ?? (existsSync(path) ? `${path} has no symbol table` : `${path} is not on this machine`) };
    }
    return dsoOf(path, syms.elf, runtime.elf);
  } finally {
    for (const e of opened) e.src.close();
  }
}

/** A file's symbols, from the file with its .symtab and the one that runs (the same file when not stripped). */
function dsoOf(path: string, syms: Elf, runtime: Elf): Dso {
  const tree = symbolsOf(syms, runtime);
  // Inserted after the fix-ups (dso__synthesize_plt_symbols), to the right of equal starts.
  const plt = pltSymbols(runtime);
  demangle(plt);
  for (const s of plt) tree.insert(s);
  const table = SymbolTable.of(tree);
  // Of the symbols kept: a mangled name erased as a duplicate names no frame.
  const mangled = table.names.includes(null);
  return {
    table,
    ...(mangled ? { problem: `${path} has C++ names, which perf shows demangled: c++filt (binutils) is not installed` } : {}),
  };
}

/**
 * dso__synthesize_plt_symbols: NAME@plt for each .rela.plt (or .rel.plt)
 * entry, in order, one .plt entry each after the header entry, at file
 * offsets (x86-64's header and entries are sh_entsize long).
 */
function pltSymbols(e: Elf): Sym[] {
  const dynsym = e.section('.dynsym');
  if (dynsym === undefined || dynsym.s.type !== SHT.DYNSYM) return [];
  const rel = e.section('.rela.plt') ?? e.section('.rel.plt');
  const plt = e.section('.plt');
  // An entry is at least an Elf64_Rel (16 bytes: r_offset, r_info); less is a corrupt header.
  if (rel === undefined || plt === undefined || rel.s.link !== dynsym.index || rel.s.entsize < 16) return [];
  const entry = plt.s.entsize;
  const names = e.symbols(dynsym.index);
  const data = e.src.read(rel.s.offset, rel.s.size);
  const out: Sym[] = [];
  let at = plt.s.offset + entry;
  for (let q = 0; q + rel.s.entsize <= data.length; q += rel.s.entsize) {
    // r_info's high half is the symbol index (ELF64_R_SYM).
    const index = e.order.little ? data.readUInt32LE(q + 12) : data.readUInt32BE(q + 8);
    out.push({ start: at, end: entry > 0 ? at + entry : at, bind: STB.GLOBAL, name: `${names[index]?.name ?? ''}@plt` });
    at += entry;
  }
  return out;
}

function openElf(path: string): Elf | string {
  let src;
  try {
    src = fileSource(path);
  } catch (e) {
    return `unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const e = Elf.open(src);
  if (typeof e === 'string') src.close();
  return e;
}

/** dso__load_sym: the .symtab pass, then the .dynsym pass, each followed by perf's fix-ups. */
function symbolsOf(syms: Elf, runtime: Elf): SymbolTree<Sym> {
  const tree = new SymbolTree<Sym>();
  const symtab = syms.section('.symtab');
  const dynsym = syms.section('.dynsym');
  if (symtab?.s.type === SHT.SYMTAB) pass(tree, syms, runtime, symtab.index);
  if (dynsym?.s.type === SHT.DYNSYM) pass(tree, syms, runtime, dynsym.index);
  return tree;
}

function pass(tree: SymbolTree<Sym>, elf: Elf, run: Elf, index: number): void {
  const loads = run.segments.filter((p) => p.type === PT_LOAD && Math.max(p.memsz, p.filesz) > 0);
  const added: Sym[] = [];
  for (const s of elf.symbols(index) as ElfSymbol[]) {
    const label = isLabel(s);
    if (!label && !isFunctionOrObject(s)) continue;
    if (s.shndx === SHN.ABS || s.shndx >= SHN.LORESERVE) continue;
    let sec = elf.sections[s.shndx];
    if (sec === undefined || (sec.flags & SHF_ALLOC) === 0) continue;
    // A debug file's sections hold no bytes: their offsets are the running file's.
    if (sec.type === SHT.NOBITS) {
      sec = run.sections[s.shndx];
      if (sec === undefined) continue;
    }
    if (label && !sec.name.includes('text') && !sec.name.includes('data')) continue;
    const v = s.value;
    const ph = loads.find((p) => v >= p.vaddr && v < p.vaddr + Math.max(p.memsz, p.filesz));
    const start = v - (ph !== undefined ? ph.vaddr - ph.offset : sec.addr - sec.offset);
    added.push({ start, end: s.size > 0 ? start + s.size : start, bind: s.bind, name: s.name });
  }
  if (added.length === 0) return;
  // Demangled before the fix-ups, which compare the names perf compares: the demangled ones.
  demangle(added);
  // In the table's order, as perf reads and inserts them: the tree's shape depends on it.
  for (const s of added) tree.insert(s);
  fixupEnd(tree, false);
  fixupDuplicate(tree);
}

/** C++ names demangled in place (NAME@plt too); without c++filt they are marked, to be left unnamed. */
function demangle(syms: Sym[]): void {
  const todo = syms.filter((s) => isMangled(s.name) && !s.name.includes('\n'));
  if (todo.length === 0) return;
  const plain = todo.map((s) => (s.name.endsWith('@plt') ? s.name.slice(0, -4) : s.name));
  const out = demangleCxx(plain);
  todo.forEach((s, i) => {
    if (out === undefined) s.mangled = true;
    else s.name = out[i]! + (s.name.endsWith('@plt') ? '@plt' : '');
  });
}

/** A perf map file: `START SIZE name` lines in hex (dso__load_perf_map); no fix-ups. */
function loadPerfMap(path: string): SymbolTable | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const tree = new SymbolTree<Sym>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]*)\s([0-9a-fA-F]*)\s(.+)$/.exec(line);
    if (m === null || m[3]!.length < 2) continue;
    const start = parseInt(m[1] || '0', 16);
    const size = parseInt(m[2] || '0', 16);
    tree.insert({ start, end: start + size, bind: STB.GLOBAL, name: m[3]! });
  }
  return SymbolTable.of(tree);
}

interface KernelSymbols {
  table: SymbolTable;
  /** Where this kallsyms has _text (kallsyms__delta compares it with the recording's). */
  text?: number;
  /** Where its modules' symbols are: perf names their frames from /proc/modules and the modules' files; this reader does not. */
  modules?: [number, number];
}

/**
 * The last kallsyms loaded, kept for the next input of the same run: reading
 * /proc/kallsyms costs the kernel about 50 ms and its tree as long again, and a
 * batch of recordings from one machine names its kernel frames from the same file.
 */
let lastKallsyms: { path: string; k: KernelSymbols | string } | undefined;

function kallsymsOnce(path: string): KernelSymbols | string {
  if (lastKallsyms?.path !== path) lastKallsyms = { path, k: loadKallsyms(path) };
  return lastKallsyms.k;
}

/** kallsyms as perf loads it (dso__load_kallsyms, without modules: their maps come from /proc/modules). */
function loadKallsyms(path: string): KernelSymbols | string {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (e) {
    return `${path} is unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const tree = new SymbolTree<Sym>();
  let nonzero = false;
  let textAt: number | undefined;
  // Line by line in place (`ADDR TYPE NAME[\tMODULE]`), not split: 120,000 lines made as many strings, and
  // two more for each address.
  for (let ls = 0, nl = 0; ls < text.length; ls = nl + 1) {
    nl = text.indexOf('\n', ls);
    if (nl < 0) nl = text.length;
    const sp = text.indexOf(' ', ls);
    if (sp < 0 || sp >= nl || nl < sp + 4) continue;
    const a = sp - ls === 16 ? kernelAddr(text, ls) : undefined;
    if (a === undefined) continue;
    if (a !== 0) nonzero = true;
    // The type letter, upper case for global symbols: T, W, D, B (text, weak, data, bss) are kept.
    const type = text.charCodeAt(sp + 1);
    const upper = type & ~0x20;
    if (textAt === undefined && nl === sp + 8 && text.startsWith(' _text', nl - 6)) textAt = a;
    if (upper !== 84 && upper !== 87 && upper !== 68 && upper !== 66) continue;
    const first = text.charCodeAt(sp + 3);
    if (first === 36 /* $ */) continue;
    tree.insert({ start: a, end: a, bind: upper === 87 ? STB.WEAK : type === upper ? STB.GLOBAL : STB.LOCAL, name: text.slice(first === 46 /* . */ ? sp + 4 : sp + 3, nl) });
  }
  if (!nonzero) return `${path} hides its addresses (kernel.kptr_restrict; read it as root)`;
  fixupEnd(tree, true);
  fixupDuplicate(tree);
  let modules: [number, number] | undefined;
  for (const n of tree.inOrder()) {
    const s = tree.items[n]!;
    if (s.name.includes('\t') && !s.name.includes('[__builtin__')) {
      // The ftrace trampolines are listed as a module of their own, which /proc/modules has not either.
      modules = modules === undefined ? [s.start, s.end] : [Math.min(modules[0], s.start), Math.max(modules[1], s.end)];
    }
    // Module symbols leave the kernel's tree for their modules' (maps__split_kallsyms; with
    // /proc/kcore perf rebuilds the tree in address order instead, and keeps them: kallsyms
    // do not overlap after the fix-ups, so either shape names every address alike).
    if (s.name.includes('\t') || s.name === '__entry_SYSCALL_64_trampoline') tree.erase(n);
  }
  return { table: SymbolTable.of(tree), ...(textAt !== undefined ? { text: textAt } : {}), ...(modules !== undefined ? { modules } : {}) };
}

/**
 * The kernel address in the 16 characters at `at` (hex digits from ffff...) as
 * an offset from 0xffff000000000000; 0 for one of zeros (addresses hidden);
 * undefined for others.
 */
function kernelAddr(text: string, at: number): number | undefined {
  const hi = hex8(text, at);
  const lo = hex8(text, at + 8);
  if (!(hi >= KBASE_HI)) return hi === 0 && lo === 0 ? 0 : undefined;
  return (hi - KBASE_HI) * TWO32 + lo;
}

/** Eight hex digits read where they stand; where one is not a digit, what parseInt makes of them. */
function hex8(text: string, at: number): number {
  let n = 0;
  for (let i = at; i < at + 8; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return parseInt(text.slice(at, at + 8), 16);
    n = n * 16 + d;
  }
  return n;
}

/** The build id in a notes file (/sys/kernel/notes). */
function notesBuildId(path: string): string | undefined {
  let d: Buffer;
  try {
    d = readFileSync(path);
  } catch {
    return undefined;
  }
  return noteBuildId(d, LITTLE);
}

/** This process's own vdso, which is the recording's when the kernel is the same (perf reads its own too). */
function ownVdso(): Buffer | undefined {
  try {
    const m = /^([0-9a-f]+)-([0-9a-f]+) .*\[vdso\]$/m.exec(readFileSync('/proc/self/maps', 'latin1'));
    if (m === null) return undefined;
    const start = parseInt(m[1]!, 16);
    const len = parseInt(m[2]!, 16) - start;
    const fd = openSync('/proc/self/mem', 'r');
    try {
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, start);
      return b;
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** A map of a process: [start, end), what the address printed is relative to, and the file. */
interface MapEntry {
  start: number;
  end: number;
  pgoff: number;
  /** The dso name perf prints: the file, [vdso], or /tmp/perf-PID.map for anonymous executable memory. */
  dso: string;
  /** Anonymous memory and perf maps: the address is printed as it is. */
  identity: boolean;
  perfMap: boolean;
  vdso: boolean;
  /** Frames named in it, by ip: call sites repeat (shared objects: no stage changes a frame). */
  frames?: Map<number, Frame>;
}

/** Frames remembered per map (and for the kernel) at most; past it the memo starts again. */
const MEMO_MAX = 1 << 16;

/** A frame as named, and what its symbol offset is counted from (perf's `sym+0xOFF`, for samples of code). */
interface Named {
  f: Frame;
  /** The address in the symbol's terms (map_ip), and the symbol's start, when it has one. */
  rel: number;
  start?: number;
}

/** The frame with its offset in its symbol, as perf prints frames of code samples; none without a symbol. */
function withOffset(n: Named): Frame {
  if (n.start === undefined || typeof n.f.sym !== 'string') return n.f;
  return { addr: n.f.addr, sym: n.f.sym, off: n.rel - n.start, dso: n.f.dso ?? null };
}

/** One process's maps, sorted by start and disjoint. */
class ProcessMaps {
  maps: MapEntry[] = [];
  clone(): ProcessMaps {
    const p = new ProcessMaps();
    p.maps = this.maps.slice();
    return p;
  }
  /**
   * maps__fixup_overlappings, then the insert: what the new map covers is cut
   * out of the old ones. The maps are sorted and do not overlap, so those it
   * covers are one run, found by a binary search and replaced in place (a
   * process has thousands of maps, and perf record -a synthesises them all).
   */
  insert(m: MapEntry): void {
    const ms = this.maps;
    // The first map ending after the new one starts.
    let lo = 0;
    let hi = ms.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ms[mid]!.end <= m.start) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < ms.length && ms[end]!.start < m.end) end++;
    const pieces: MapEntry[] = [];
    if (end > lo && ms[lo]!.start < m.start) pieces.push({ ...ms[lo]!, end: m.start });
    pieces.push(m);
    const last = ms[end - 1];
    if (end > lo && last!.end > m.end) pieces.push({ ...last!, start: m.end, pgoff: last!.pgoff + (m.end - last!.start) });
    ms.splice(lo, end - lo, ...pieces);
  }
  find(a: number): MapEntry | undefined {
    const ms = this.maps;
    let lo = 0;
    let hi = ms.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = ms[mid]!;
      if (a < m.start) hi = mid - 1;
      else if (a >= m.end) lo = mid + 1;
      else return m;
    }
    return undefined;
  }
}

export interface SymbolizerOptions {
  /** Where perf's build-id cache is ($PERF_BUILDID_DIR, else ~/.debug). */
  buildIdDir?: string;
  /** Folders a perf map file (perf-PID.map) is looked for in, in order; /tmp first, where perf reads it. */
  perfMapDirs?: string[];
  /** The kallsyms and kernel notes of the running kernel (tests point them elsewhere). */
  kallsyms?: string;
  kernelNotes?: string;
  /** Symbol tables kept at most, counted in symbols; the least recently used file is dropped past it. */
  maxCachedSymbols?: number;
  /**
   * The tables of an earlier Symbolizer, to go on with: a run over many
   * recordings of one machine loads libpython's symbols once, not once per
   * recording (maxCachedSymbols is then the cache's own).
   */
  cache?: SymbolCache;
}

const DEFAULT_MAX_SYMBOLS = 2_000_000;
const MAX_FILES = 1024;
/** Reasons told at most; past them the count of frames goes to one line. */
const MAX_REASONS = 50;

/**
 * Symbol tables by key, the least recently used dropped first once they hold
 * more than `max` symbols or MAX_FILES files: a recording of a thousand
 * programs does not keep a thousand tables. A file's table is keyed by its
 * path and the build id its recording gave it, so recordings may share it:
 * what is on this machine's disk is taken to stay put for a run, as within
 * one recording. A perf map is a process's own (a pid of another recording
 * is another process, and a JIT appends to its map): forget() drops them.
 */
export class SymbolCache {
  private readonly dsos = new Map<string, Dso>();
  private symbols = 0;

  constructor(private readonly max = DEFAULT_MAX_SYMBOLS) {}

  get(key: string, load: () => Dso): Dso {
    const known = this.dsos.get(key);
    if (known !== undefined) {
      // Most recently used last: the first in the map is the one dropped.
      this.dsos.delete(key);
      this.dsos.set(key, known);
      return known;
    }
    const d = load();
    const n = d.table?.size ?? 0;
    for (const [k, old] of this.dsos) {
      if (this.symbols + n <= this.max && this.dsos.size < MAX_FILES) break;
      this.symbols -= old.table?.size ?? 0;
      this.dsos.delete(k);
    }
    this.dsos.set(key, d);
    this.symbols += n;
    return d;
  }

  /** Drops the tables that are one recording's own (perf maps). */
  forget(): void {
    for (const [k, d] of this.dsos) {
      if (!k.startsWith(PERF_MAP_KEY)) continue;
      this.symbols -= d.table?.size ?? 0;
      this.dsos.delete(k);
    }
  }

  /** The files whose symbol tables are kept now, and their symbols. */
  size(): { files: number; symbols: number } {
    return { files: this.dsos.size, symbols: this.symbols };
  }
}

const PERF_MAP_KEY = 'perf map\0';

/** Resolves callchains against the maps its MMAP records built, in the order the records are delivered. */
export class Symbolizer {
  private readonly procs = new Map<number, ProcessMaps>();
  private readonly live = new Map<number, Set<number>>();
  private kernelMap: { start: number; end: number; text?: number } | undefined;
  private kernel: KernelSymbols | string | undefined;
  /** The symbol tables: this one's own, or handed on from the Symbolizer of the recording before. */
  readonly tables: SymbolCache;
  private readonly buildIds = new Map<string, string>();
  private host: { hostname?: string; osrelease?: string } = {};
  private readonly problems = new Map<string, number>();
  private readonly kernelFrames = new Map<number, Frame>();
  private lastUnresolved = 0;
  private readonly opts: Required<Omit<SymbolizerOptions, 'perfMapDirs' | 'cache'>> & { perfMapDirs: string[] };
  /** Frames resolved and frames left without the symbol perf would give. */
  readonly stats = { frames: 0, unresolved: 0 };

  constructor(opts: SymbolizerOptions = {}) {
    this.opts = {
      buildIdDir: opts.buildIdDir ?? process.env.PERF_BUILDID_DIR ?? `${homedir()}/.debug`,
      perfMapDirs: opts.perfMapDirs ?? ['/tmp'],
      kallsyms: opts.kallsyms ?? '/proc/kallsyms',
      kernelNotes: opts.kernelNotes ?? '/sys/kernel/notes',
      maxCachedSymbols: opts.maxCachedSymbols ?? DEFAULT_MAX_SYMBOLS,
    };
    this.tables = opts.cache ?? new SymbolCache(this.opts.maxCachedSymbols);
  }

  /** The recording's HEADER_BUILD_ID entries: a build id by file name ([kernel.kallsyms], [vdso], paths). */
  buildId(file: string, id: string): void {
    this.buildIds.set(file, id);
  }

  /** The recording machine, for kernel frames when the recording has no kernel build id. */
  recordedOn(hostname: string | undefined, osrelease: string | undefined): void {
    this.host = { ...(hostname !== undefined ? { hostname } : {}), ...(osrelease !== undefined ? { osrelease } : {}) };
  }

  /** An MMAP or MMAP2 record. `kernel`: the kernel's own map ([kernel.kallsyms]_text), `pgoff` then is _text's address. */
  mmap(pid: number, start: Buffer, at: number, order: ByteOrder, len: number, pgoff: number, filename: string, prot: number, kernel: boolean): void {
    const lo = order.little ? start.readUInt32LE(at) : start.readUInt32BE(at + 4);
    const hi = order.little ? start.readUInt32LE(at + 4) : start.readUInt32BE(at);
    if (kernel) {
      if (hi < KBASE_HI || !filename.startsWith('[kernel.kallsyms]')) return;
      const s = (hi - KBASE_HI) * TWO32 + lo;
      const pg = start.length >= at + 24 ? readKernel(start, at + 16, order) : undefined;
      this.kernelMap = { start: s, end: s + len, ...(pg !== undefined ? { text: pg } : {}) };
      return;
    }
    if (hi >= 0x200000) return;
    const s = hi * TWO32 + lo;
    const anon = filename === '//anon' || filename.startsWith('/dev/zero') || filename.startsWith('/anon_hugepage');
    const noDso = filename.startsWith('[stack') || filename.startsWith('/SYSV') || filename === '[heap]';
    const exec = (prot & 4) !== 0;
    const perfMap = (anon || noDso) && exec;
    const vdso = filename === '[vdso]';
    this.maps(pid).insert({
      start: s,
      end: s + len,
      pgoff: vdso ? 0 : pgoff,
      dso: perfMap ? `/tmp/perf-${pid}.map` : filename,
      identity: anon || noDso,
      perfMap,
      vdso,
    });
  }

  /**
   * A FORK: a new process gets a copy of its parent's maps (not when perf
   * record synthesized the fork for a task already running: its maps follow
   * as MMAP records); a new thread shares its process's.
   */
  fork(pid: number, tid: number, ppid: number, synthesized: boolean): void {
    if (pid !== ppid) {
      const parent = this.procs.get(ppid);
      this.procs.set(pid, parent !== undefined && !synthesized ? parent.clone() : new ProcessMaps());
    }
    let threads = this.live.get(pid);
    if (threads === undefined) this.live.set(pid, (threads = new Set([pid])));
    threads.add(tid);
  }

  /** An EXIT: a process's maps are dropped with its last thread, so memory follows the processes alive. */
  exit(pid: number, tid: number): void {
    const threads = this.live.get(pid);
    if (threads === undefined) {
      if (pid === tid) this.procs.delete(pid);
      return;
    }
    threads.delete(tid);
    if (threads.size === 0) {
      this.live.delete(pid);
      this.procs.delete(pid);
    }
  }

  private maps(pid: number): ProcessMaps {
    let p = this.procs.get(pid);
    if (p === undefined) this.procs.set(pid, (p = new ProcessMaps()));
    return p;
  }

  /** The frames of a callchain (its u64 entries, context markers among them) as perf script prints them. */
  resolve(pid: number, b: Buffer, at: number, nr: number, order: ByteOrder, offsets = false): Frame[] {
    const frames: Frame[] = [];
    let kernel = false;
    const proc = this.procs.get(pid);
    for (let i = 0, q = at; i < nr && frames.length < MAX_STACK; i++, q += 8) {
      const lo = order.little ? b.readUInt32LE(q) : b.readUInt32BE(q + 4);
      const hi = order.little ? b.readUInt32LE(q + 4) : b.readUInt32BE(q);
      if (hi === 0xffffffff && lo >= 0xfffff001) {
        if (lo === CONTEXT.KERNEL) kernel = true;
        else if (lo === CONTEXT.USER) kernel = false;
        else if (lo !== CONTEXT.HV && !OTHER_CONTEXTS.has(lo)) {
          // A marker perf does not know (a frame-pointer walk through
          // garbage): perf drops the whole callchain ("invalid callchain
          // context", add_callchain_ip), and prints none.
          this.stats.frames -= frames.length;
          return [];
        }
        continue;
      }
      this.stats.frames++;
      frames.push(kernel ? this.kernelFrame(hi, lo, offsets) : this.userFrame(proc, hi, lo, offsets));
    }
    return frames;
  }

  /**
   * A sample's own ip, as perf script prints it beside the event: the
   * address itself, with the symbol and file of the kernel's maps or the
   * process's as the sample's mode says, else of the other (thread__find_map_fb).
   */
  ip(pid: number, hi: number, lo: number, kernel: boolean, offsets = false): Frame {
    const addr = hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
    const proc = this.procs.get(pid);
    let f = kernel ? this.kernelFrame(hi, lo, offsets) : this.userFrame(proc, hi, lo, offsets);
    const inKernel = hi >= KBASE_HI;
    if (f.dso === null && inKernel !== kernel) f = inKernel ? this.kernelFrame(hi, lo, offsets) : this.userFrame(proc, hi, lo, offsets);
    return f.off !== undefined ? { addr, sym: f.sym ?? null, off: f.off, dso: f.dso ?? null } : { addr, sym: f.sym ?? null, dso: f.dso ?? null };
  }

  private kernelFrame(hi: number, lo: number, offsets: boolean): Frame {
    const km = this.kernelMap;
    if (hi < KBASE_HI || km === undefined) return { addr: hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0'), sym: null, dso: null };
    const a = (hi - KBASE_HI) * TWO32 + lo;
    // Frames with offsets are remembered apart, under -a - 1.
    const key = offsets ? -a - 1 : a;
    const known = this.kernelFrames.get(key);
    if (known !== undefined) return known;
    const n = this.newKernelFrame(hi, lo, a, km);
    const f = offsets ? withOffset(n) : n.f;
    // Without kallsyms each frame is counted in the note; named ones are remembered.
    if (typeof this.kernel !== 'string') {
      if (this.kernelFrames.size >= MEMO_MAX) this.kernelFrames.clear();
      this.kernelFrames.set(key, f);
    }
    return f;
  }

  private newKernelFrame(hi: number, lo: number, a: number, km: { start: number; end: number }): Named {
    const addr = hi.toString(16) + lo.toString(16).padStart(8, '0');
    const k = this.kernelSymbols();
    // Loaded, the kernel's map spans its symbols (map__fixup_start/end); unloaded, what its MMAP said.
    const [start, end] = typeof k === 'string' ? [km.start, km.end] : [k.table.first, k.table.last];
    if (a < start || a > end || (a === end && start !== end)) {
      if (typeof k !== 'string' && k.modules !== undefined && a >= k.modules[0] && a < k.modules[1]) {
        this.unresolved('kernel module frames: perf names them from /proc/modules and the modules themselves, this reader does not');
      }
      return { f: { addr, sym: null, dso: null }, rel: a };
    }
    if (typeof k === 'string') {
      this.unresolved(`kernel frames: ${k}`);
      return { f: { addr, sym: null, dso: '[kernel.kallsyms]' }, rel: a };
    }
    const i = k.table.index(a);
    if (i < 0) return { f: { addr, sym: null, dso: '[kernel.kallsyms]' }, rel: a };
    return { f: { addr, sym: k.table.names[i] ?? null, dso: '[kernel.kallsyms]' }, rel: a, start: k.table.starts[i]! };
  }

  /** kallsyms of the recorded kernel, as dso__find_kallsyms picks it, shifted by the relocation (kallsyms__delta). */
  private kernelSymbols(): KernelSymbols | string {
    if (this.kernel !== undefined) return this.kernel;
    const recorded = this.buildIds.get('[kernel.kallsyms]');
    const running = notesBuildId(this.opts.kernelNotes);
    let path: string | undefined;
    if (recorded !== undefined) {
      if (recorded === running) path = this.opts.kallsyms;
      else {
        const cached = `${this.opts.buildIdDir}/[kernel.kallsyms]/${recorded}/kallsyms`;
        if (isRegular(cached)) path = cached;
        else {
          this.kernel = `recorded on kernel ${recorded}, not this one (${running ?? 'unknown'}), and no copy of its kallsyms is in ${this.opts.buildIdDir}`;
          return this.kernel;
        }
      }
    } else if (this.host.hostname === hostname() && this.host.osrelease === release()) {
      path = this.opts.kallsyms;
    } else {
      this.kernel = `recorded on ${this.host.hostname ?? '?'} (${this.host.osrelease ?? '?'}), not this machine, and the recording names no kernel build id`;
      return this.kernel;
    }
    const k = kallsymsOnce(path);
    if (typeof k !== 'string' && k.text !== undefined && this.kernelMap?.text !== undefined && k.text !== this.kernelMap.text) {
      // The same kernel booted at another address: its symbols moved with it.
      const delta = k.text - this.kernelMap.text;
      // Modules are placed apart from the kernel's text (their own randomisation): where they are stays.
      this.kernel = { table: k.table.shifted(delta), ...(k.modules !== undefined ? { modules: k.modules } : {}) };
    } else this.kernel = k;
    return this.kernel;
  }

  private userFrame(proc: ProcessMaps | undefined, hi: number, lo: number, offsets: boolean): Frame {
    const m = hi < 0x200000 ? proc?.find(hi * TWO32 + lo) : undefined;
    if (m === undefined) return { addr: hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0'), sym: null, dso: null };
    const ip = hi * TWO32 + lo;
    const key = offsets ? -ip - 1 : ip;
    m.frames ??= new Map();
    const known = m.frames.get(key);
    if (known !== undefined) return known;
    this.lastUnresolved = this.stats.unresolved;
    const n = this.newUserFrame(m, ip);
    const f = offsets ? withOffset(n) : n.f;
    // A frame left unnamed for a reason is said each time it comes (the count in the note); it is not remembered.
    if (f.sym !== null || this.stats.unresolved === this.lastUnresolved) {
      if (m.frames.size >= MEMO_MAX) m.frames.clear();
      m.frames.set(key, f);
    }
    return f;
  }

  private newUserFrame(m: MapEntry, ip: number): Named {
    const rel = m.identity ? ip : ip - m.start + m.pgoff;
    const addr = rel.toString(16);
    const table = m.perfMap ? this.perfMap(m.dso) : this.dso(m).table;
    if (table === undefined) {
      const problem = m.perfMap ? undefined : this.dso(m).problem;
      // A special map ([uprobes], [vsyscall]) is no file, for perf either.
      if (problem !== undefined && !m.dso.startsWith('[')) this.unresolved(problem);
      return { f: { addr, sym: null, dso: m.dso }, rel };
    }
    const i = table.index(rel);
    if (i < 0) return { f: { addr, sym: null, dso: m.dso }, rel };
    const sym = table.names[i] ?? null;
    if (sym === null) {
      const problem = this.dso(m).problem;
      if (problem !== undefined) this.unresolved(problem);
      return { f: { addr, sym: null, dso: m.dso }, rel };
    }
    return { f: { addr, sym, dso: m.dso }, rel, start: table.starts[i]! };
  }

  private perfMap(name: string): SymbolTable | undefined {
    const d = this.tables.get(PERF_MAP_KEY + name, () => {
      const base = name.slice('/tmp/'.length);
      for (const dir of this.opts.perfMapDirs) {
        const path = `${dir}/${base}`;
        // perf (dso__load) ignores a perf map that is neither this user's nor
        // root's: anyone can write /tmp/perf-PID.map for a pid not theirs, and
        // name another program's frames as they like.
        const owner = ownerOf(path);
        if (owner === undefined) continue;
        if (owner !== 0 && owner !== process.geteuid?.()) {
          return { problem: `${path} is not owned by this user or root: not read, as perf does not read it; its frames stay unnamed` };
        }
        const table = loadPerfMap(path);
        if (table !== undefined) return { table };
      }
      return { problem: `no perf map ${name} here (the file a JIT writes, CPython's -X perf for one): its frames stay unnamed, as in perf script` };
    });
    if (d.problem !== undefined) this.unresolved(d.problem);
    return d.table;
  }

  private dso(m: MapEntry): Dso {
    // The vdso's table comes from the build-id cache or this process, chosen by its build id too.
    const bid = this.buildIds.get(m.vdso ? '[vdso]' : m.dso);
    return this.tables.get(`${m.vdso ? 'vdso' : 'file'}\0${m.dso}\0${bid ?? ''}`, () => {
      // A file perf would read may be corrupt or unreadable anywhere in it: its frames stay unnamed, and the note says why.
      try {
        return m.vdso ? this.loadVdso() : loadElfDso(m.dso, bid, this.opts.buildIdDir);
      } catch (e) {
        return { problem: `${m.dso}: unreadable or corrupt ELF (${(e as Error).message}): its frames stay unnamed` };
      }
    });
  }

  /** The files whose symbol tables are kept now, and their symbols. */
  cache(): { files: number; symbols: number } {
    return this.tables.size();
  }

  /** The vdso: its copy in the build-id cache, else this process's own when the build ids agree. */
  private loadVdso(): Dso {
    const id = this.buildIds.get('[vdso]');
    if (id !== undefined) {
      const linkname = `${this.opts.buildIdDir}/.build-id/${id.slice(0, 2)}/${id.slice(2)}`;
      const file = isRegular(linkname) ? linkname : `${linkname}/vdso`;
      if (isRegular(file)) return loadElfDso(file, id, '/nonexistent');
    }
    const own = ownVdso();
    if (own === undefined) return { problem: '[vdso]: no copy of it in the build-id cache, and this process has none' };
    const e = Elf.open(bufferSource(own));
    if (typeof e === 'string') return { problem: `[vdso]: ${e}` };
    if (id !== undefined && e.buildId() !== id) return { problem: '[vdso]: recorded on another kernel, and no copy of it is in the build-id cache' };
    return dsoOf('[vdso]', e, e);
  }

  private unresolved(why: string): void {
    this.stats.unresolved++;
    const key = this.problems.has(why) || this.problems.size < MAX_REASONS ? why : 'in other files (more reasons than are told)';
    this.problems.set(key, (this.problems.get(key) ?? 0) + 1);
  }

  /** One line per reason frames were left without the symbol perf script would print. */
  notes(): string[] {
    return [...this.problems].map(([why, n]) => `${n} callchain frame${n === 1 ? '' : 's'} left unnamed: ${why}`);
  }
}

function readKernel(b: Buffer, at: number, order: ByteOrder): number | undefined {
  const lo = order.little ? b.readUInt32LE(at) : b.readUInt32BE(at + 4);
  const hi = order.little ? b.readUInt32LE(at + 4) : b.readUInt32BE(at);
  return hi >= KBASE_HI ? (hi - KBASE_HI) * TWO32 + lo : undefined;
}
