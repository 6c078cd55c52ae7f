// The streaming JSON scanner under merge-trace, and merge-trace's two passes,
// checked in-process against JSON.parse (the reference for what is valid JSON)
// with random documents cut into random chunks.
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { JsonScanner, JsonSyntaxError, numberValue, objectEntries } from '../../lib/json-stream.js';
import { consume, consumeFile, readFileBytes } from '../../lib/file-bytes.js';
import { BrokenInputError, DataError } from '../../lib/errors.js';
import { TraceScan, joinParts, type ScanOptions, type TraceSummary } from '../../filters/merge-trace/scan.js';
import { eventStartIn, planScan } from '../../filters/merge-trace/split.js';
import { planMerge, type FileTransform, type MergeOptions } from '../../filters/merge-trace/plan.js';
import { ChangedError, pieceRewrite, rewriteInPieces, writeMerged, type PiecePool } from '../../filters/merge-trace/write.js';
import { root } from '../helpers/run.js';

/**
 * Feeds `text` in pieces cut at `cuts`; true when it is one complete JSON
 * value. `interest` decides which path reads a container: at or below it the
 * state machine, deeper one tight pass (skipValue) when it is whole in a chunk.
 */
function accepts(text: Buffer, cuts: number[] = [], interest = 0): boolean {
  const sc = new JsonScanner({ start() {}, end() {}, key: () => false }, interest);
  try {
    let from = 0;
    for (const c of [...cuts.filter((x) => x > 0 && x < text.length)].sort((a, b) => a - b)) {
      sc.feed(text.subarray(from, c));
      from = c;
    }
    sc.feed(text.subarray(from));
    return sc.finish() && sc.topValues === 1;
  } catch (e) {
    if (e instanceof JsonSyntaxError) return false;
    throw e;
  }
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

// 0: containers read by the tight pass; 1: the top level by the states, the
// rest by the tight pass; 99: all by the states.
const interest = fc.constantFrom(0, 1, 99);
const doc = fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.constantFrom(undefined, 0, 1, '\t')).map(([v, indent]) => JSON.stringify(v, null, indent as number | string | undefined));

t.test('valid JSON is accepted however it is cut into chunks', async (t) => {
  fc.assert(
    fc.property(doc, fc.array(fc.nat(), { maxLength: 8 }), interest, (text, cuts, deep) => {
      const b = Buffer.from(text);
      return accepts(b, cuts.map((c) => c % (b.length + 1)), deep);
    }),
    { numRuns: 400 },
  );
  t.pass('400 random documents');
});

t.test('a prefix is accepted exactly when JSON.parse accepts it', async (t) => {
  fc.assert(
    fc.property(doc, fc.nat(), fc.nat(), interest, (text, at, cut, deep) => {
      const b = Buffer.from(text);
      const p = b.subarray(0, at % (b.length + 1));
      return accepts(p, [cut % (p.length + 1)], deep) === parses(p.toString('utf8'));
    }),
    { numRuns: 600 },
  );
  t.pass('600 random prefixes');
});

t.test('a mutated document is accepted exactly when JSON.parse accepts it', async (t) => {
  // N and I are left out: Python's NaN/Infinity, which the scanner takes and JSON.parse does not.
  const alphabet = fc.constantFrom(...'{}[]:,"\\ \n0123456789-+.eEtrufalsn\u0001x');
  fc.assert(
    fc.property(doc, fc.nat(), alphabet, fc.boolean(), fc.nat(), interest, (text, at, ch, insert, cut, deep) => {
      const k = at % (text.length + 1);
      const m = text.slice(0, k) + ch + text.slice(insert ? k : k + 1);
      const b = Buffer.from(m);
      return accepts(b, [cut % (b.length + 1)], deep) === parses(m);
    }),
    { numRuns: 1500 },
  );
  t.pass('1500 random mutations');
});

