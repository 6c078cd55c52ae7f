// Robustness of perf-parse against mutated and random lines (fast-check):
// it never throws, every record it writes validates against the schema, and
// every line is accounted for: read as a record, or skipped and counted.
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { perfParse } from '../helpers/in-process.js';
import { schemaErrors, parseNdjson } from '../helpers/schema.js';
import { corpus, hasCorpus } from '../helpers/run.js';
import { isDeepStrictEqual } from 'node:util';
import { PerfParser } from '../../filters/perf-parse.js';
import { parsePayload } from '../../lib/perf-payload.js';
import { collectingContext } from '../../lib/filter.js';
import { utf8 } from '../../lib/perf-grammar.js';

// Real single-line events: samples of each shape in the corpus.
const seeds = hasCorpus
  ? [
      'ex1-uprobes.ns.perf.txt.gz',
      'ex0-sched.F-plus-pid.perf.txt.gz',
      'ex0-sched.tep-plugins.perf.txt.gz',
      'ex0-sched.show-task-events.perf.txt.gz',
      'cpuclock.default.perf.txt.gz',
      'probe-args.ns.perf.txt.gz',
      'pagefaults-d.F-plus-addr-phys.perf.txt.gz',
      'ex1-uprobes.F-plus-ip-sym-symoff-dso.perf.txt.gz',
    ].flatMap((f) =>
      gunzipSync(readFileSync(corpus + 'variants/' + f))
        .toString('latin1')
        .split('\n')
        .filter((l) => l !== '')
        .slice(0, 40),
    )
  : ['      python3.11  2578 [001]   154.053896361:                   python:take_gil: (7f885c64f7b0)'];

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete'), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert'), at: fc.nat(), text: fc.string({ maxLength: 6 }) }),
  fc.record({ kind: fc.constant('bytes'), at: fc.nat(), text: fc.uint8Array({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant('cut'), at: fc.nat() }),
);

function mutate(line: string, ms: Array<{ kind: string; at: number; len?: number; text?: string | Uint8Array }>): string {
  let s = line;
  for (const m of ms) {
    const at = s.length === 0 ? 0 : m.at % (s.length + 1);
    if (m.kind === 'delete') s = s.slice(0, at) + s.slice(at + (m.len ?? 1));
    else if (m.kind === 'insert') s = s.slice(0, at) + (m.text as string) + s.slice(at);
    else if (m.kind === 'bytes') s = s.slice(0, at) + Buffer.from(m.text as Uint8Array).toString('latin1') + s.slice(at);
    else s = s.slice(0, at);
  }
  // One physical line per case: a newline would make it two.
  return s.replace(/[\n\r]/g, ' ');
}

t.test('mutated real lines: no throw, valid records, every line accounted for', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { maxLength: 3 })), { minLength: 1, maxLength: 20 }),
      async (cases) => {
        // Blank lines between events: each case stands alone (no callchain context).
        const lines = cases.map(([l, ms]) => mutate(l, ms));
        // `#` lines are header comments that several lines make one record of.
        fc.pre(lines.every((l) => !l.startsWith('#')));
        const input = lines.map((l) => l + '\n\n').join('');
        const r = await perfParse(Buffer.from(input, 'latin1'));
        const errors = schemaErrors(r.out);
        if (errors.length > 0) throw new Error(errors.join('\n'));
        const recs = parseNdjson(r.out);
        // Blank lines and FINISHED_ROUND markers carry nothing; every other line
        // is either one record or one counted skip, never both, never neither.
        const silent = lines.filter((l) => l.trim() === '' || l === 'PERF_RECORD_FINISHED_ROUND').length;
        if (recs.length + r.malformed.length + silent !== lines.length) {
          throw new Error(`lines ${lines.length}: records ${recs.length} + skipped ${r.malformed.length} + silent ${silent}`);
        }
      },
    ),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('random bytes: no throw, valid records', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
      const r = await perfParse(Buffer.from(bytes));
      const errors = schemaErrors(r.out);
      if (errors.length > 0) throw new Error(errors.join('\n'));
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

// The hand-written readers of the two commonest payloads give what the
// patterns they stand in for give (the patterns are written out here as they
// were): a PERF_RECORD_ line's name and body, and a uprobe's `(addr <- ret)`.
t.test('side-band records and probe payloads: the same fields as the patterns', async (t) => {
  const chars = fc.constantFrom(...'SWITCH_CPUWDEOINAX09 :\t\u00a0\u000b-/()<>abcf7'.split(''));
  const word = fc.oneof(fc.constantFrom('SWITCH', 'SWITCH_CPU_WIDE', 'MMAP2', 'KSYMBOL', 'S', ''), fc.string({ unit: chars, maxLength: 16 }));
  const tail = fc.string({ unit: chars, maxLength: 30 });
  let records = 0;
  fc.assert(
    fc.property(word, tail, (name, rest) => {
      const body = name + rest;
      if (/^(COMM|FORK|EXIT|LOST)/.test(body)) return true;
      const out: unknown[] = [];
      const p = new PerfParser((r) => out.push(r), collectingContext('x'));
      p.write(`          python  2002/2003  [001] 67166.124095965: PERF_RECORD_${body}`);
      p.end();
      const want = /^[A-Z0-9_]+/.exec(body)?.[0] ?? '';
      records++;
      return isDeepStrictEqual(out, [{ type: 'perf_record', ts: 67166124095965, cpu: 1, name: want, body: utf8(body.slice(want.length).replace(/^:?\s*/, '').trimEnd()), tid: 2003, pid: 2002 }]);
    }),
    { numRuns: 3000 },
  );
  t.ok(records > 2000, `${records} PERF_RECORD_ lines read as the pattern reads them`);
  const hex = fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 1, maxLength: 14 }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789abcdefA g'.split('')), maxLength: 14 }) },
  );
  const probe = fc
    .tuple(fc.constantFrom('(', '(', '(', '', '['), hex, fc.constantFrom('', ' <- ', ' <- ', ' <-', ' < '), hex, fc.constantFrom(')', ')', ')', '', ') ', ')x', '))'))
    .map(([open, a, arrow, b, close]) => `${open}${a}${arrow}${b}${close}`);
  const PROBE_RE = /^\(([0-9a-f]+)(?: <- ([0-9a-f]+))?\)/;
  let plain = 0;
  fc.assert(
    fc.property(probe, (text) => {
      const got = parsePayload('gilrec:take_gil', text);
      const m = PROBE_RE.exec(text);
      if (!m) return !('probe' in got);
      if (text.slice(m[0].length).trimStart() !== '') return true;
      plain++;
      return isDeepStrictEqual(got, { probe: m[2] === undefined ? { func: m[1] } : { func: m[1], ret: m[2] } });
    }),
    { numRuns: 5000 },
  );
  t.ok(plain > 500, `${plain} plain probe payloads read as the pattern reads them`);
});

