// perf-parse on every recorded fixture (test/fixtures, made by record.sh) and
// on the shared corpus of real `perf script` output. The expected numbers come
// from the raw text, counted here with a few plain regular expressions that
// share nothing with the parser, and from what the workloads measured about
// themselves (NAME.truth.json), never from perf-parse's own earlier output.
import t, { type Test } from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { runBin, bin, root, corpus, hasCorpus } from '../helpers/run.js';
import { perfParse as perfParseInProcess } from '../helpers/in-process.js';
import { schemaErrors } from '../helpers/schema.js';

type Rec = Record<string, any>;
const fixtures = join(root, 'test/fixtures');

// ------------------------------------------------------------ the raw text

/** The time column perf prints before every event: ` SEC.NNNNNN: ` or ` SEC.NNNNNNNNN: `. */
const TIME_RE = /(?:^| )\d+\.(?:\d{9}|\d{6}): /;
const FRAME_RE = /^[\t ]+[0-9a-f]+(?: |$)/;

interface RawCount {
  lines: string[];
  /** Lines with a time column: one record each. */
  events: number;
  /** Lines that are none of event, frame, srcline, header, blank: what a parser must report. */
  strays: number;
  headerLines: number;
  /** The last line had no newline (a cut file). */
  cut: boolean;
}

function rawText(file: string): string {
  const buf = readFileSync(file);
  return (file.endsWith('.gz') ? gunzipSync(buf) : buf).toString('latin1');
}

function countRaw(text: string): RawCount {
  const cut = text.length > 0 && !text.endsWith('\n');
  const lines = text.split('\n');
  if (!cut) lines.pop();
  const c: RawCount = { lines, events: 0, strays: 0, headerLines: 0, cut };
  let afterFrame = false;
  lines.forEach((raw, i) => {
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const last = cut && i === lines.length - 1;
    if (last) {
      c.strays++; // cut short: its fields may be cut too, so it is not an event
    } else if (l === '' || l === 'PERF_RECORD_FINISHED_ROUND') {
      afterFrame = false;
    } else if (TIME_RE.test(l)) {
      // First: a padded comm such as `999 42` would look like a frame's address.
      c.events++;
      afterFrame = false;
    } else if (FRAME_RE.test(l)) {
      afterFrame = true;
    } else if (afterFrame && /^ {2}\S/.test(l)) {
      // a srcline under a frame (-F +srcline)
    } else if (l.startsWith('#')) {
      c.headerLines++;
    } else {
      c.strays++;
    }
  });
  return c;
}

interface Parsed {
  code: number | undefined;
  stderr: string;
  recs: Rec[];
  malformed: number;
}

async function perfParse(file: string): Promise<Parsed> {
  const r = await runBin('perf-parse', [file], { maxBuffer: 1 << 30 });
  const stdout = String(r.stdout);
  const recs = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Rec);
  const m = /skipped (\d+) malformed line/.exec(String(r.stderr));
  return { code: r.exitCode, stderr: String(r.stderr), recs, malformed: m ? Number(m[1]) : 0 };
}

/** Files where lines perf-parse cannot use are expected, and why. */
function strayReason(name: string): string | undefined {
  if (name.includes('derived/')) return 'derived from real output by cutting or rewriting it';
  if (name.includes('F-trace-only')) return '-F trace prints payloads without time or event columns';
  return undefined;
}