t.test('the tight pass and the states agree on every branch of the grammar', async (t) => {
  // Each case inside an array and an object, so that interest 0 and 1 give it to the tight pass.
  const cases = [
    '1', '-1', '0', '01', '1.', '.5', '-', '1e', '1e+', '1e+5', '1E-5', '-0.0e0', '1x',
    'true', 'tru', 'truex', 'false', 'null', 'nul', 'NaN', 'Infinity', '-Infinity', '-Inf', 'Inf',
    '""', '"a"', '"\\n"', '"\\u00e9"', '"\\u00g9"', '"\\u00"', '"\\x"', '"\u0001"', '"\u0001n"', '"\u00e9"', '"a',
    '[]', '[ ]', '[1,]', '[,1]', '[1 2]', '[1}', '{"a": 1]', '{}', '{ }', '{"a"}', '{"a" 1}', '{"a" 11}', '{]', '[}', '{"a": 1,}', '{1: 2}',
    '{"a":1,"b":[{"c":null}]}', '[[[]]]', '[[]', '[]]', ' [ 1 , 2 ] ', '{"a"\n:\n1}', '[\t1\r\n]',
  ];
  for (const c of cases) {
    for (const text of [`[${c}] `, `{"k": ${c}} `, `[[1], ${c}, {"k": [${c}]}] `]) {
      const b = Buffer.from(text);
      const want = accepts(b, [], 99);
      const python = /NaN|Infinity/.test(c) && !/-Inf(?!inity)|(?<![-\w])Inf(?!inity)/.test(c);
      t.equal(want, python || parses(text), `the states on ${JSON.stringify(text)}`);
      for (const deep of [0, 1]) t.equal(accepts(b, [], deep), want, `interest ${deep} on ${JSON.stringify(text)}`);
    }
  }
});

t.test('Python leniencies, and where the scanner says a document broke', async (t) => {
  t.ok(accepts(Buffer.from('[NaN, Infinity, -Infinity, 1]')), "Python's NaN and Infinity");
  t.notOk(accepts(Buffer.from('[1, 2, ]')), 'a trailing comma only when asked for');
  const sc = new JsonScanner({ start() {}, end() {}, key: () => false }, 0);
  sc.trailingComma = true;
  sc.feed(Buffer.from('[1, 2, ]'));
  t.ok(sc.finish(), 'a trailing comma in a top-level array with trailingComma');
  const bad = new JsonScanner({ start() {}, end() {}, key: () => false }, 0);
  t.throws(() => bad.feed(Buffer.from('{"a": 1,\n "b" 2}')), { message: "expected ':' after an object key, got '2'", pos: 14, line: 2 });
  // The tight pass counts the newlines of what it passes over, and of nothing it gives back.
  const ndjson = new JsonScanner({ start() {}, end() {}, key: () => false }, 0);
  t.throws(() => ndjson.feed(Buffer.from('{"a":\n[1,\n2]}\n{"b": "x\\ny"}\n{"c":\n1 2}')), {
    message: "expected ',' or '}', got '2'",
    line: 6,
  });
  // As deep as the states take, and one more, by either path.
  const nested = (levels: number): Buffer => Buffer.from('['.repeat(levels) + ']'.repeat(levels));
  for (const deep of [0, 99]) {
    t.ok(accepts(nested(10000), [], deep), `10,000 levels (interest ${deep})`);
    t.notOk(accepts(nested(10001), [], deep), `10,001 levels are refused (interest ${deep})`);
  }
});

t.test('objectEntries keeps each member as its source text', async (t) => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), fc.constantFrom(undefined, 2), (obj, indent) => {
      const raw = Buffer.from(JSON.stringify(obj, null, indent));
      const got = objectEntries(raw).map((e) => [e.key, JSON.parse(e.raw)]);
      return JSON.stringify(got) === JSON.stringify(Object.entries(JSON.parse(raw.toString())));
    }),
    { numRuns: 300 },
  );
  const big = objectEntries(Buffer.from('{"baseTimeNanoseconds": 1795317184373737423}'));
  t.equal(big[0]!.raw, '1795317184373737423', 'digits beyond 2^53 kept as text');
});

// Both passes through in-memory streams cut at random places.
const FX = join(root, 'test/fixtures/viztracer');
const cut = (b: Buffer, sizes: number[]): Buffer[] => {
  const parts: Buffer[] = [];
  let at = 0;
  for (let k = 0; at < b.length; k++) {
    const n = Math.max(1, sizes.length === 0 ? b.length : sizes[k % sizes.length]!);
    parts.push(b.subarray(at, at + n));
    at += n;
  }
  return parts;
};
const chunked = (b: Buffer, sizes: number[]): Readable => Readable.from(cut(b, sizes), { objectMode: false });
// Pass 2's inputs on readFileBytes' terms: every chunk in one buffer, spoilt once the next is asked for.
async function* reused(b: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  const parts = cut(b, sizes);
  const buf = Buffer.alloc(parts.reduce((m, p) => Math.max(m, p.length), 0));
  for (const part of parts) {
    part.copy(buf);
    yield buf.subarray(0, part.length);
    buf.fill('~');
  }
}

