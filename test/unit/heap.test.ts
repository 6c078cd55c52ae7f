// lib/heap.ts against V8 itself: a workload whose young generation V8 grows
// to 32 MB semi-spaces (many objects surviving each scavenge) stays at 16 MB
// with holdHeapGrowthIn, and grows without it. Each run is a fresh node, so
// nothing the test runner allocated has sized the heap before.
import t from 'tap';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const heap = fileURLToPath(new URL('../../lib/heap.ts', import.meta.url));

// Keeps a ring of 300,000 small objects and replaces them for 1.5 s, 5,000 a
// turn of the event loop (a command handles an input chunk a turn): most of a
// scavenge survives, which is what makes V8 grow the young generation.
const WORKLOAD = (hold: boolean) => `
import v8 from 'node:v8';
${hold ? `import { holdHeapGrowthIn } from ${JSON.stringify(heap)}; holdHeapGrowthIn();` : ''}
const ring = new Array(300000);
let max = 0, i = 0;
const until = Date.now() + 1500;
const step = () => {
  for (let k = 0; k < 5000; k++) ring[i++ % ring.length] = { a: i, b: [i] };
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') max = Math.max(max, s.space_size);
  if (Date.now() < until) setImmediate(step); else console.log(max);
};
step();
`;

async function youngMax(hold: boolean): Promise<number> {
  const r = await execa('node', ['--import=tsx', '--input-type=module', '-e', WORKLOAD(hold)]);
  return Number(r.stdout.trim());
}

t.test('the young generation stops growing at 16 MB; without the hold it grows past', async (t) => {
  const without = await youngMax(false);
  const held = await youngMax(true);
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  t.ok(without > 20 * 2 ** 20, `without: ${mb(without)} (the workload makes V8 grow it)`);
  t.ok(held <= 17 * 2 ** 20, `held: ${mb(held)}`);
});