/** The checks every capture gets: no crash, exit 0, counts that match the raw text. */
async function checkCounts(t: Test, name: string, file: string): Promise<{ p: Parsed; raw: RawCount }> {
  const raw = countRaw(rawText(file));
  const p = await perfParse(file);
  t.equal(p.code, 0, 'exit 0');
  t.notMatch(p.stderr, /\n\s+at |TypeError|RangeError/, 'no stack trace');
  const headers = p.recs.filter((r) => r.type === 'header').length;
  t.equal(p.recs.length - headers, raw.events, `one record per event line (${raw.events})`);
  t.equal(headers, raw.headerLines > 0 ? 1 : 0, 'one header record per # block');
  const why = strayReason(name);
  if (name.includes('newline')) {
    // perf prints a name with a newline raw and so cuts lines in two; perf-parse joins the halves.
    t.ok(raw.strays > 0, `the raw text has halves of lines cut by a newline in a name (${raw.strays})`);
    t.equal(p.malformed, 0, 'all of them joined: none malformed');
  } else if (why === undefined) {
    t.equal(raw.strays, 0, 'the raw text has no stray lines');
    t.equal(p.malformed, 0, 'no malformed lines');
  } else {
    t.equal(p.malformed, raw.strays, `every stray line reported as malformed (${why})`);
  }
  for (const r of p.recs) {
    if (r.type === 'header') continue;
    if (!Number.isSafeInteger(r.ts) || r.ts < 0) {
      t.fail(`bad ts in ${JSON.stringify(r).slice(0, 200)}`);
      break;
    }
  }
  return { p, raw };
}

/** Raw lines of one event name, counted from the text: `... TIME: EVENT: ...`. */
function rawEventCounts(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) {
    const e = /\d\.\d{6,9}: +([A-Za-z_][A-Za-z_0-9]*:[A-Za-z_0-9]+): /.exec(l);
    if (e) m.set(e[1]!, (m.get(e[1]!) ?? 0) + 1);
  }
  return m;
}

function truthOf(fixture: string): Rec {
  return JSON.parse(readFileSync(join(fixtures, `${fixture}.truth.json`), 'utf8'));
}

// ------------------------------------------------------------ own fixtures

const own = readdirSync(fixtures)
  .filter((f) => f.endsWith('.perf.txt.gz'))
  .sort();

t.test('the fixtures record.sh makes are all there', async (t) => {
  for (const f of ['sleeper', 'two_cpu', 'two_cpu.default', 'gil_hog', 'numpy_release', 'two_procs', 'io_cpu', 'comm_names', 'comm_names-newline', 'lost', 'two_cpu-dwarf', 'two_cpu-stripped-libc']) {
    t.ok(own.includes(`${f}.perf.txt.gz`), `${f}.perf.txt.gz`);
    t.ok(existsSync(join(fixtures, `${f}.truth.json`)), `${f}.truth.json`);
  }
});

const parsedOwn = new Map<string, { p: Parsed; raw: RawCount }>();

for (const f of own) {
  const name = f.replace(/\.perf\.txt\.gz$/, '');
  t.test(`fixture ${name}`, async (t) => {
    const got = await checkCounts(t, name, join(fixtures, f));
    parsedOwn.set(name, got);
    const { p, raw } = got;
    const samples = p.recs.filter((r) => r.type === 'sample');
    // Every event name appears as often as the text has it.
    const byEvent = new Map<string, number>();
    for (const s of samples) byEvent.set(s.event, (byEvent.get(s.event) ?? 0) + 1);
    const rawEvents = rawEventCounts(raw.lines);
    t.same(Object.fromEntries(byEvent), Object.fromEntries(rawEvents), 'events by name match the text');
    // The workload's own threads show up under the workload's own pid.
    if (!existsSync(join(fixtures, `${name}.truth.json`))) return; // a capture someone added without truth
    const truth = truthOf(name);
    const tids = new Set<number>([truth.main_tid, ...(truth.threads ?? []).map((x: Rec) => x.tid)]);
    for (const k of ['sleeper_tid', 'victim_tid', 'hog_tid', 'io_tid', 'cpu_tid']) if (truth[k]) tids.add(truth[k]);
    for (const w of truth.workers ?? []) tids.add(w.tid);
    const defaultFormat = name.endsWith('.default');
    for (const tid of tids) {
      const mine = samples.filter((s) => s.tid === tid);
      // Event lines only: side-band lines (FORK, COMM) carry the parent's prefix.
      const rawMine = raw.lines.filter(
        (l) =>
          !l.includes('PERF_RECORD_') &&
          (defaultFormat ? new RegExp(` ${tid} \\[\\d{3}\\] `).test(l) : l.includes(` ${truth.pid}/${tid} `)),
      );
      t.ok(mine.length > 0, `thread ${tid} has events`);
      t.equal(mine.length, rawMine.length, `thread ${tid}: as many records as lines`);
      if (defaultFormat) t.ok(mine.every((s) => s.pid === undefined), `thread ${tid}: no pid in the default format`);
      else t.ok(mine.every((s) => s.pid === truth.pid), `thread ${tid}: pid ${truth.pid}`);
    }
  });
}