/** merge-trace run without options. */
const noOptions = (): MergeOptions => ({
  align: false,
  noNegative: false,
  shifts: new Map(),
  pids: { all: new Map(), byFile: new Map() },
  tids: { all: new Map(), byFile: new Map() },
  version: 'test',
});

async function mergeBytes(inputs: Array<[string, Buffer]>, opts: Partial<MergeOptions>, sizes: number[]): Promise<string> {
  const summaries = [];
  for (const [name, b] of inputs) summaries.push(await consume(chunked(b, sizes), new TraceScan(name, { keepTop: true, embedSources: false, exactTimes: true })));
  const full: MergeOptions = { ...noOptions(), ...opts };
  const plan = planMerge(summaries, full);
  const out: Buffer[] = [];
  const usable = inputs.filter((_x, i) => summaries[i]!.usable);
  // The sink is done with a buffer a moment later, as a file is: a writer
  // that fills a buffer again too soon shows as spoilt bytes.
  await writeMerged(
    plan,
    {
      write: async (b, written) => {
        const at = out.length;
        out.push(Buffer.alloc(0));
        setImmediate(() => {
          out[at] = Buffer.from(b);
          written();
        });
      },
    },
    async (i) => reused(usable[i]![1], sizes),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return Buffer.concat(out).toString('utf8');
}

t.test('pass 1 and pass 2 give the same bytes however the input is chunked', async (t) => {
  const events = readFileSync(join(FX, 'events.json'));
  const plain = readFileSync(join(FX, 'plain.json'));
  const evs = (JSON.parse(plain.toString()) as { traceEvents: object[] }).traceEvents;
  const ndjson = Buffer.from(evs.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const openArray = Buffer.from('[' + evs.map((e) => JSON.stringify(e)).join(',\n') + ',');
  const inputs: Array<[string, Buffer]> = [
    ['events.json', events],
    ['plain.json', plain],
    ['e.ndjson', ndjson],
    ['open.json', openArray],
  ];
  const variants: Array<[string, Partial<MergeOptions>]> = [
    ['copy', {}],
    ['--align --no-negative', { align: true, noNegative: true }],
    ['--shift, --map-pid, --map-tid', { shifts: new Map([['plain.json', 12.5]]), pids: { all: new Map([[4242, 1]]), byFile: new Map() }, tids: { all: new Map(), byFile: new Map([['e.ndjson', new Map([[4243, 9]])]]) } }],
  ];
  for (const [label, opts] of variants) {
    const whole = await mergeBytes(inputs, opts, []);
    const parsed = JSON.parse(whole) as { traceEvents: unknown[] };
    t.equal(parsed.traceEvents.length, (JSON.parse(events.toString()) as { traceEvents: unknown[] }).traceEvents.length + 3 * evs.length, `${label}: every event once`);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 5 }), async (sizes) => (await mergeBytes(inputs, opts, sizes)) === whole),
      { numRuns: 12 },
    );
    t.pass(`${label}: 12 random chunkings give the same bytes`);
  }
});

t.test('rewritten ts are exactly ts + shift, for any double', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }), { minLength: 1, maxLength: 20 }),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }),
      async (tss, shift) => {
        const ndjson = Buffer.from(tss.map((ts) => `{"ph": "i", "ts": ${JSON.stringify(ts)}, "pid": 1}`).join('\n'));
        const out = JSON.parse(await mergeBytes([['x.ndjson', ndjson]], { shifts: new Map([['x.ndjson', shift]]) }, [7])) as { traceEvents: Array<{ ts: number }> };
        return out.traceEvents.every((e, k) => Object.is(e.ts, tss[k]! + shift) || (e.ts === 0 && tss[k]! + shift === 0));
      },
    ),
    { numRuns: 200 },
  );
  t.pass('200 random sets of ts and shifts');
});

