// The perf script line grammar, on lines taken verbatim from real captures
// (../shared/corpus). Expected values are read off the lines by the format
// perf prints (builtin-script.c), not from this code's output.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Memo, parseHead, parseFrame, parseTs, type Head, type Layout } from '../../lib/perf-grammar.js';
import { parsePayload, keyValues } from '../../lib/perf-payload.js';

const fresh = (): Layout => ({ taskWidth: 5 });
const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

t.test('default padded line, 9 decimals, uprobe return payload', async (t) => {
  const line = '      python3.11  2578 [001]   154.053910028:           python:take_gil__return: (7f885c64f7b0 <- 7f885c64fbb3)';
  const h = parseHead(line, fresh())!;
  t.same(
    { comm: h.comm, tid: h.tid, cpu: h.cpu, ts: h.ts, event: h.event, payload: h.payload },
    { comm: 'python3.11', tid: 2578, cpu: 1, ts: 154053910028, event: 'python:take_gil__return', payload: '(7f885c64f7b0 <- 7f885c64fbb3)' },
  );
  t.same(parsePayload(h.event!, h.payload), { probe: { func: '7f885c64f7b0', ret: '7f885c64fbb3' } });
});

t.test('6 decimals are microseconds', async (t) => {
  const h = parseHead('python3.11  2590 [001]   157.040091:                sched:sched_waking: comm=rcu_preempt pid=15 prio=120 target_cpu=001', fresh())!;
  t.equal(h.ts, 157040091000);
  t.equal(h.decimals, 6);
  t.equal(h.comm, 'python3.11', 'unpadded comm of a callchain event');
  t.same(parsePayload(h.event!, h.payload).fields, { comm: 'rcu_preempt', pid: 15, prio: 120, target_cpu: 1 });
});

t.test('pid/tid form, two spaces after %-5d', async (t) => {
  const h = parseHead('      python3.11  2573/2573  [000]   151.705952699:                sched:sched_switch: prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120', fresh())!;
  t.equal(h.pid, 2573);
  t.equal(h.tid, 2573);
  t.same(parsePayload(h.event!, h.payload).fields, {
    prev_comm: 'python3.11', prev_pid: 2573, prev_prio: 120, prev_state: 'D', next_comm: 'swapper/0', next_pid: 0, next_prio: 120,
  });
});

t.test('no comm (-F +period,-comm): period before the event', async (t) => {
  const h = parseHead(' 2573 [000]   151.705952699:          1                sched:sched_switch: prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120', fresh())!;
  t.equal(h.comm, undefined);
  t.equal(h.tid, 2573);
  t.equal(h.period, 1);
  t.equal(h.event, 'sched:sched_switch');
});

t.test('time, event and trace only', async (t) => {
  const h = parseHead('  151.705952699:                sched:sched_switch: prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120', fresh())!;
  t.same([h.comm, h.tid, h.ts], [undefined, undefined, 151705952699]);
});

t.test('-L: comm cut to 8 bytes, cpu without brackets', async (t) => {
  const h = parseHead('python3.  2573   1   151.713602869:                sched:sched_switch: prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=D ==> next_comm=swapper/1 next_pid=0 next_prio=120', fresh())!;
  t.same([h.comm, h.tid, h.cpu], ['python3.', 2573, 1]);
});

t.test('+tod and +misc', async (t) => {
  const a = parseHead('      python3.11  2573 [000] 2026-11-22 02:26:33.161484679   151.705952699:                sched:sched_switch: prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120', fresh())!;
  t.same([a.tod, a.cpu, a.tid, a.comm], ['2026-11-22 02:26:33.161484679', 0, 2573, 'python3.11']);
  const b = parseHead('      python3.11  2573 [000] E       151.704439556: PERF_RECORD_COMM exec: python3.11:2573/2573', fresh())!;
  t.same([b.misc, b.record], ['E', 'COMM exec: python3.11:2573/2573']);
});

t.test('+flags: a run of blanks before the payload', async (t) => {
  const h = parseHead('      python3.11  2573 [000]   151.705952699:                sched:sched_switch:                         prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=D ==> next_comm=swapper/0 next_pid=0 next_prio=120', fresh())!;
  t.equal(parsePayload(h.event!, h.payload).fields!.next_comm, 'swapper/0');
});