/** GIL holds per process from the probe records: take_gil return to the same thread's drop_gil. */
function holds(recs: Rec[]): Map<number, Array<{ tid: number; from: number; to: number }>> {
  const open = new Map<number, number>();
  const out = new Map<number, Array<{ tid: number; from: number; to: number }>>();
  for (const r of recs) {
    if (r.type !== 'sample' || !r.event.startsWith('gilfix:')) continue;
    if (r.event === 'gilfix:take_gil__return') open.set(r.tid, r.ts);
    else if (r.event === 'gilfix:drop_gil' && open.has(r.tid)) {
      const list = out.get(r.pid) ?? [];
      list.push({ tid: r.tid, from: open.get(r.tid)!, to: r.ts });
      out.set(r.pid, list);
      open.delete(r.tid);
    }
  }
  return out;
}

t.test('one GIL per process: holds never overlap within a process, and do across processes', async (t) => {
  for (const name of ['sleeper', 'two_cpu', 'gil_hog', 'numpy_release', 'two_procs', 'io_cpu', 'comm_names']) {
    const h = holds(parsedOwn.get(name)!.p.recs);
    let overlaps = 0;
    for (const list of h.values()) {
      const sorted = [...list].sort((a, b) => a.from - b.from);
      for (let i = 1; i < sorted.length; i++) if (sorted[i]!.from < sorted[i - 1]!.to) overlaps++;
    }
    t.ok(h.size > 0, `${name}: holds seen`);
    t.equal(overlaps, 0, `${name}: never two holders in one process`);
  }
  const truth = truthOf('two_procs');
  const h = holds(parsedOwn.get('two_procs')!.p.recs);
  const [a, b] = truth.child_pids as number[];
  t.ok(h.get(a!)?.length && h.get(b!)?.length, 'both children hold their GIL');
  const cross = h.get(a!)!.filter((x) => h.get(b!)!.some((y) => y.from < x.to && x.from < y.to));
  t.ok(cross.length > 0, `holds of the two processes overlap in time (${cross.length} of ${h.get(a!)!.length})`);
});

t.test('sleeper: asleep, not waiting for the GIL', async (t) => {
  const truth = truthOf('sleeper');
  const recs = parsedOwn.get('sleeper')!.p.recs.filter((r) => r.type === 'sample' && r.tid === truth.sleeper_tid);
  const during = recs.filter((r) => r.ts > truth.sleep_start_ns + 1e6 && r.ts < truth.sleep_end_ns - 1e6 && r.event.startsWith('gilfix:'));
  t.equal(during.length, 0, 'no GIL calls while it sleeps');
  const all = parsedOwn.get('sleeper')!.p.recs.filter((r) => r.event === 'sched:sched_switch');
  const out = all.find(
    (r) => r.fields?.prev_pid === truth.sleeper_tid && r.fields.prev_state === 'S' && r.ts >= truth.sleep_start_ns && r.ts < truth.sleep_start_ns + 5e6,
  );
  t.ok(out, 'switched out in S as the sleep began');
  // perf record -- CMD traces only while its tasks run: the switch-in from
  // idle and the timer's wakeup are not in the capture. So: nothing at all
  // about the sleeper between its switch-out and the end of its sleep.
  const tid = truth.sleeper_tid;
  const mentions = parsedOwn
    .get('sleeper')!
    .p.recs.filter((r) => r.tid === tid || r.fields?.next_pid === tid || r.fields?.pid === tid)
    // (--switch-events adds its own record of the same switch-out.)
    .filter((r) => !(r.type === 'perf_record' && r.name === 'SWITCH' && String(r.body).startsWith('OUT')))
    .filter((r) => r.ts > (out?.ts ?? Infinity) && r.ts < truth.sleep_end_ns - 2e6);
  t.equal(mentions.length, 0, 'and nothing about it until the sleep ended');
});

