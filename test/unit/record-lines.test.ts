// RecordLines reads a sample, perf_record or span line as a copy of the
// first line with the same text around its times. What it must give is what
// JSON.parse and narrow give for each line (NdjsonDecoder, the plain reader):
// the same records and the same malformed lines, on real records and on lines
// made to fool the copy.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectingContext, connect, endAll } from '../../lib/filter.js';
import { JSON_LINES, LineSplitter } from '../../lib/lines.js';
import { NdjsonDecoder } from '../../lib/ndjson.js';
import { RecordLines } from '../../filters/record-lines.js';
import { narrow, type AnyRecord } from '../../filters/records.js';
import { perfParse, pipeline } from '../helpers/in-process.js';

const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));

function both(lines: readonly string[]): { plain: { recs: AnyRecord[]; problems: string[] }; cached: { recs: AnyRecord[]; problems: string[] } } {
  const run = (make: (emit: (r: AnyRecord) => void, ctx: ReturnType<typeof collectingContext>) => { write(l: string): void }) => {
    const ctx = collectingContext('x');
    const recs: AnyRecord[] = [];
    const d = make((r) => recs.push(r), ctx);
    for (const [i, l] of lines.entries()) {
      ctx.where.line = i + 1;
      d.write(l);
    }
    return { recs, problems: ctx.problems };
  };
  return {
    plain: run((emit, ctx) => new NdjsonDecoder(emit, ctx, narrow)),
    cached: run((emit, ctx) => new RecordLines(emit, ctx)),
  };
}

function same(t: Tap.Test, lines: readonly string[], what: string): void {
  const { plain, cached } = both(lines);
  t.equal(cached.recs.length, plain.recs.length, `${what}: as many records`);
  // Field order too: a record passed on is written again in its own order.
  t.equal(JSON.stringify(cached.recs), JSON.stringify(plain.recs), `${what}: the same records, field for field`);
  t.same(cached.problems, plain.problems, `${what}: the same malformed lines`);
}