t.test('hostile thread names are read from the time anchor outwards', async (t) => {
  // Shapes from perf's %16s comm column; each name is what prctl set.
  const cases: Array<[string, string]> = [
    ['my worker 1', '     my worker 1 13842 [001]   520.123456789:                sched:sched_switch: prev_comm=my worker 1 prev_pid=13842 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120'],
    ['999 42', '          999 42 13842 [001]   520.123456789:                sched:sched_switch: prev_comm=999 42 prev_pid=13842 prev_prio=120 prev_state=S ==> next_comm=swapper/1 next_pid=0 next_prio=120'],
    ['t [000] 1.0: x', '  t [000] 1.0: x 13843 [000]   520.123456789:                sched:sched_switch: prev_comm=t [000] 1.0: x prev_pid=13843 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120'],
    ['a ==> b=c x', '     a ==> b=c x 13844 [000]   520.123456789:                sched:sched_switch: prev_comm=a ==> b=c x prev_pid=13844 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120'],
    ['x', '               x 13845 [000]   520.123456789:                sched:sched_switch: prev_comm=x prev_pid=13845 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120'],
    ['tab\there', '        tab\there 13846 [000]   520.123456789:                sched:sched_switch: prev_comm=tab\there prev_pid=13846 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120'],
    ['trail  ', '         trail   13847 [000]   520.123456789:                sched:sched_switch: prev_comm=trail   prev_pid=13847 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120'],
  ];
  for (const [name, line] of cases) {
    const h = parseHead(line, fresh());
    t.ok(h, name);
    t.equal(h?.comm, name, `comm ${JSON.stringify(name)}`);
    t.equal(parsePayload(h!.event!, h!.payload).fields?.prev_comm, name, `prev_comm ${JSON.stringify(name)}`);
  }
});

t.test('UTF-8 names, including one cut mid-character at 15 bytes', async (t) => {
  // "wörker-ü-线" is 14 bytes; "ä"*8 is 16 bytes, so the kernel keeps 15: 7 whole "ä" and half of one.
  const full = 'w\u00f6rker-\u00fc-\u7ebf';
  const cut = Buffer.concat([Buffer.from('\u00e4'.repeat(7)), Buffer.from([0xc3])]);
  for (const [bytes, expected] of [
    [Buffer.from(full), full],
    [cut, '\u00e4'.repeat(7) + '\ufffd'],
  ] as Array<[Buffer, string]>) {
    const pad = ' '.repeat(16 - bytes.length);
    const line = pad + bytes.toString('latin1') + ' 13850 [001]   520.123456789:                python:take_gil: (7f885c64f7b0)';
    const h = parseHead(line, fresh())!;
    const { utf8 } = await import('../../lib/perf-grammar.js');
    t.equal(utf8(h.comm!), expected);
  }
});

t.test('plugin sched_switch format: comm split at the last colon', async (t) => {
  const p = parsePayload('sched:sched_switch', latin1('a ==> b=c x:13844 [120] S ==> kworker/1:2:293 [120]'));
  t.same(p.fields, { prev_comm: 'a ==> b=c x', prev_pid: 13844, prev_prio: 120, prev_state: 'S', next_comm: 'kworker/1:2', next_pid: 293, next_prio: 120 });
  const w = parsePayload('sched:sched_wakeup', 'kworker/1:2:293 [120] CPU:001');
  t.same(w.fields, { comm: 'kworker/1:2', pid: 293, prio: 120, target_cpu: 1 });
});

t.test('every prev_state form', async (t) => {
  for (const s of ['S', 'D', 'R', 'R+', 'I', 'X', 'Z', 'T', 't', 'P', 'D|K', 'S|K', 'x|W']) {
    const p = parsePayload('sched:sched_switch', `prev_comm=python3.11 prev_pid=2573 prev_prio=120 prev_state=${s} ==> next_comm=swapper/0 next_pid=0 next_prio=120`);
    t.equal(p.fields?.prev_state, s);
  }
});