t.test('numberValue reads a number as Number() does, without a string', async (t) => {
  const decimal = fc
    .tuple(fc.boolean(), fc.stringMatching(/^(0|[1-9][0-9]{0,11})$/), fc.option(fc.stringMatching(/^[0-9]{1,9}$/), { nil: undefined }))
    .map(([neg, int, frac]) => `${neg ? '-' : ''}${int}${frac === undefined ? '' : '.' + frac}`);
  const anyDouble = fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d));
  fc.assert(
    fc.property(fc.oneof(decimal, anyDouble), (text) => {
      const b = Buffer.from(` ${text},`);
      const r = numberValue(b, 1, b.length - 1);
      return Object.is(r.v, Number(text)) && r.float === /[.eE]/.test(text);
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random numbers');
});

t.test('only an object event has fields: an array or a string among the events has none', async (t) => {
  const scan = (text: string, embedSources = false) => {
    const sc = new TraceScan('x.json', { keepTop: true, embedSources, exactTimes: true });
    sc.feed(Buffer.from(text));
    return sc.finish();
  };
  // An empty string after an event: its closing quote once passed for a key, and the walk never ended.
  const s1 = scan('{"traceEvents":[{"ts":1,"dur":2},""]}');
  t.same([s1.usable, s1.events, s1.minTs, s1.maxEnd], [true, 2, 1, 3], 'the string is an event without a time');
  const s2 = scan('[["ts",5,"dur",7]]');
  t.same([s2.events, s2.minTs, s2.maxEnd], [1, Infinity, -Infinity], 'an array event has no ts, whatever it holds');
  const s3 = scan('{"traceEvents":[["ph","X","name","f"],{"ph":"X","name":"g","ts":1}]}', true);
  t.same([...s3.xNames!], ['g'], 'nor a name for --embed-sources');
});

t.test('deep values cut by chunks cost a pass over each chunk, not one per level', async (t) => {
  // 40 events nested 9,000 deep: most are cut by a 64 KB chunk somewhere, and
  // trying the tight pass again at every level inside them took 10 s here.
  const deep = '['.repeat(9000) + '1,'.repeat(8000) + '1' + ']'.repeat(9000);
  const text = Buffer.from('{"traceEvents":[' + Array.from({ length: 40 }, () => `{"a":${deep}}`).join(',') + ']}');
  const sc = new TraceScan('deep.json', { keepTop: true, embedSources: false, exactTimes: false });
  const started = process.hrtime.bigint();
  for (let at = 0; at < text.length; at += 65536) sc.feed(text.subarray(at, at + 65536));
  const s = sc.finish();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(s.events, 40, 'every event');
  t.ok(ms < 1500, `in ${ms.toFixed(0)} ms (the retrying scan took 10,000)`);
});

t.test('an input gone before the second read is named with the reason, as a data error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'merge-trace-again-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'plain.json');
  writeFileSync(path, readFileSync(join(FX, 'plain.json')));
  const summary = await consumeFile(path, new TraceScan(path, { keepTop: true, embedSources: false, exactTimes: false }));
  t.ok(summary.usable, 'pass 1 read it');
  const plan = planMerge([summary], noOptions());
  rmSync(path);
  const sink = { write: async (_b: Uint8Array, written: () => void) => written() };
  const e = await writeMerged(plan, sink, async () => readFileBytes(path)).catch((x: unknown) => x);
  t.equal((e as Error).message, `${path}: no such file`, 'the file and the reason');
  t.ok(e instanceof DataError, 'a data error (exit 1), not an internal one');
});

t.test("pass 2 lets the event loop turn between chunks, also when reading and writing never wait, copied or rewritten", async (t) => {
  // Read synchronously (a file) and written as stdout on a file is (at once,
  // called back on the next tick): without a turn of the loop, V8 never gets
  // to free what it frees in tasks, and peak RSS grew with the input.
  const plain = readFileSync(join(FX, 'plain.json'));
  const summary = await consume(chunked(plain, []), new TraceScan('plain.json', { keepTop: true, embedSources: false, exactTimes: true }));
  const chunks = cut(plain, [64]);
  for (const [path, opts] of [['rewritten (--align)', { align: true }], ['copied', {}]] as const) {
    const plan = planMerge([summary], { ...noOptions(), ...opts });
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const out: Buffer[] = [];
    await writeMerged(plan, { write: async (b, written) => void (out.push(Buffer.from(b)), process.nextTick(written)) }, async () => chunks);
    ticking = false;
    t.ok(turns >= chunks.length / 2, `${path}: ${turns} turns of the loop for ${chunks.length} chunks`);
    t.equal((JSON.parse(Buffer.concat(out).toString('utf8')) as { traceEvents: unknown[] }).traceEvents.length, (JSON.parse(plain.toString()) as { traceEvents: unknown[] }).traceEvents.length, `${path}: every event of the input`);
  }
});

