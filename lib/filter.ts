// The one shape of every stage: a filter is pushed one item at a time
// (`write`), told when one input ends (`endInput`) and when all have
// (`end`), and hands what it makes to the next thing through `emit`, given
// when it is made. The same objects are driven two ways: by the command-line
// runner (bytes in, NDJSON out; lib/run-stage.ts) and chained in one process
// (`compose`), filter to filter, with nothing serialised between them.

/** Where the item being handled came from: the driver keeps it current. */
export interface Where {
  file: string;
  line: number;
  /** Of those lines, the empty ones: a driver that judges a whole input leaves them out. */
  blank?: number;
}

/** What a filter may tell its driver. */
export interface Context {
  readonly where: Where;
  /**
   * The item at `where` cannot be used: the driver counts it and names it
   * once at the end (strict mode: throws, which ends the run with exit 1).
   */
  malformed(why: string): void;
  /**
   * The input is cut or corrupt at this point and nothing after it can be
   * read (a binary input's framing): what was read before is kept, and the
   * run ends with exit 1 once it is written. Drivers without it count the
   * input as malformed.
   */
  broken?(why: string): void;
}

export type Emit<T> = (item: T) => void;

export interface Filter<In> {
  /** The next item. A Buffer may be reused by the caller once this returns: a filter copies what it keeps of one. */
  write(item: In): void;
  /** One input (file) ended; more may follow. */
  endInput?(): void;
  /** All input ended: flush what is still open. */
  end(): void;
  /**
   * After end(): makes the next part of what is left to write, false when
   * nothing was left. A filter with much to write at its end (to-trace's last
   * counters) writes it in parts, so a runner can write each part out before
   * the next is made; a runner calls it until false (endAll, when it writes
   * nothing between the parts).
   */
  more?(): boolean;
}

/** end(), then every part left: for a caller that writes the output only once it is all made. */
export function endAll(f: Filter<never>): void {
  f.end();
  while (f.more?.() === true) {
    /* each call makes one part */
  }
}

/** A filter not yet connected: give it where its output goes. */
export type Make<In, Out> = (emit: Emit<Out>) => Filter<In>;

/** A filter made by `first` that feeds the filter `next`: ends reach both, in order (an input's end only as far as a filter that ends inputs). */
export function connect<A, B>(first: Make<A, B>, next: Filter<B>): Filter<A> {
  const a = first((item) => next.write(item));
  return {
    write: (item) => a.write(item),
    endInput() {
      // A filter without endInput makes one stream of all its inputs (as a
      // command reading several files does): past it, no input ends early.
      if (a.endInput === undefined) return;
      a.endInput();
      next.endInput?.();
    },
    end() {
      a.end();
      next.end();
    },
    // Past its end, `a` has nothing more to give `next`: what is left is next's.
    more: () => next.more?.() === true,
  };
}

/** One stream into several filters, in the order given. */
export function tee<T>(filters: ReadonlyArray<Filter<T>>): Filter<T> {
  return {
    write(item) {
      for (const f of filters) f.write(item);
    },
    endInput() {
      for (const f of filters) f.endInput?.();
    },
    end() {
      for (const f of filters) f.end();
    },
    more() {
      let left = false;
      for (const f of filters) if (f.more?.() === true) left = true;
      return left;
    },
  };
}

/** `first` feeding `second`, still to be connected to its output. */
export function compose<A, B, C>(first: Make<A, B>, second: Make<B, C>): Make<A, C> {
  return (emit) => connect(first, second(emit));
}

/** A Context for code that drives filters itself (tests, in-process chains): malformed items are collected. */
export function collectingContext(file = 'input'): Context & { problems: string[]; broke: string[] } {
  const where = { file, line: 0 };
  const problems: string[] = [];
  const broke: string[] = [];
  return {
    where,
    problems,
    broke,
    malformed(why) {
      problems.push(`${where.file}:${where.line}: ${why}`);
    },
    broken(why) {
      broke.push(`${where.file}: ${why}`);
    },
  };
}