t.test('sched_wakeup with success= (kernels before 4.3) and the old task form', async (t) => {
  t.same(parsePayload('sched:sched_wakeup', 'comm=python3 pid=12 prio=120 success=1 target_cpu=002').fields, { comm: 'python3', pid: 12, prio: 120, success: 1, target_cpu: 2 });
  t.same(parsePayload('sched:sched_wakeup', 'task python3:12 [120] success=1 [002]').fields, { comm: 'python3', pid: 12, prio: 120, success: 1, target_cpu: 2 });
});

t.test('probe payloads with arguments and same-line ip/sym/dso', async (t) => {
  t.same(parsePayload('perfparse:take_args', '(7f95a564f7b0) arg1=0x7f95a5976ef8 arg2=-1516534144 arg3=0'), {
    probe: { func: '7f95a564f7b0' },
    fields: { arg1: '0x7f95a5976ef8', arg2: -1516534144, arg3: 0 },
  });
  t.same(parsePayload('perfparse:getenv', '(7f95a525d0b0) arg1="LOCPATH"').fields, { arg1: '"LOCPATH"' });
  const p = parsePayload('python:take_gil__return', '(7f885c64f7b0 <- 7f885c64fbb3)     7f885c64fbb3 _PyEval_InitGIL+0x53 (/usr/local/lib/libpython3.11.so.1.0)');
  t.same(p.ip, { addr: '7f885c64fbb3', sym: '_PyEval_InitGIL', off: 0x53, dso: '/usr/local/lib/libpython3.11.so.1.0' });
  const s = parsePayload('sched:sched_waking', 'comm=rcu_preempt pid=15 prio=120 target_cpu=001 ffffffff813aa9c4 try_to_wake_up+0x3a4 ([kernel.kallsyms])');
  t.same(s.fields, { comm: 'rcu_preempt', pid: 15, prio: 120, target_cpu: 1 });
  t.same(s.ip, { addr: 'ffffffff813aa9c4', sym: 'try_to_wake_up', off: 0x3a4, dso: '[kernel.kallsyms]' });
});

t.test('software event: ip on the line, and +addr before it', async (t) => {
  const h = parseHead('      python3.11 14927   518.533275:    1001001 cpu-clock:      7f54996a9250 PyThread_allocate_lock+0x0 (/usr/local/lib/libpython3.11.so.1.0)', fresh())!;
  t.same([h.tid, h.cpu, h.period, h.event], [14927, undefined, 1001001, 'cpu-clock']);
  t.same(parsePayload(h.event!, h.payload).ip, { addr: '7f54996a9250', sym: 'PyThread_allocate_lock', off: 0, dso: '/usr/local/lib/libpython3.11.so.1.0' });
  const p = parsePayload('page-faults', '5651bf4d7018 _edata+0x0 (/usr/local/bin/python3.11) ffffffff817554ea elf_load+0x28a ([kernel.kallsyms])');
  t.equal(p.addr?.sym, '_edata');
  t.equal(p.ip?.sym, 'elf_load');
  const u = parseHead('python3.11 15011   520.711269717:    2004008 task-clock:u: ', fresh())!;
  t.equal(u.event, 'task-clock:u', 'event with a modifier, callchain follows');
});

t.test('frames: inlined, unknown, spaces and parentheses in symbols and dsos', async (t) => {
  t.same(parseFrame('e2bc elf_machine_rela_relative+0x69c (inlined)'), { addr: 'e2bc', sym: 'elf_machine_rela_relative', off: 0x69c, inlined: true });
  t.same(parseFrame('737570 [unknown] ([unknown])'), { addr: '737570', sym: null, dso: null });
  t.same(parseFrame('7f0 JS:*fib progs/busy.js:2:13+0x97 (/tmp/perf-1234.map)'), { addr: '7f0', sym: 'JS:*fib progs/busy.js:2:13', off: 0x97, dso: '/tmp/perf-1234.map' });
  t.same(parseFrame('7f1 CardTableModRefBS::process_stride(Space*, MemRegion, int)+0x10 (/opt/sp dir/libjvm.so)'), {
    addr: '7f1', sym: 'CardTableModRefBS::process_stride(Space*, MemRegion, int)', off: 0x10, dso: '/opt/sp dir/libjvm.so',
  });
  t.same(parseFrame('7f4f24fbc6a0 pthread_cond_timedwait@@GLIBC_2.3.2+0x0 (/usr/lib/x86_64-linux-gnu/libc.so.6)').sym, 'pthread_cond_timedwait@@GLIBC_2.3.2');
  t.same(parseFrame('ffffffff813aa9c4'), { addr: 'ffffffff813aa9c4' });
  t.same(parseFrame('ffffffff813aa3e5 ttwu_do_activate ([kernel.kallsyms])'), { addr: 'ffffffff813aa3e5', sym: 'ttwu_do_activate', dso: '[kernel.kallsyms]' });
});