t.test("real captures' perf-parse and gil-state records: those JSON.parse and narrow give", async (t) => {
  // Probes, callchains, hostile names, lost events, two processes in perf's default format, the libc fallback.
  const names = ['two_cpu', 'two_cpu-dwarf', 'comm_names-hostile', 'lost', 'two_procs.default', 'two_cpu-stripped-libc', 'sleeper'].map((n) => n + '.perf.txt.gz');
  let hits = 0;
  let timed = 0;
  for (const n of names) {
    const parsed = (await perfParse(gunzipSync(readFileSync(fx + n)))).out.split('\n');
    const states = (await pipeline(fx + n)).ndjson.split('\n');
    same(t, parsed, `${n}: perf-parse`);
    same(t, states, `${n}: gil-state`);
    const r = new RecordLines(() => {}, collectingContext('x'));
    for (const l of parsed) r.write(l);
    hits += (r as unknown as { hits: number }).hits;
    timed += parsed.filter((l) => /^\{"type":"(sample|perf_record)","ts":/.test(l) && l.length <= 400).length;
  }
  t.ok(hits > timed / 2, `most sample lines are copies (${hits} of ${timed}): the path under test is taken`);
});

t.test('lines made to fool the copy read as JSON.parse reads them', async (t) => {
  const s = (ts: string, rest = ',"event":"x"}') => `{"type":"sample","ts":${ts}${rest}`;
  const cases: Array<[string, string[]]> = [
    ['a second ts key after the first', [s('5', ',"event":"x","ts":7}'), s('6', ',"event":"x","ts":7}'), s('7', ',"event":"x","ts":7}'), s('8', ',"event":"x","ts":7}')]],
    ['an escaped second ts key', [s('5', ',"event":"x","t\\u0073":9}'), s('6', ',"event":"x","t\\u0073":9}')]],
    ['a second ts key equal to the first', [s('7', ',"event":"x","ts":7}'), s('8', ',"event":"x","ts":7}')]],
    ['leading zeros', [s('5'), s('05'), s('0'), s('00'), s('0')]],
    ['fractions and exponents', [s('5'), s('5.5'), s('0', 'e3,"event":"x"}'), s('5', 'e3,"event":"x"}'), s('1', '.0,"event":"x"}'), s('2', '.0,"event":"x"}')]],
    ['signs and no digits', [s('5'), s('-5'), s(''), s('+5'), s('"5"')]],
    ['16 to 20 digits, past 2^53 and 2^63', [s('9007199254740993'), s('9007199254740995'), s('1795314241455534028'), s('9223372036854775807'), s('9223372036854775808'), s('9223372036854777856'), s('19223372036854775808'), s('1795314241455534029')]],
    ['a rest that breaks the line', [s('5'), s('6', ',"event":"x"'), s('7', ',"event":"x"}}'), s('8', ',"event":7}'), s('9', '}')]],
    ['perf records', ['{"type":"perf_record","ts":1,"name":"SWITCH","body":"IN","tid":1,"pid":1}', '{"type":"perf_record","ts":2,"name":"SWITCH","body":"IN","tid":1,"pid":1}', '{"type":"perf_record","ts":3,"name":"SWITCH","body":7,"tid":1,"pid":1}']],
    [
      'spans with and without dur after ts, dur before ts, a ts in a frame',
      [
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":10,"dur":5}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":11,"dur":6}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","dur":6,"ts":12}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","dur":7,"ts":13}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":14,"dur":5,"stack":["\\"ts\\":1,"]}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":15,"dur":5,"stack":["\\"ts\\":1,"]}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":16,"dur":5,"dur":9}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":17,"dur":6,"dur":9}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":18,"dur":-1}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"running","ts":19,"dur":1}',
        '{"type":"span",  "ts":20,"dur":1,"pid":1,"tid":2,"family":"gil","state":"hold"}',
        '{"type":"span","pid":1,"tid":2,"family":"gil","state":"hold","ts":21,"dur":1} ',
      ],
    ],
    ['types that begin like these', ['{"type":"spam","pid":1,"ts":5,"dur":1}', '{"type":"spam","pid":1,"ts":6,"dur":1}', '{"type":"samplex","ts":5}', '{"type":"samplex","ts":6}', '{"type":"perf","ts":5}', '{"type":"perf","ts":6}', '{"type":"sa","ts":5}']],
    ['a span and a sample with the same text after ts', ['{"type":"span",  "ts":5,"event":"x"}', '{"type":"sample","ts":5,"event":"x"}', '{"type":"span",  "ts":6,"event":"x"}', '{"type":"sample","ts":6,"event":"x"}']],
  ];
  for (const [what, lines] of cases) same(t, [...lines, ...lines.map((l) => l.replace(/"ts":(\d)/, '"ts":4$1'))], what);
});

t.test('random edits of real lines, over and over: JSON.parse and narrow say the same', async (t) => {
  const real = (await pipeline(fx + 'two_cpu.perf.txt.gz')).ndjson.split('\n').slice(0, 300);
  const parsed = (await perfParse(gunzipSync(readFileSync(fx + 'two_cpu.perf.txt.gz')))).out.split('\n').slice(0, 300);
  const pool = [...real, ...parsed].filter(Boolean);
  const pieces = ['0', '00', '-', '.5', 'e2', '"ts":', ',"ts":3', ',"dur":4', '}', '{', '"', '\\u0073', ' ', '9007199254740993', 'null'];
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    let l = pool[rand(pool.length)]!;
    // Each edit kept for many lines, so that an edited text is seen again and copied.
    if (rand(3) === 0) {
      const at = rand(l.length);
      l = rand(2) === 0 ? l.slice(0, at) + pieces[rand(pieces.length)] + l.slice(at) : l.slice(0, at) + l.slice(at + 1 + rand(3));
      pool.push(l);
    }
    lines.push(l.replace(/"ts":\d+/, `"ts":${1000 + i}`));
  }
  same(t, lines, '20,000 lines');
});

