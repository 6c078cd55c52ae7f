// perf's symbol tree (lib/perf-data/symbol-tree.ts): after any sequence of
// inserts and erases it must still be a red-black tree in address order
// holding exactly what a plain list holds, and a lookup must take the first
// symbol holding the address on the way down from the root, as
// symbols__find does (tools/perf/util/symbol.c). The choice between
// overlapping symbols that follows from it is checked against perf itself in
// test/live/perf-data-symbols.test.ts (node's labels inside its builtins).
import t from 'tap';
import { SymbolTree } from '../../lib/perf-data/symbol-tree.js';

interface S {
  start: number;
  end: number;
  id: number;
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('any inserts and erases leave a red-black tree in address order, equal starts in insertion order', async (t) => {
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = random(seed);
    const tree = new SymbolTree<S>();
    // The model: what perf's in-order walk gives, an insertion-stable sort by start.
    let model: Array<{ node: number; s: S }> = [];
    let bad: string | undefined;
    for (let op = 0; op < 600 && bad === undefined; op++) {
      if (model.length > 0 && rnd() < 0.35) {
        const k = Math.floor(rnd() * model.length);
        tree.erase(model[k]!.node);
        model.splice(k, 1);
      } else {
        const s = { start: Math.floor(rnd() * 50), end: 0, id: op };
        model.push({ node: tree.insert(s), s });
      }
      const h = tree.check();
      if (typeof h === 'string') bad = `seed ${seed}, operation ${op}: ${h}`;
    }
    t.equal(bad, undefined, `seed ${seed}: the rules hold after every operation`);
    model = model.slice().sort((a, b) => a.s.start - b.s.start || a.s.id - b.s.id);
    t.same(
      tree.inOrder().map((n) => tree.items[n]!.id),
      model.map((m) => m.s.id),
      `seed ${seed}: in order, ${model.length} symbols`,
    );
    t.equal(tree.count, model.length);
  }
});

t.test('a balanced tree: a million sorted inserts (kallsyms is in order) stay shallow', async (t) => {
  const tree = new SymbolTree<S>();
  for (let i = 0; i < 1 << 20; i++) tree.insert({ start: i, end: i + 1, id: i });
  const h = tree.check();
  t.type(h, 'number');
  // A red-black tree of n nodes is at most 2 log2(n + 1) deep, so its black height is at most about log2(n).
  t.ok((h as number) <= 21, `black height ${h}`);
});

t.test('flatten: children as indices in address order, the root among them', async (t) => {
  const tree = new SymbolTree<S>();
  [5, 3, 8, 1, 4, 7, 9].forEach((start, id) => tree.insert({ start, end: start + 1, id }));
  const { items, left, right, root } = tree.flatten();
  t.same(
    items.map((s) => s.start),
    [1, 3, 4, 5, 7, 8, 9],
  );
  t.equal(items[root]!.start, 5, 'the first inserted stays on top of a tree this small');
  const walk = (n: number): number[] => (n < 0 ? [] : [...walk(left[n]!), items[n]!.start, ...walk(right[n]!)]);
  t.same(walk(root), [1, 3, 4, 5, 7, 8, 9], 'walking the children gives the order back');
});

t.test("the kernel's shapes, worked by hand from lib/rbtree.c: insert's recolouring and rotations, erase by successor and its fix-up", async (t) => {
  const tree = new SymbolTree<S>();
  const node = new Map<number, number>();
  const add = (start: number) => node.set(start, tree.insert({ start, end: start + 1, id: start }));
  const shape = (): string => {
    const { items, left, right, root } = tree.flatten();
    const at = (n: number): string => {
      if (n < 0) return '-';
      const l = left[n]!;
      const r = right[n]!;
      return l < 0 && r < 0 ? String(items[n]!.start) : `${items[n]!.start}(${at(l)},${at(r)})`;
    };
    return at(root);
  };
  [1, 2, 3, 4].forEach(add);
  t.equal(shape(), '2(1,3(-,4))', '1-3: a rotation makes 2 the root; 4: its uncle is red, only colours change');
  add(5);
  t.equal(shape(), '2(1,4(3,5))', '5: a black uncle, right of right: a left rotation at 3');
  tree.erase(node.get(2)!);
  t.equal(shape(), '3(1,4(-,5))', 'erasing the root: its successor (leftmost on the right) takes its place');
  add(6);
  t.equal(shape(), '3(1,5(4,6))', '6: a left rotation at 4 (so 4 and 5 were coloured as the kernel colours them)');
  tree.erase(node.get(1)!);
  t.equal(shape(), '5(3(-,4),6)', 'erasing a black leaf: the sibling has a red right child, a left rotation at the parent');
  t.type(tree.check(), 'number');
});