// A file scanned in parts on several threads (filters/merge-trace/split.ts)
// must sum up to what one scan of it says, wherever it is cut.
const plainScan = (opts: Partial<ScanOptions> = {}): ScanOptions => ({ keepTop: true, embedSources: false, exactTimes: false, ...opts });
/** A summary as comparable text: its Set as a list, its kept members' bytes as text. */
const summaryText = (s: TraceSummary): string =>
  JSON.stringify(s, (_k, v: unknown) => (v instanceof Set ? [...(v as Set<unknown>)] : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));

/**
 * A trace with members before and after traceEvents and an event over
 * several lines; tricky, its strings and nested arrays also hold what a cut
 * looks for (`}, {`).
 */
function trickyTrace(n: number, tricky = true): Buffer {
  const evs: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = tricky && i % 7 === 0 ? `odd}, {"ph": "X"} name ${i}` : `f${i % 5}`;
    const args = tricky && i % 11 === 0 ? `, "args": {"list": [{"a": ${i}}, {"b": "}, {"}]}` : '';
    const sep = i % 13 === 0 ? ',\n  ' : ', ';
    evs.push(`${i === 0 ? '' : sep}{"pid": ${1 + (i % 3)}, "tid": ${i % 4}, "ts": ${1000 + i * 1.5}, "ph": "X", "dur": ${i % 9}, "name": ${JSON.stringify(name)}${args}}`);
  }
  return Buffer.from(`{"otherData": {"x": "}, {"}, "traceEvents": [${evs.join('')}], "viztracer_metadata": {"version": "1.0"}, "file_info": {"files": {}, "functions": {}}}`);
}

/** A trace of the array form: trickyTrace's events in a top-level array, then `end`. */
function arrayTrace(object: Buffer, end: string): Buffer {
  return Buffer.from('  [' + object.toString().replace(/^.*"traceEvents": \[/, '').replace(/\], "viztracer_metadata".*$/, '') + end);
}

/**
 * The summary of `b` scanned in two parts cut at `at`, as planScan's jobs and
 * their join make it; whether the first part stopped at the cut; and whether
 * the whole had to be scanned again (the second part unusable).
 */
async function inTwoParts(name: string, b: Buffer, at: number, opts: ScanOptions, sizes: number[]): Promise<{ s: TraceSummary; stopped: boolean; again: boolean }> {
  // As split.ts tells the parts: the form its first byte says.
  const array = b.toString('latin1', 0, 64).trimStart().startsWith('[') ? { array: true } : {};
  const first = await consume(chunked(b, sizes), new TraceScan(name, { ...opts, part: { stopAt: at, ...array } }));
  if (!first.usable || first.stoppedAt === undefined) return { s: first, stopped: false, again: false };
  const second = await consume(chunked(b.subarray(at), sizes), new TraceScan(name, { ...opts, part: { from: at, ...array } }));
  if (second.usable) return { s: joinParts(first, second, opts.markEvery), stopped: true, again: false };
  return { s: await consume(chunked(b, sizes), new TraceScan(name, opts)), stopped: true, again: true };
}