t.test('generic key=value payloads: values with spaces, non k=v kept raw', async (t) => {
  t.same(keyValues('filename=/opt/sp dir/py thon pid=14562 old_pid=14562'), { filename: '/opt/sp dir/py thon', pid: 14562, old_pid: 14562 });
  t.same(parsePayload('syscalls:sys_enter_brk', 'brk: 0x00000000'), { payload: 'brk: 0x00000000' });
});

t.test('a fake time inside a comm does not fool a file whose decimals are known', async (t) => {
  const layout = fresh();
  parseHead('      python3.11  2573 [000]   151.705952699:                sched:sched_switch: prev_comm=a prev_pid=1 prev_prio=1 prev_state=S ==> next_comm=b next_pid=2 next_prio=1', layout);
  const h = parseHead(' a 1 1.500000: b 13843 [000]   151.705952700:                python:take_gil: (7f885c64f7b0)', layout)!;
  t.equal(h.comm, 'a 1 1.500000: b');
  t.equal(h.tid, 13843);
});

t.test('timestamps past 2^53 ns keep durations exact to 4 ns after a JSON round trip', async (t) => {
  // 400 days of uptime: 34,560,000 s.
  const a = '34560000.123456789';
  const b = '34560000.623456791';
  const ts = (s: string) => parseTs(s, 0, s.indexOf('.'), s.length);
  const [x, y] = JSON.parse(JSON.stringify([ts(a), ts(b)])) as number[];
  t.ok(x! > 2 ** 53, 'beyond the exact-integer range');
  t.ok(Math.abs(x! - 34560000123456789) <= 4, `start within 4 ns (${x})`);
  t.ok(Math.abs(y! - x! - 500000002) <= 4, `duration within 4 ns (${y! - x!})`);
});

t.test('an ip after a payload, separated by a tab: the address is hex alone', async (t) => {
  // Found by the property test: a tab before the address used to stay in it.
  const p = parsePayload('python:take_gil', '(7f885c64f7b0)     \u0000\t7f885c64f7b0 take_gil+0x0 (/usr/local/lib/libpython3.11.so.1.0)');
  t.equal(p.ip?.addr, '7f885c64f7b0');
  t.equal(p.ip?.sym, 'take_gil');
});

t.test('-F +ip,+sym,+dso: the ip after a key=value payload is the ip, not part of the last value', async (t) => {
  const p = parsePayload('sched:sched_process_fork', 'comm=python3.11 pid=2578 child_comm=python3.11 child_pid=2580 ffffffff8139bdf1 __traceiter_sched_process_fork+0x31 ([kernel.kallsyms])');
  t.same(p.fields, { comm: 'python3.11', pid: 2578, child_comm: 'python3.11', child_pid: 2580 });
  t.same(p.ip, { addr: 'ffffffff8139bdf1', sym: '__traceiter_sched_process_fork', off: 49, dso: '[kernel.kallsyms]' });
  // A value with spaces and no frame after it stays whole.
  t.same(parsePayload('x:y', 'filename=sp dir/py thon pid=1').fields, { filename: 'sp dir/py thon', pid: 1 });
});

