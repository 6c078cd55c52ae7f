// The record contract exists twice: as types with their narrowing rules
// (filters/records.ts) and as the JSON Schema users validate against
// (docs/events.schema.json). These tests hold the two together.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';
import { gunzipSync } from 'node:zlib';
import { RULES, intText, narrow, narrowByFields, quickCheck, recordJson, type AnyRecord, type Kind } from '../../filters/records.js';
import { PerfParser } from '../../filters/perf-parse.js';
import { collectingContext, connect, endAll } from '../../lib/filter.js';
import { LineSplitter, PERF_TEXT } from '../../lib/lines.js';
import { pipeline } from '../helpers/in-process.js';

const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../../docs/events.schema.json', import.meta.url)), 'utf8'));
const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: false, strict: false });
const validate = ajv.compile(schema);
const defs = schema.$defs as Record<string, { required: string[]; properties: Record<string, any> }>;
const types = Object.keys(RULES) as Array<keyof typeof RULES>;

/** The kind a schema property asks for, in RULES' words. */
function kindOf(p: any): Kind | undefined {
  if (p.type === 'object' && p.required?.includes('tid') && p.required?.includes('comm')) return 'task';
  if (p.$ref === '#/$defs/frame' || p.type === 'object') return 'object';
  if (p.type === 'array') return p.items?.type === 'string' ? 'string[]' : 'array';
  if (p.const === true) return 'true';
  if (Array.isArray(p.enum)) return p.enum;
  if (p.type === 'integer') return p.minimum === 0 ? 'uint' : 'int';
  if (Array.isArray(p.type) && p.type.includes('integer') && p.type.includes('null')) return p.minimum === 0 ? 'uint?' : 'int?';
  if (p.type === 'string') return 'string';
  if (p.type === 'boolean') return 'bool';
  return undefined;
}

/** A value of a kind that the schema also accepts. */
function example(kind: Kind, key: string): unknown {
  if (typeof kind !== 'string') return kind[0];
  const values: Record<string, unknown> = { int: 7, uint: 7, 'int?': 7, 'uint?': 7, string: key === 'site' ? 'ff' : 'x', bool: false, object: {}, array: [], 'string[]': ['x'], task: { tid: 1, comm: 'x' }, true: true };
  return values[kind];
}

t.test('every type of the schema has rules, and every rule type is in the schema', async (t) => {
  const inSchema = Object.keys(defs).filter((k) => k !== 'frame');
  t.same([...types].sort(), inSchema.sort());
});

for (const type of types) {
  t.test(`${type}: required fields and kinds agree with the schema`, async (t) => {
    const def = defs[type]!;
    const rule = RULES[type];
    t.same(Object.keys(rule.required).sort(), def.required.filter((k) => k !== 'type').sort(), 'required fields');
    const props = Object.keys(def.properties).filter((k) => k !== 'type');
    t.same([...Object.keys(rule.required), ...Object.keys(rule.optional)].sort(), props.sort(), 'every field has a kind');
    for (const k of props) {
      const want = kindOf(def.properties[k]);
      const got = rule.required[k] ?? rule.optional[k];
      // The schema's enum of span states is one list; the pairing with family is a rule of its own.
      t.same(got, want, `${type}.${k}`);
    }
  });

  t.test(`${type}: a minimal record passes both; without any required field it fails both`, async (t) => {
    const rule = RULES[type];
    const rec: Record<string, unknown> = { type };
    for (const [k, kind] of Object.entries(rule.required)) rec[k] = example(kind, k);
    t.equal(typeof narrow(rec), 'object', 'narrow accepts it');
    t.ok(validate(rec), `the schema accepts it: ${ajv.errorsText(validate.errors)}`);
    for (const k of Object.keys(rule.required)) {
      const without = { ...rec };
      delete without[k];
      t.equal(typeof narrow(without), 'string', `narrow rejects it without ${k}`);
      t.notOk(validate(without), `the schema rejects it without ${k}`);
      const kind = rule.required[k]!;
      const value = kind === 'object' || kind === 'array' ? 'text' : { nested: true };
      const wrong = { ...rec, [k]: value };
      t.equal(typeof narrow(wrong), 'string', `narrow rejects ${JSON.stringify(value)} as ${k}`);
      t.notOk(validate(wrong), `the schema rejects ${JSON.stringify(value)} as ${k}`);
    }
  });
}

t.test('values a perf clock cannot produce are not records', async (t) => {
  const span = { type: 'span', pid: 1, tid: 1, family: 'gil', state: 'hold', ts: 100, dur: 5 };
  for (const [k, v] of [
    ['ts', -1],
    ['ts', 1.5],
    ['dur', 1e30],
    ['ts', 1e26],
    ['ts', Infinity],
  ] as const) {
    t.equal(typeof narrow({ ...span, [k]: v }), 'string', `${k} = ${v}`);
  }
  // A host up for 400 days is past 2^53 ns: still a time.
  t.equal(typeof narrow({ ...span, ts: 34560000123456788 }), 'object', 'ts after 400 days of uptime');
  t.equal(typeof narrow({ ...span, ts: 1.8e18 }), 'object', 'ts on CLOCK_REALTIME');
  t.match(narrow({ ...span, family: 'sched' }), /does not belong to family/, 'a GIL state in the sched family');
});