t.test('io_cpu: the I/O thread takes the GIL back after every syscall', async (t) => {
  const truth = truthOf('io_cpu');
  const recs = parsedOwn.get('io_cpu')!.p.recs;
  const takes = recs.filter((r) => r.event === 'gilfix:take_gil' && r.tid === truth.io_tid && r.ts >= truth.io_start_ns && r.ts <= truth.io_end_ns);
  t.ok(takes.length >= 2 * truth.fsyncs, `${takes.length} take_gil calls for ${truth.fsyncs} write+fsync pairs`);
});

t.test('gil_hog: the hog holds the GIL for the whole regex call while the victim waits', async (t) => {
  const { p } = parsedOwn.get('gil_hog') ?? { p: await perfParse(join(fixtures, 'gil_hog.perf.txt.gz')) };
  const truth = truthOf('gil_hog');
  const g = p.recs.filter((r) => r.type === 'sample' && r.event.startsWith('gilfix:'));
  // The victim's one long take_gil: entry before the call began, return after
  // its own loop noticed the gap ended (what the workload measured).
  const v = g.filter((r) => r.tid === truth.victim_tid);
  let longest = { wait: 0, from: 0, to: 0 };
  let entry: number | undefined;
  for (const r of v) {
    if (r.event === 'gilfix:take_gil') entry = r.ts;
    if (r.event === 'gilfix:take_gil__return' && entry !== undefined) {
      if (r.ts - entry > longest.wait) longest = { wait: r.ts - entry, from: entry, to: r.ts };
      entry = undefined;
    }
  }
  // The victim may still be finishing its own forced drop (drop_gil waits for
  // the taker to run) when the call starts, so its take_gil begins within a
  // few ms of hog_start_ns; it ends just before the victim's loop resumed.
  t.ok(longest.from >= truth.hog_start_ns - 1_000_000 && longest.from <= truth.hog_start_ns + 20_000_000, 'the victim starts waiting as the hog call begins');
  t.ok(longest.to >= truth.victim_gap_end_ns - 1_000_000 && longest.to <= truth.victim_gap_end_ns, 'and gets the GIL just before its loop resumed');
  t.ok(longest.wait >= 0.9 * truth.victim_longest_gap_ns, `waited ${(longest.wait / 1e6).toFixed(1)} ms, about the ${(truth.victim_longest_gap_ns / 1e6).toFixed(1)} ms the victim measured`);
  // The hog's hold (take_gil return to its next drop_gil) spans the call.
  const h = g.filter((r) => r.tid === truth.hog_tid);
  const took = h.filter((r) => r.event === 'gilfix:take_gil__return' && r.ts <= truth.hog_start_ns).at(-1);
  const dropped = h.find((r) => r.event === 'gilfix:drop_gil' && r.ts > truth.hog_start_ns);
  t.ok(took && dropped, 'the hog took the GIL before the call and dropped it after');
  if (took && dropped) {
    t.ok(dropped.ts <= longest.to && dropped.ts >= truth.victim_gap_end_ns - 2_000_000, 'the hog let go right when the victim got it');
    t.ok(dropped.ts - took.ts >= 0.9 * (truth.victim_gap_end_ns - truth.hog_start_ns), `held ${((dropped.ts - took.ts) / 1e6).toFixed(1)} ms`);
  }
  // Nobody else in the process ran take_gil__return during the hog call.
  const inside = g.filter((r) => r.event === 'gilfix:take_gil__return' && r.ts > truth.hog_start_ns && r.ts < longest.to);
  t.equal(inside.length, 0, 'no thread took the GIL during the hog call');
});