t.test('a trace scanned in two parts, cut anywhere, sums up to one scan of it', async (t) => {
  const inputs: Array<[string, Buffer]> = [
    ['events.json', readFileSync(join(FX, 'events.json'))],
    ['threads.json', readFileSync(join(FX, 'threads.json'))],
    ['tricky.json', trickyTrace(400)],
    ['truncated.json', readFileSync(join(FX, 'truncated.json'))],
    ['array.json', arrayTrace(trickyTrace(50), ']')],
    // The `]` of the array form may be left out, or follow a comma (Perfetto's writers do both).
    ['array-open.json', arrayTrace(trickyTrace(50), '')],
    ['array-comma.json', arrayTrace(trickyTrace(50), ',\n]\n')],
    ['array-cut.json', arrayTrace(trickyTrace(50), '').subarray(0, -7)],
    // Object form's first bytes, with an array form's events: not a trace, found by the part before the cut.
    ['array-in-object.json', Buffer.from('{"a": ' + arrayTrace(trickyTrace(50), ']').toString() + '}')],
  ];
  for (const [name, b] of inputs) {
    // Marks every 256 bytes: many blocks, and cuts inside and at their first events.
    for (const opts of [plainScan(), plainScan({ exactTimes: true, embedSources: true, markEvery: 256 }), plainScan({ keepTop: false, markEvery: 97 })]) {
      const one = await consume(chunked(b, []), new TraceScan(name, opts));
      const whole = summaryText(one);
      let stopped = 0;
      // Any byte, and bytes a cut would pick (after `}, `), most of them right, some inside strings.
      const likely = fc.integer({ min: 0, max: b.length - 1 }).map((p) => {
        const i = eventStartIn(b.subarray(p));
        return i === -1 ? p : p + i;
      });
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.integer({ min: 1, max: b.length - 1 }), likely), fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 3 }), async (at, sizes) => {
          const parts = await inTwoParts(name, b, at, opts, sizes);
          if (parts.stopped) stopped++;
          // A cut the first part did not reach between two events (in a string, or in an event) is not taken: a
          // usable file is never scanned again.
          return summaryText(parts.s) === whole && !(one.usable && parts.again);
        }),
        { numRuns: 60 },
      );
      t.pass(`${name} ${JSON.stringify(opts)}: 60 cuts give the summary of one scan`);
      if (['events.json', 'tricky.json', 'array.json', 'array-open.json'].includes(name)) t.ok(stopped > 0, `${name}: the first part stopped at a cut ${stopped} times of 60 (the parts were joined, not only the fallback)`);
    }
  }
});

t.test('planScan: the biggest input in parts for 2 to 4 threads, the summaries those of one scan each', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'merge-trace-split-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Cuts that land in a string are the other test's: here every cut is right.
  const small = join(dir, 'small.json');
  writeFileSync(small, readFileSync(join(FX, 'threads.json')));
  for (const [form, text] of [['object', trickyTrace(20_000, false)], ['array', arrayTrace(trickyTrace(20_000, false), ']')]] as const) {
  const big = join(dir, `big-${form}.json`);
  writeFileSync(big, text);
  // Times sampled, not read from every event: the parts must pick the same events as one scan.
  const files = [small, big].map((path) => ({ path, size: readFileSync(path).length, args: plainScan() }));
  const alone = await Promise.all(files.map((f) => consumeFile(f.path, new TraceScan(f.path, f.args))));
  t.equal(alone[1]!.form, form, `the big input is of the ${form} form`);
  for (const threads of [1, 2, 3, 4]) {
    const scan = planScan(files, threads);
    const results: TraceSummary[] = [];
    for (const job of scan.jobs) results.push(await consumeFile(job.path, new TraceScan(job.path, job.args)));
    const cut = results.filter((r) => r.stoppedAt !== undefined).length;
    const rescans: string[] = [];
    const summaries = await scan.summaries(results, async (job) => {
      rescans.push(job.path);
      return consumeFile(job.path, new TraceScan(job.path, job.args));
    });
    t.equal(scan.jobs.length, threads === 1 ? 2 : 1 + threads, `${threads} thread(s): ${scan.jobs.length} jobs`);
    t.equal(cut, threads === 1 ? 0 : threads - 1, `${threads} thread(s): ${cut} part(s) stopped at their cut`);
    t.same(rescans, [], 'nothing scanned again');
    t.same(summaries.map(summaryText), alone.map(summaryText), `${form}, ${threads} thread(s): the summaries of one scan of each input`);
  }
  }
});

