// V8 sizes its heap for speed. Two of its habits made a stage streaming a
// long recording, which keeps little alive (10-40 MB) but makes garbage at
// hundreds of MB a second, grow with no data to show for it:
// - after a full collection it lets the old generation grow to several times
//   what survived before it collects again: to-trace reached 335 MB RSS on a
//   10x input and 150 MB on the 1x one. Once the heap is past HEAP_BIG, the
//   growth allowed per collection is cut (V8 reads the flag at every
//   collection): a small input is not slowed, a long one stays near the size
//   the short one reached. At 64 MB, gil-stats on a real 10x perf.data (50 s
//   of busy_many.py, 400 MB) still peaked at 111-124 MB RSS, its heap at
//   56-70 MB between full collections with 13 MB alive; at 32 MB it peaks
//   at 92-95 MB, with the same CPU within the noise on the 1x and 10x files.
// - the young generation doubles while much of it survives a scavenge, up to
//   two semi-spaces of 16 MB: 34 MB of the 130 MB to-trace reached on a 10x
//   input. Past YOUNG_MAX it stops growing (V8 reads the growth factor each
//   time it grows the space; the maximum itself is fixed when node starts,
//   and a flag for it would need NODE_OPTIONS or a second process). Measured
//   on the bench capture: the same CPU within the noise, to-trace's 10x peak 127 -> 116 MB.
import v8 from 'node:v8';

/** The heap size past which its growth is held in. */
const HEAP_BIG = 32 * 1024 * 1024;

/** How much the heap may grow past what survived a full collection, in %. */
const GROWTH_PERCENT = 20;

/** The young generation's size (both semi-spaces) past which it stays as it is. */
const YOUNG_MAX = 16 * 1024 * 1024;

/**
 * Watches the heap (a timer that keeps no process alive) and holds its growth
 * in: the young generation at once, the old one once the heap is big. Every
 * 10 ms for the first second, since the young generation can grow from 1 to
 * 34 MB within it; every 100 ms after, so a long --live run is not woken
 * needlessly.
 */
export function holdHeapGrowthIn(): void {
  let young = false;
  let old = false;
  let ticks = 0;
  const check = (): void => {
    if (!young && newSpaceSize() >= YOUNG_MAX) {
      v8.setFlagsFromString('--semi-space-growth-factor=1');
      young = true;
    }
    if (!old && v8.getHeapStatistics().total_heap_size >= HEAP_BIG) {
      v8.setFlagsFromString(`--heap-growing-percent=${GROWTH_PERCENT}`);
      old = true;
    }
    if (!(young && old)) setTimeout(check, ++ticks < 100 ? 10 : 100).unref();
  };
  setTimeout(check, 10).unref();
}

function newSpaceSize(): number {
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_size;
  return 0;
}