t.test('comm names come out exactly as the workload set them', async (t) => {
  for (const fixture of ['comm_names', 'comm_names-newline']) {
    const { p } = parsedOwn.get(fixture) ?? { p: await perfParse(join(fixtures, `${fixture}.perf.txt.gz`)) };
    const truth = truthOf(fixture);
    t.ok(truth.threads.length >= 13, `${fixture}: all names ran`);
    for (const th of truth.threads) {
      // The ground truth is the name list: what the kernel keeps is its first
      // 15 bytes, read as UTF-8 with a cut character as U+FFFD.
      const set = Buffer.from(th.set_hex, 'hex');
      const expected = set.subarray(0, 15).toString('utf8');
      t.equal(th.expected, expected, `truth agrees with the name list for ${JSON.stringify(expected)}`);
      if (set.length > 15 && set[15]! >= 0x80 && set[15]! < 0xc0) t.ok(expected.endsWith('\uFFFD'), 'a cut character ends in U+FFFD');
      const tid = th.tid;
      const rename = p.recs.find((r) => r.type === 'comm' && r.tid === tid && r.comm === expected);
      t.ok(rename, `PERF_RECORD_COMM for ${tid} says ${JSON.stringify(expected)}`);
      if (!rename) continue;
      // A switch to the thread named `new\nline` is cut in two by perf itself
      // (the rest of the payload lands on the next line): not a whole payload.
      const after = p.recs.filter(
        (r) => r.type === 'sample' && r.ts > rename.ts && !(r.event === 'sched:sched_switch' && r.fields?.next_pid === undefined),
      );
      const own = after.filter((r) => r.tid === tid);
      // `%16s` pads on the left, so in the column leading spaces cannot be
      // told from padding; perf-parse restores them from the thread's
      // PERF_RECORD_COMM, which keeps them.
      const column = expected;
      t.ok(own.length > 0 && own.every((r) => r.comm === column), `${own.length} events of ${tid} carry ${JSON.stringify(column)}`);
      const out = after.filter((r) => r.event === 'sched:sched_switch' && r.fields?.prev_pid === tid);
      t.ok(out.length > 0 && out.every((r) => r.fields.prev_comm === expected), `sched_switch prev_comm ${JSON.stringify(expected)} (${out.length})`);
      const into = after.filter((r) => r.event === 'sched:sched_switch' && r.fields?.next_pid === tid);
      t.ok(into.every((r) => r.fields.next_comm === expected), `sched_switch next_comm (${into.length})`);
      const woken = after.filter((r) => /sched_wak/.test(r.event) && r.fields?.pid === tid);
      t.ok(woken.every((r) => r.fields.comm === expected), `sched_waking/wakeup comm (${woken.length})`);
    }
  }
});

t.test('lost: PERF_RECORD_LOST records add up to what the text says', async (t) => {
  const { p, raw } = parsedOwn.get('lost') ?? (await checkCounts(t, 'lost', join(fixtures, 'lost.perf.txt.gz')));
  const textLost = raw.lines.map((l) => /PERF_RECORD_LOST lost (\d+)/.exec(l)).filter((m) => m !== null);
  t.ok(textLost.length > 0, 'the capture lost events');
  const lost = p.recs.filter((r) => r.type === 'lost');
  t.equal(lost.length, textLost.length, 'one lost record per PERF_RECORD_LOST line');
  t.equal(
    lost.reduce((n, r) => n + r.lost, 0),
    textLost.reduce((n, m) => n + Number(m![1]), 0),
    'the same number of lost events',
  );
  t.match(p.stderr, /lost \d+ events/, 'and says so on stderr');
});