t.test('a record of a type no stage knows travels whole', async (t) => {
  const mine = { type: 'my_marker', n: 1, nested: { a: [1, 2] } };
  const r = narrow(mine);
  t.equal(typeof r, 'object');
  t.equal(recordJson(r as Exclude<typeof r, string>), JSON.stringify(mine));
  t.match(narrow({ n: 1 }), /not a record/);
  t.match(narrow([1]), /not a record/);
  t.match(narrow(null), /not a record/);
});

t.test("every record perf-parse and gil-state write for the fixtures narrows, and serialises back to the same line", async (t) => {
  const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
  for (const f of readdirSync(fx).filter((n) => n.endsWith('.perf.txt.gz'))) {
    const { ndjson } = await pipeline(fx + f);
    let bad = 0;
    let changed = 0;
    let n = 0;
    for (const line of ndjson.split('\n')) {
      if (line === '') continue;
      n++;
      const r = narrow(JSON.parse(line));
      if (typeof r === 'string') bad++;
      else if (recordJson(r) !== line) changed++;
    }
    t.equal(bad, 0, `${f}: all ${n} records narrow`);
    t.equal(changed, 0, `${f}: and come back byte for byte`);
  }
});

t.test('a span whose stack is not strings, or whose preempted_by is not a task, is malformed: named, not a crash later', async (t) => {
  const span = { type: 'span', pid: 1, tid: 2, family: 'gil', state: 'hold', ts: 10, dur: 5 };
  t.equal(typeof narrow({ ...span, stack: ['f (libx.so)'] }), 'object', 'a stack of frames');
  t.match(narrow({ ...span, stack: [1, 2] }), /stack.*an array of strings/);
  t.match(narrow({ ...span, sampled_stack: ['a', null] }), /sampled_stack.*an array of strings/);
  const sched = { ...span, family: 'sched', state: 'runnable' };
  t.equal(typeof narrow({ ...sched, preempted_by: { tid: 9, comm: 'make' } }), 'object');
  t.match(narrow({ ...sched, preempted_by: {} }), /preempted_by.*integer tid and a string comm/);
});

t.test('a span is written as JSON.stringify writes it, whatever it holds', async (t) => {
  const spans: object[] = [
    { type: 'span', pid: 12, tid: 13, family: 'gil', state: 'wait', ts: 1_000_000_123, dur: 45, via: 'take_gil' },
    { type: 'span', pid: null, tid: 7, family: 'gil', state: 'hold', ts: 0, dur: 0, partial: true, truncated: true, stack: ['py::f:/a "b".py', 'take_gil'], sampled_stack: ['x\u202e'], samples: 3 },
    { type: 'span', pid: 1, tid: 1, family: 'gil', state: 'wait', ts: 5, dur: 6, via: 'cond_timedwait', site: '7f00ab', unknown: true },
    { type: 'span', pid: 2, tid: 3, family: 'sched', state: 'runnable', ts: 9, dur: 1.5e9, letter: 'R+', gil: true, stack: [], preempted_by: { tid: 4, comm: 'evil\n"name\u0007' } },
  ];
  for (const s of spans) t.equal(recordJson(s as never), JSON.stringify(s));
});

/** The same fields with the same values, in any order (a sample is written in one order, whatever order it was made in). */
function sameRecord(a: Record<string, unknown>, b: object): boolean {
  const want = JSON.parse(JSON.stringify(b)) as Record<string, unknown>;
  const keys = Object.keys(want);
  return keys.length === Object.keys(a).length && keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(want[k]));
}

t.test("perf-parse's records are written with what they hold: samples, perf records, shared payloads, times past 2^31", async (t) => {
  const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
  const texts = [
    ...readdirSync(fx).filter((n) => n.endsWith('.perf.txt.gz')).map((n) => fx + n),
    ...readdirSync(fx + 'perfdata').filter((n) => n.endsWith('.perf.txt.gz')).map((n) => fx + 'perfdata/' + n),
  ];
  const kinds = new Map<string, number>();
  for (const f of texts) {
    const ctx = collectingContext(f);
    const recs: AnyRecord[] = [];
    const head = connect((emit) => new LineSplitter(emit, ctx, PERF_TEXT), new PerfParser((r) => recs.push(r), ctx));
    head.write(gunzipSync(readFileSync(f)));
    head.endInput?.();
    endAll(head);
    let changed = 0;
    for (const r of recs) {
      kinds.set(r.type, (kinds.get(r.type) ?? 0) + 1);
      // Twice: the second time a shared payload's text is the one kept, and must be the same bytes.
      const j = recordJson(r);
      if (!sameRecord(JSON.parse(j), r) || recordJson(r) !== j) changed++;
    }
    t.equal(changed, 0, `${f.slice(fx.length)}: ${recs.length} records`);
  }
  t.ok((kinds.get('sample') ?? 0) > 10_000 && (kinds.get('perf_record') ?? 0) > 1_000, `samples and perf records among them (${JSON.stringify(Object.fromEntries(kinds))})`);
  // A perf record with keys of its own, or in another order, or with one undefined.
  for (const r of [
    { type: 'perf_record', ts: 5, name: 'SWITCH', body: 'IN' },
    { type: 'perf_record', ts: 1_795_314_241_455_534_028, cpu: 1, name: 'X"\n', body: 'a\u0007', tid: 2, pid: 3, extra: [1] },
    { type: 'perf_record', ts: 7, cpu: undefined, name: 'SWITCH', body: 'OUT', pid: 1 },
  ]) {
    const j = recordJson(r as never);
    t.same(JSON.parse(j), JSON.parse(JSON.stringify(r)), j);
    t.ok(!('extra' in r) || j === JSON.stringify(r), 'keys it does not know: as JSON.stringify writes them');
  }
});

