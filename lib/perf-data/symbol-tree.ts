// perf keeps a file's symbols in a red-black tree ordered by start address
// (the kernel's lib/rbtree.c, the textbook algorithm) and looks an address up
// by walking down from the root, taking the first symbol on the way that
// holds it (symbols__find). Symbols may overlap (a label inside a function,
// stretched by symbols__fixup_end to the next symbol; a JIT's perf map
// reusing memory), and then which one perf names depends on the tree's
// shape: on the order the symbols were inserted and erased. So the shape is
// rebuilt here, operation by operation, and the lookup walks it the same way.

const NIL = -1;

/** perf's symbol tree: insert (equal starts go right), erase, in-order walk. */
export class SymbolTree<T extends { start: number; end: number }> {
  readonly items: T[] = [];
  // Typed arrays grown by doubling: a large binary (node: 185,000 symbols) builds its tree in a few MB.
  /** The items' starts, beside them: the walk down compares only these. */
  private starts = new Float64Array(16);
  private left = new Int32Array(16);
  private right = new Int32Array(16);
  private parent = new Int32Array(16);
  private red = new Uint8Array(16);
  root = NIL;
  count = 0;

  private grow(): void {
    const n = this.starts.length * 2;
    const more = <A extends Float64Array | Int32Array | Uint8Array>(a: A, make: (n: number) => A): A => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.starts = more(this.starts, (k) => new Float64Array(k));
    this.left = more(this.left, (k) => new Int32Array(k));
    this.right = more(this.right, (k) => new Int32Array(k));
    this.parent = more(this.parent, (k) => new Int32Array(k));
    this.red = more(this.red, (k) => new Uint8Array(k));
  }

  /** symbols__insert: down by start, to the right of equal starts, then recoloured (__rb_insert). */
  insert(item: T): number {
    const n = this.items.length;
    if (n === this.starts.length) this.grow();
    this.items.push(item);
    this.starts[n] = item.start;
    this.left[n] = NIL;
    this.right[n] = NIL;
    this.red[n] = 1;
    let p = NIL;
    let at = this.root;
    let goLeft = false;
    const start = item.start;
    while (at !== NIL) {
      p = at;
      goLeft = start < this.starts[at]!;
      at = goLeft ? this.left[at]! : this.right[at]!;
    }
    this.parent[n] = p;
    if (p === NIL) this.root = n;
    else if (goLeft) this.left[p] = n;
    else this.right[p] = n;
    this.count++;
    this.insertFixup(n);
    return n;
  }

  // The fix-ups are written once for a node on its parent's left, with the
  // sides as arguments: `near` is the node's side, `far` the other one (the
  // kernel writes each case twice, mirrored; the shapes are the same).
  private insertFixup(node: number): void {
    let z = node;
    const { parent, red } = this;
    while (parent[z] !== NIL && red[parent[z]!] === 1) {
      const p = parent[z]!;
      const g = parent[p]!;
      const [near, far] = p === this.left[g] ? [this.left, this.right] : [this.right, this.left];
      const u = far[g]!;
      if (u !== NIL && red[u] === 1) {
        red[p] = 0;
        red[u] = 0;
        red[g] = 1;
        z = g;
        continue;
      }
      if (z === far[p]) {
        z = p;
        this.rotate(z, near, far);
      }
      red[parent[z]!] = 0;
      red[g] = 1;
      this.rotate(g, far, near);
    }
    red[this.root] = 0;
  }

  /** Rotates `x` down to the `near` side: its `far` child takes its place (left rotation: near = left). */
  private rotate(x: number, near: Int32Array, far: Int32Array): void {
    const { parent } = this;
    const y = far[x]!;
    far[x] = near[y]!;
    if (near[y] !== NIL) parent[near[y]!] = x;
    this.replaceChild(x, y);
    near[y] = x;
    parent[x] = y;
  }

  /** Puts `by` where `node` hangs from its parent (or the root). */
  private replaceChild(node: number, by: number): void {
    const p = this.parent[node]!;
    if (by !== NIL) this.parent[by] = p;
    if (p === NIL) this.root = by;
    else if (this.left[p] === node) this.left[p] = by;
    else this.right[p] = by;
  }