t.test('a prefix and a suffix read once and looked up after read as they did: every line of every capture, through one layout and through a copy without the lookups', async (t) => {
  const dirs = [fileURLToPath(new URL('../fixtures/', import.meta.url)), fileURLToPath(new URL('../../../shared/corpus/variants/', import.meta.url))];
  let lines = 0;
  let events = 0;
  let prefixHits = 0;
  let suffixHits = 0;
  let files = 0;
  // The head without its link to the memo's entry (which the copy has not).
  const plain = (h: Head | undefined) => (h === undefined ? undefined : JSON.stringify({ ...h, suffix: undefined }));
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.perf.txt.gz'));
    } catch {
      t.comment(`${dir}: not here, its captures not read`);
      continue;
    }
    for (const name of names) {
      files++;
      const shared = fresh();
      for (const line of gunzipSync(readFileSync(dir + name)).toString('latin1').split('\n')) {
        const found = [shared.prefixes?.hits ?? 0, shared.suffixes?.hits ?? 0];
        const alone: Layout = { ...shared, prefixes: Memo.off(), suffixes: Memo.off() };
        const want = parseHead(line, alone);
        const got = parseHead(line, shared);
        lines++;
        if (got !== undefined) {
          events++;
          if ((shared.prefixes?.hits ?? 0) > found[0]!) prefixHits++;
          if ((shared.suffixes?.hits ?? 0) > found[1]!) suffixHits++;
        }
        if (plain(got) !== plain(want)) {
          t.same(got, want, `${name}: ${JSON.stringify(line)}`);
          return;
        }
      }
    }
  }
  t.ok(prefixHits > events / 2, `${lines} lines of ${files} captures read alike; of their ${events} events, ${prefixHits} from a prefix seen before`);
  t.ok(suffixHits > events / 2, `and ${suffixHits} from a suffix seen before`);
});

t.test('prefixes that seldom repeat are not looked up: past 4,096 with fewer finds, the file reads them as they come', async (t) => {
  const line = (tid: number, i: number) => `          python ${String(tid).padStart(7)}/${tid} [000]   100.${String(i).padStart(9, '0')}: sched:sched_wakeup: comm=python pid=${tid} prio=120 target_cpu=001`;
  const rotating = fresh();
  let read = 0;
  for (let i = 0; i < 5000; i++) if (parseHead(line(20000 + i, i), rotating)?.tid === 20000 + i) read++;
  t.equal(read, 5000, 'every line read, with its own tid');
  t.equal(rotating.prefixes?.on, false, 'a new thread every line: lookups stopped');
  t.equal(rotating.prefixes?.size, 0, 'and their map emptied');
  t.equal(parseHead(line(7, 5000), rotating)?.tid, 7, 'lines still read');
  const few = fresh();
  for (let i = 0; i < 20000; i++) parseHead(line(20000 + (i % 3000) * (i < 10000 ? 1 : 2), i), few);
  t.equal(few.prefixes?.on, true, '3,000 threads, then 3,000 others: still looked up');
  t.ok(few.prefixes !== undefined && few.prefixes.size <= 4096, 'the map within its bound');
});

t.test("suffixes that seldom repeat are not looked up either, and a suffix read from the memo is the line's own", async (t) => {
  // A payload with a counter: every line's end differs.
  const line = (i: number) => `          python   4242/4242  [000]   100.${String(i).padStart(9, '0')}: probe:count: (7f885c64f7b0) n=${i}`;
  const counting = fresh();
  let read = 0;
  for (let i = 0; i < 5000; i++) if (parseHead(line(i), counting)?.payload === `(7f885c64f7b0) n=${i}`) read++;
  t.equal(read, 5000, "every line's own payload");
  t.equal(counting.suffixes?.on, false, 'a new suffix every line: lookups stopped');
  t.equal(counting.suffixes?.size, 0, 'and their map emptied');
  // Two suffixes alike but for one byte are two entries.
  const two = fresh();
  const a = parseHead('          python   4242/4242  [000]   100.000000001: sched:sched_waking: comm=python pid=4243 prio=120 target_cpu=001', two)!;
  const b = parseHead('          python   4242/4242  [000]   100.000000002: sched:sched_waking: comm=python pid=4243 prio=120 target_cpu=000', two)!;
  const c = parseHead('          python   4242/4242  [000]   100.000000003: sched:sched_waking: comm=python pid=4243 prio=120 target_cpu=001', two)!;
  t.same([a.payload, b.payload, c.payload], ['comm=python pid=4243 prio=120 target_cpu=001', 'comm=python pid=4243 prio=120 target_cpu=000', 'comm=python pid=4243 prio=120 target_cpu=001']);
  t.equal(c.suffix, a.suffix, 'the third line found the first one\'s entry');
  t.not(b.suffix, a.suffix, 'the second has its own');
  t.same([a.ts, b.ts, c.ts], [100000000001, 100000000002, 100000000003], 'each its own time');
});