t.test('intText writes an integer as String does, past 2^31 and at every billion', async (t) => {
  const exact = (v: number) => (Number.isSafeInteger(v) ? BigInt(v).toString() : String(v));
  const values = [0, 1, 2 ** 31, 999_999_999, 1e9, 1e9 + 1, 1_999_999_999_999_999, 2e15 - 1, 2e15, Number.MAX_SAFE_INTEGER, 2 ** 53, 2 ** 53 + 2, 1.8e18, 2 ** 63, 1.5, -5, -1e12, NaN];
  for (let k = 1; k < 9e6; k += 104_729) values.push(k * 1e9 - 1, k * 1e9, k * 1e9 + 1);
  let seed = 7;
  for (let i = 0; i < 20_000; i++) values.push(((seed = (seed * 48271) % 2147483647), seed) * 4_194_304 + (i % 4_194_304));
  let bad = 0;
  for (const v of values) if (intText(v) !== exact(v) || intText(v) !== String(v)) bad++;
  t.equal(bad, 0, `${values.length} values`);
});

t.test("narrow's quick test agrees with the field-by-field reading on every record of the fixtures, and on each broken one field at a time", async (t) => {
  // Each field of each record in turn made each wrong value: narrow must give
  // the same verdict, and the same reason, as narrowByFields reading the rule.
  const fx = fileURLToPath(new URL('../fixtures/', import.meta.url));
  // With the edges of a time: 2^63 ns is the largest a perf clock gives (MAX_TIME), 2^64 past it.
  const wrong: unknown[] = [null, -1, 1.5, 2 ** 63, -(2 ** 63), 2 ** 64, 'x', '', true, false, {}, [], ['x'], [1], { tid: 1, comm: 'c' }, { tid: 'a' }, 'hold', 'wait', 'running', 'gil', 'sched', 'take_gil', 'recorded'];
  let records = 0;
  let broken = 0;
  let disagree = 0;
  const seen = new Set<string>();
  for (const f of ['two_cpu.perf.txt.gz', 'sleeper.perf.txt.gz', 'lost.perf.txt.gz', 'two_cpu-dwarf.perf.txt.gz']) {
    const { ndjson } = await pipeline(fx + f);
    for (const line of ndjson.split('\n')) {
      if (line === '') continue;
      const rec = JSON.parse(line) as Record<string, unknown>;
      const type = rec.type as keyof typeof RULES;
      // One record of each shape is enough: the same shapes repeat thousands of times.
      const shape = `${type}:${Object.keys(rec).join(',')}`;
      if (seen.has(shape)) continue;
      seen.add(shape);
      records++;
      if (narrow(rec) !== narrowByFields(rec, type)) disagree++;
      const fields = [...Object.keys(RULES[type].required), ...Object.keys(RULES[type].optional), 'type'];
      for (const k of fields) {
        for (const v of [...wrong, undefined]) {
          const r: Record<string, unknown> = { ...rec };
          if (v === undefined) delete r[k];
          else r[k] = v;
          const got = narrow(r);
          const known = typeof r.type === 'string' && Object.hasOwn(RULES, r.type);
          const slow = known ? narrowByFields(r, r.type as keyof typeof RULES) : got;
          if (typeof slow === 'string') broken++;
          // The same verdict and reason; and the quick test passes exactly what the fields pass (a stricter one would cost a second reading, a laxer one would let a broken record through).
          const quickSays = known ? quickCheck(r.type as keyof typeof RULES)(r) : typeof got !== 'string';
          if (typeof got !== typeof slow || (typeof slow === 'string' && got !== slow) || quickSays !== (typeof slow !== 'string')) {
            disagree++;
            if (disagree < 5) t.fail(`${shape}: ${k}=${JSON.stringify(v)}: narrow says ${JSON.stringify(got)} (quick test ${quickSays}), the fields say ${JSON.stringify(slow)}`);
          }
        }
      }
    }
  }
  t.ok(records >= 20, `${records} shapes of record read`);
  t.ok(broken > 1000, `${broken} broken records made`);
  t.equal(disagree, 0, 'no verdict differs');
});