  /**
   * rb_erase: a node with two children is replaced by its successor, which
   * takes its colour; the black height is then mended from where a black
   * node left (____rb_erase_color).
   */
  erase(z: number): void {
    const { left, right, parent, red } = this;
    let x: number;
    let xParent: number;
    let removedBlack: boolean;
    if (left[z] === NIL) {
      x = right[z]!;
      xParent = parent[z]!;
      removedBlack = red[z] === 0;
      this.replaceChild(z, x);
    } else if (right[z] === NIL) {
      x = left[z]!;
      xParent = parent[z]!;
      removedBlack = red[z] === 0;
      this.replaceChild(z, x);
    } else {
      let y = right[z]!;
      while (left[y] !== NIL) y = left[y]!;
      removedBlack = red[y] === 0;
      x = right[y]!;
      if (parent[y] === z) xParent = y;
      else {
        xParent = parent[y]!;
        this.replaceChild(y, x);
        right[y] = right[z]!;
        parent[right[y]!] = y;
      }
      this.replaceChild(z, y);
      left[y] = left[z]!;
      parent[left[y]!] = y;
      red[y] = red[z]!;
    }
    left[z] = right[z] = parent[z] = NIL;
    this.count--;
    if (removedBlack) this.eraseFixup(x, xParent);
  }

  private eraseFixup(node: number, nodeParent: number): void {
    const { parent, red } = this;
    let x = node;
    let p = nodeParent;
    const isRed = (n: number) => n !== NIL && red[n] === 1;
    while (x !== this.root && !isRed(x)) {
      const [near, far] = x === this.left[p] ? [this.left, this.right] : [this.right, this.left];
      let w = far[p]!;
      if (isRed(w)) {
        red[w] = 0;
        red[p] = 1;
        this.rotate(p, near, far);
        w = far[p]!;
      }
      if (!isRed(near[w]!) && !isRed(far[w]!)) {
        red[w] = 1;
        x = p;
        p = parent[x]!;
      } else {
        if (!isRed(far[w]!)) {
          red[near[w]!] = 0;
          red[w] = 1;
          this.rotate(w, far, near);
          w = far[p]!;
        }
        red[w] = red[p]!;
        red[p] = 0;
        red[far[w]!] = 0;
        this.rotate(p, near, far);
        x = this.root;
      }
    }
    if (x !== NIL) red[x] = 0;
  }

  first(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    while (this.left[n] !== NIL) n = this.left[n]!;
    return n;
  }

  /** rb_next: the in-order successor, NIL after the last. */
  next(n: number): number {
    const { left, right, parent } = this;
    if (right[n] !== NIL) {
      let m = right[n]!;
      while (left[m] !== NIL) m = left[m]!;
      return m;
    }
    let c = n;
    let p = parent[c]!;
    while (p !== NIL && c === right[p]) {
      c = p;
      p = parent[c]!;
    }
    return p;
  }

  /** The nodes in address order. */
  inOrder(): number[] {
    const out: number[] = [];
    for (let n = this.first(); n !== NIL; n = this.next(n)) out.push(n);
    return out;
  }

  /** The tree as arrays in address order: each node's children as indices into them (-1 for none), and the root's. */
  flatten(): { items: T[]; left: Int32Array; right: Int32Array; root: number } {
    const order = this.inOrder();
    const index = new Int32Array(this.items.length).fill(NIL);
    for (let i = 0; i < order.length; i++) index[order[i]!] = i;
    const left = new Int32Array(order.length);
    const right = new Int32Array(order.length);
    const items = new Array<T>(order.length);
    for (let i = 0; i < order.length; i++) {
      const n = order[i]!;
      left[i] = this.left[n] === NIL ? NIL : index[this.left[n]!]!;
      right[i] = this.right[n] === NIL ? NIL : index[this.right[n]!]!;
      items[i] = this.items[n]!;
    }
    return { items, left, right, root: this.root === NIL ? NIL : index[this.root]! };
  }

  /** Red-black rules and order, for tests: the black height, or a string saying what is broken. */
  check(): number | string {
    const walk = (n: number, lo: number, hi: number): number | string => {
      if (n === NIL) return 1;
      const s = this.items[n]!.start;
      if (s < lo || s > hi) return `node ${n} out of order`;
      if (this.red[n] === 1 && ((this.left[n]! !== NIL && this.red[this.left[n]!] === 1) || (this.right[n]! !== NIL && this.red[this.right[n]!] === 1))) return `red node ${n} with a red child`;
      for (const c of [this.left[n]!, this.right[n]!]) if (c !== NIL && this.parent[c] !== n) return `node ${c}'s parent is wrong`;
      const l = walk(this.left[n]!, lo, s);
      const r = walk(this.right[n]!, s, hi);
      if (typeof l === 'string') return l;
      if (typeof r === 'string') return r;
      if (l !== r) return `black heights differ under node ${n}`;
      return l + (this.red[n] === 1 ? 0 : 1);
    };
    if (this.root !== NIL && this.red[this.root] === 1) return 'red root';
    return walk(this.root, -Infinity, Infinity);
  }
}