t.test('two_cpu.default is the same recording as two_cpu, printed without --ns and pid', async (t) => {
  const ns = parsedOwn.get('two_cpu')!.p.recs.filter((r) => r.type === 'sample');
  const us = parsedOwn.get('two_cpu.default')!.p.recs.filter((r) => r.type === 'sample');
  t.equal(us.length, ns.length, 'same number of events');
  let same = 0;
  for (let i = 0; i < ns.length; i++) {
    // perf truncates to microseconds; a double of ns since boot may be 1-2 ns off.
    if (us[i]!.event === ns[i]!.event && us[i]!.tid === ns[i]!.tid && Math.abs(us[i]!.ts - Math.floor(ns[i]!.ts / 1000) * 1000) <= 4) same++;
  }
  t.equal(same, ns.length, 'event by event: same event, tid, and time to the microsecond');
});

t.test('two_cpu-dwarf: every switch carries its stack', async (t) => {
  const { p, raw } = parsedOwn.get('two_cpu-dwarf')!;
  const frames = raw.lines.filter((l) => FRAME_RE.test(l)).length;
  const samples = p.recs.filter((r) => r.type === 'sample');
  t.ok(frames > samples.length, 'the text has stacks');
  t.equal(samples.reduce((n, s) => n + (s.callchain?.length ?? 0), 0), frames, 'every frame line is in a callchain');
  t.ok(samples.every((s) => s.event === 'sched:sched_switch' && s.callchain?.length > 0), 'each switch has a callchain');
  t.ok(samples.every((s) => s.callchain[0].sym === '__schedule'), 'leaf first (__schedule)');
  const truth = truthOf('two_cpu-dwarf');
  const cpu = samples.filter((s) => truth.threads.some((th: Rec) => th.tid === s.tid));
  t.ok(cpu.some((s) => s.callchain.some((f: Rec) => f.sym === 'take_gil')), 'the CPU threads switch out inside take_gil');
});

t.test('two_cpu-stripped-libc: the libc fallback probes', async (t) => {
  const { p } = parsedOwn.get('two_cpu-stripped-libc')!;
  const entries = p.recs.filter((r) => r.event === 'gilfix:pcond_timedwait');
  const rets = p.recs.filter((r) => r.event === 'gilfix:pcond_timedwait__return');
  t.ok(entries.length > 10 && rets.length > 10, 'entry and return probes');
  t.ok(entries.every((r) => /^[0-9a-f]+$/.test(r.probe?.func) && r.probe.ret === undefined), 'entry: func address only');
  t.ok(rets.every((r) => r.probe?.func === entries[0]!.probe.func && /^[0-9a-f]+$/.test(r.probe.ret)), 'return: func <- return address');
  t.equal(entries[0]!.comm, 'python3.11', 'Debian python3.11');
});

// ------------------------------------------------------------ shared corpus
//
// ~100 captures, some of 47 MB: perf-parse runs ONCE as a command over all of
// them (no crash, exit 0, the totals), and each file is checked in-process
// through the same line splitter and parser the command uses, so the suite
// stays fast on 2 cores while every file still gets its own numbers.

function corpusFiles(): string[] {
  const list = (dir: string) =>
    existsSync(join(corpus, dir))
      ? readdirSync(join(corpus, dir))
          .filter((f) => f.endsWith('.gz'))
          .map((f) => (dir ? `${dir}/${f}` : f))
      : [];
  return [...list(''), ...list('variants'), ...list('variants/derived')].sort();
}

interface Tally {
  records: number;
  headers: number;
  samples: number;
  badTs: number;
  gilProbes: number;
  gilProbesWithFunc: number;
  samplesWithPid: number;
  malformed: number;
  /** Lines that do not validate against docs/events.schema.json. */
  schema: string[];
}

async function parseInProcess(file: string): Promise<Tally> {
  const tally: Tally = { records: 0, headers: 0, samples: 0, badTs: 0, gilProbes: 0, gilProbesWithFunc: 0, samplesWithPid: 0, malformed: 0, schema: [] };
  const buf = readFileSync(file);
  const { out, malformed } = await perfParseInProcess(file.endsWith('.gz') ? gunzipSync(buf) : buf);
  tally.malformed = malformed.length;
  tally.schema = schemaErrors(out);
  for (const l of out.split('\n')) {
    if (l === '') continue;
    const r = JSON.parse(l) as Rec;
    tally.records++;
    if (r.type === 'header') {
      tally.headers++;
      continue;
    }
    if (!Number.isSafeInteger(r.ts) || r.ts < 0) tally.badTs++;
    if (r.type !== 'sample') continue;
    tally.samples++;
    if (Number.isInteger(r.pid)) tally.samplesWithPid++;
    if (/^python:(take|drop)_gil/.test(r.event)) {
      tally.gilProbes++;
      if (typeof r.probe?.func === 'string') tally.gilProbesWithFunc++;
    }
  }
  return tally;
}

