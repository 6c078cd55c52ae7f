// V8 sizes its heap for speed: after a full collection it lets the heap grow
// to several times what survived before it collects again. A stage streaming
// a long recording keeps little alive (10-40 MB) but makes garbage at
// hundreds of MB a second, so its heap grew with the length of the input:
// to-trace reached 335 MB RSS on a 10x input and 150 MB on the 1x one.
// Once the heap is past HEAP_BIG, the growth allowed per collection is cut
// (V8 reads the flag at every collection): a run on a small input is not
// slowed, a long one stays near the size the short one reached.
import v8 from 'node:v8';

/** The heap size past which its growth is held in. */
const HEAP_BIG = 64 * 1024 * 1024;

/** How much the heap may grow past what survived a full collection, in %. */
const GROWTH_PERCENT = 20;

/** Watches the heap (a timer that keeps no process alive) and holds its growth in once it is big. */
export function holdHeapGrowthIn(): void {
  const timer = setInterval(() => {
    if (v8.getHeapStatistics().total_heap_size < HEAP_BIG) return;
    v8.setFlagsFromString(`--heap-growing-percent=${GROWTH_PERCENT}`);
    clearInterval(timer);
  }, 100);
  timer.unref();
}