t.test("lines that end alike share what was read from their end, which nobody can change", async (t) => {
  const out: Array<Record<string, unknown>> = [];
  const p = new PerfParser((r) => out.push(r as Record<string, unknown>), collectingContext('x'));
  const sw = 'sched:sched_switch: prev_comm=python prev_pid=2003 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120';
  p.write(`          python  2002/2003  [001] 67166.124095965: ${sw}`);
  p.write(`          python  2002/2004  [001] 67166.124095970: ${sw}`);
  p.end();
  t.equal(out.length, 2);
  t.same(out[0]!.fields, { prev_comm: 'python', prev_pid: 2003, prev_prio: 120, prev_state: 'S', next_comm: 'swapper/1', next_pid: 0, next_prio: 120 });
  t.equal(out[1]!.fields, out[0]!.fields, 'one object for both');
  t.equal(out[1]!.tid, 2004, "each record its own prefix");
  t.throws(() => {
    (out[0]!.fields as Record<string, unknown>).prev_pid = 1;
  }, TypeError, 'a change to the shared fields throws instead of showing in the other record');
});

t.test('a line of only whitespace ends a callchain as an empty line does', async (t) => {
  const run = (between: string) => {
    const out: Array<Record<string, unknown>> = [];
    const p = new PerfParser((r) => out.push(r as Record<string, unknown>), collectingContext('x'));
    p.write('python  2002/2003 [001] 67166.124095965: cpu-clock: ');
    p.write('\t    7f885c64f7b0 take_gil+0x10 (/usr/lib/libpython3.11.so.1.0)');
    p.write(between);
    p.write('\t    7f885c64f7c0 drop_gil+0x20 (/usr/lib/libpython3.11.so.1.0)');
    p.end();
    return out;
  };
  const empty = run('');
  t.equal((empty[0]!.callchain as unknown[]).length, 1, 'the empty line ends the chain: the frame after it is not the sample\'s');
  fc.assert(
    fc.property(fc.constantFrom(' ', '\t', '\v', '\f', '\r'), fc.array(fc.constantFrom(' ', '\t', '\v', '\f', '\r', '\xa0'), { maxLength: 6 }), (first, rest) =>
      isDeepStrictEqual(run(first + rest.join(''))[0]!.callchain, empty[0]!.callchain),
    ),
    { numRuns: 300 },
  );
  // Not blank: U+0085 is no whitespace to trim(), and a letter is none either. Such a line does not end the chain.
  for (const line of [' \x85', ' \t x', '\t\xa0x']) t.equal((run(line)[0]!.callchain as unknown[]).length, 2, JSON.stringify(line));
});