t.test('copies share their objects frozen, and are records of their own', async (t) => {
  const ctx = collectingContext('x');
  const recs: Array<Record<string, any>> = [];
  const r = new RecordLines((x) => recs.push(x as Record<string, any>), ctx);
  r.write('{"type":"sample","ts":1,"event":"e","probe":{"func":"ff"}}');
  r.write('{"type":"sample","ts":2,"event":"e","probe":{"func":"ff"}}');
  t.equal(recs.length, 2);
  t.equal(recs[1]!.ts, 2);
  t.not(recs[0], recs[1], 'two objects');
  t.ok(Object.isFrozen(recs[1]!.probe), 'the shared payload is frozen');
  t.throws(() => {
    recs[1]!.probe.func = 'x';
  }, TypeError);
  recs[1]!.event = 'changed';
  r.write('{"type":"sample","ts":3,"event":"e","probe":{"func":"ff"}}');
  t.equal(recs[2]!.event, 'e', 'a change to one record is not in the next');
});

t.test('texts that never repeat: what is kept stays bounded, and every line is still read', async (t) => {
  const recs: AnyRecord[] = [];
  const r = new RecordLines((x) => recs.push(x), collectingContext('x'));
  const n = 50_000;
  // Samples, and spans of many threads: texts before the times and after them that never repeat.
  for (let i = 0; i < n; i++) r.write(i % 2 ? `{"type":"sample","ts":${i},"event":"e${i}"}` : `{"type":"span","pid":1,"tid":${i},"family":"gil","state":"hold","ts":${i},"dur":1,"site":"s${i}"}`);
  t.equal(recs.length, n);
  const kept = (r as unknown as { kept: Array<{ count: number }> }).kept.map((m) => m.count);
  t.ok(kept.every((n) => n <= 4096), `at most 4096 texts kept of each kind (${kept.join(', ')})`);
  t.equal((recs[n - 1] as { event: string }).event, `e${n - 1}`);
  t.equal((recs[n - 2] as { site: string }).site, `s${n - 2}`);
  t.ok((r as unknown as { off: boolean }).off, 'the copying turned itself off');
  // New texts between repeats of one: the copying stays on, and what is kept is bounded all the same.
  const again: AnyRecord[] = [];
  const on = new RecordLines((x) => again.push(x), collectingContext('x'));
  for (let i = 0; i < n; i++) {
    on.write(`{"type":"sample","ts":${i},"event":"e${i}"}`);
    on.write(`{"type":"sample","ts":${i},"event":"same"}`);
    on.write(`{"type":"sample","ts":${i + 1},"event":"same"}`);
  }
  t.equal(again.length, 3 * n);
  t.notOk((on as unknown as { off: boolean }).off, 'still on');
  const count = (on as unknown as { kept: Array<{ count: number }> }).kept[0]!.count;
  t.ok(count <= 4096 && count > 0, `at most 4096 sample texts kept (${count})`);
  t.equal((again[3 * n - 3] as { event: string }).event, `e${n - 1}`);
  t.equal((again[3 * n - 1] as { ts: number }).ts, n);
});

t.test('a kept text holds no part of the chunk its line came in', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const ctx = collectingContext('x');
  let n = 0;
  const chain = connect((emit) => new LineSplitter(emit, ctx, JSON_LINES), new RecordLines(() => n++, ctx));
  // 2,000 chunks of 63 KB, each with one text not seen before: kept as slices, they held 128 MB.
  const filler = `{"type":"sample","ts":1,"event":"same","payload":"${'x'.repeat(200)}"}\n`.repeat(250);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 2000; i++) chain.write(Buffer.from(`{"type":"sample","ts":${i},"event":"new ${i}"}\n${filler}`));
  chain.endInput?.();
  endAll(chain);
  gc();
  const grew = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  t.equal(n, 2000 * 251, 'every line read');
  t.ok(grew < 20, `the heap grew by ${grew.toFixed(1)} MB`);
});
