// Loads the suite's TypeScript in every test process (package.json's
// tap.node-arg), in place of tsx: the same esbuild transpile, but Node's own
// resolution and loading for everything that is not a .ts file, and the
// transpiled code kept between runs (test/helpers/ts-hooks.mjs). tsx's hooks
// cost each test process about 0.4-1 s of CPU more, most of it loading tap.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