t.test('shared corpus', { skip: hasCorpus ? false : `no shared corpus at ${corpus}` }, async (t) => {
  const files = corpusFiles();
  t.ok(files.length > 50, `${files.length} captures`);
  // An input of which every line is a stray is no perf script text (-F trace alone): named, not counted, and the run exits 1.
  const expected = { events: 0, headers: 0, strays: 0, unreadable: [] as string[] };

  for (const f of files) {
    await t.test(f, async (t) => {
      const text = rawText(join(corpus, f));
      const raw = countRaw(text);
      const n = await parseInProcess(join(corpus, f));
      expected.events += raw.events;
      expected.headers += raw.headerLines > 0 ? 1 : 0;
      if (raw.lines.length > 0 && raw.strays === raw.lines.length) expected.unreadable.push(f);
      else expected.strays += raw.strays;
      t.equal(n.records - n.headers, raw.events, `one record per event line (${raw.events})`);
      t.equal(n.headers, raw.headerLines > 0 ? 1 : 0, 'one header record per # block');
      t.equal(n.badTs, 0, 'every ts is a non-negative integer');
      t.same(n.schema, [], 'every record valid against the schema');
      const why = strayReason(f);
      if (why === undefined) {
        t.equal(raw.strays, 0, 'the raw text has no stray lines');
        t.equal(n.malformed, 0, 'no malformed lines');
      } else {
        t.equal(n.malformed, raw.strays, `every stray line reported as malformed (${why})`);
      }
      if (/(^|\/)(ex1|ex3|many)-uprobes/.test(f)) {
        const lines = raw.lines.filter((l) => / python:(take|drop)_gil/.test(l)).length;
        t.ok(lines > 0, 'the text has GIL probes');
        t.equal(n.gilProbes, lines, `every GIL probe line is a probe record (${lines})`);
        t.equal(n.gilProbesWithFunc, lines, 'each with its probe address');
      }
      if (/F-plus-pid|pid-tid-cpu/.test(f)) t.ok(n.samples > 0 && n.samplesWithPid === n.samples, 'pid present');
    });
  }

  await t.test('perf-parse, the command, over the whole corpus in one run', async (t) => {
    const child = spawn(process.execPath, [bin('perf-parse'), ...files.map((f) => join(corpus, f))], { stdio: ['ignore', 'pipe', 'pipe'] });
    let newlines = 0;
    let headers = 0;
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) newlines++;
      // header records are rare and start a line; count them cheaply
      const s = b.toString('latin1');
      for (let i = s.indexOf('{"type":"header"'); i !== -1; i = s.indexOf('{"type":"header"', i + 1)) headers++;
    });
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const [code] = (await once(child, 'close')) as [number];
    t.equal(code, expected.unreadable.length > 0 ? 1 : 0, `exit ${expected.unreadable.length > 0 ? 1 : 0}`);
    for (const f of expected.unreadable) t.ok(stderr.includes(`${f}: none of its`) || (stderr.includes(`no line of `) && stderr.includes(f)), `${f}: named as unreadable`);
    t.notMatch(stderr, /\n\s+at |TypeError|RangeError/, 'no stack trace');
    t.equal(newlines - headers, expected.events, `${expected.events} event records`);
    t.equal(headers, expected.headers, 'header records');
    const m = /skipped (\d+) malformed line/.exec(stderr);
    t.equal(m ? Number(m[1]) : 0, expected.strays, 'malformed lines, all files together');
  });
});