t.test("pass 2 in pieces (pass 1's marks, rewritten each on its own) writes the bytes of the rewrite in one", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'merge-trace-pieces-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ndjson = Buffer.from(
    (JSON.parse(trickyTrace(300).toString()) as { traceEvents: object[] }).traceEvents.map((e) => JSON.stringify(e)).join('\n') + '\n',
  );
  const inputs: Array<[string, Buffer]> = [
    ['tricky.json', trickyTrace(300)],
    ['array.json', arrayTrace(trickyTrace(300), ']')],
    ['array-cut.json', arrayTrace(trickyTrace(300), '').subarray(0, -7)],
    ['ndjson.json', ndjson],
  ];
  // Here, on this thread, as a worker would (pieceRewrite is what it runs).
  const here: PiecePool = { consume: async (job) => consumeFile(job.path, pieceRewrite(job.path, job.args)) };
  const sinkInto = (out: Buffer[]) => ({
    write: async (b: Uint8Array, written: () => void) => {
      out.push(Buffer.from(b));
      setImmediate(written);
    },
  });
  const transforms: FileTransform[] = [{ alignBy: 1000.5, alignFloat: true }, { shiftBy: -250, pid: new Map([[2, 9]]) }, { tid: new Map([[3, 30]]), liftBy: 0.25 }];
  for (const [name, b] of inputs) {
    const path = join(dir, name);
    writeFileSync(path, b);
    for (const markEvery of [64, 300, 4096]) {
      const f = await consumeFile(path, new TraceScan(path, { ...plainScan(), exactTimes: true, markEvery }));
      t.ok(f.usable && f.events > 0, `${name}: ${f.events} events`);
      for (const tr of transforms) {
        const one: Buffer[] = [];
        const plan = { files: [f], transforms: [tr], members: [{ rawKey: '"traceEvents"', raw: undefined }], warnings: [] };
        await writeMerged(plan, sinkInto(one), async () => readFileBytes(path));
        const pieces: Buffer[] = [];
        await rewriteInPieces(f, tr, path, here, sinkInto(pieces));
        const whole = Buffer.concat(one).toString();
        t.equal(`{"traceEvents": [${Buffer.concat(pieces).toString()}]}`, whole, `${name}, marks every ${markEvery} bytes (${f.marks.length / 2} pieces), ${JSON.stringify([...Object.entries(tr)])}`);
      }
    }
  }
  // An event bigger than a slot (2 MB): its piece comes back as a copy of its own.
  {
    const path = join(dir, 'huge.json');
    const evs = Array.from({ length: 3000 }, (_x, i) => `{"pid": 1, "tid": 1, "ts": ${i}.5, "ph": "X", "dur": 1, "name": "f"${i === 1500 ? `, "args": {"blob": "${'x'.repeat(3 << 20)}"}` : ''}}`);
    writeFileSync(path, `{"traceEvents": [${evs.join(', ')}]}`);
    const f = await consumeFile(path, new TraceScan(path, { ...plainScan(), exactTimes: true }));
    const tr: FileTransform = { alignBy: 0.5, alignFloat: true };
    const one: Buffer[] = [];
    await writeMerged({ files: [f], transforms: [tr], members: [{ rawKey: '"traceEvents"', raw: undefined }], warnings: [] }, sinkInto(one), async () => readFileBytes(path));
    const pieces: Buffer[] = [];
    await rewriteInPieces(f, tr, path, here, sinkInto(pieces));
    t.ok(f.marks.length >= 4, `${f.marks.length / 2} pieces`);
    t.ok(`{"traceEvents": [${Buffer.concat(pieces).toString()}]}` === Buffer.concat(one).toString(), 'an event of 3 MB: the bytes of the rewrite in one');
  }
  // A file that is not what pass 1 read: exit 1 (ChangedError), not a merge of other bytes.
  const path = join(dir, 'changed.json');
  const b = trickyTrace(300, false);
  writeFileSync(path, b);
  const f = await consumeFile(path, new TraceScan(path, { ...plainScan(), markEvery: 512 }));
  const changed = Buffer.from(b);
  changed[b.indexOf('{"pid"', 2000)] = 0x22; // an event's `{` now opens a string
  writeFileSync(path, changed);
  const changedError = { constructor: ChangedError, message: /changed\.json: changed while being merged/ };
  await t.rejects(rewriteInPieces(f, { shiftBy: 1 }, path, here, sinkInto([])), changedError, "a byte changed: the count of events is not pass 1's");
  // One event become two of the same length: every piece whole, one with an event more.
  const one = b.indexOf('{"pid"', 3000);
  const len = b.indexOf('}', one) + 1 - one;
  const two = Buffer.from(b);
  two.write('{}, ' + ' '.repeat(len - 6) + '{}', one, 'latin1');
  writeFileSync(path, two);
  await t.rejects(rewriteInPieces(f, { shiftBy: 1 }, path, here, sinkInto([])), changedError, 'an event more');
  writeFileSync(path, b.subarray(0, b.length - 5000));
  await t.rejects(rewriteInPieces(f, { shiftBy: 1 }, path, here, sinkInto([])), changedError, 'cut shorter');
  // Gone since pass 1: the file and why, a data error (exit 1), not a bug.
  rmSync(path);
  await t.rejects(rewriteInPieces(f, { shiftBy: 1 }, path, here, sinkInto([])), { constructor: BrokenInputError, message: `${path}: no such file` }, 'removed');
});
