// Node's modules that a command needs only for some inputs, loaded when first
// used: child_process and zlib each cost 4-7 ms at every start of every
// command, for the perf.data that goes through perf script and the gzipped
// input, which most runs do not have.
import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

export const zlib = (): typeof import('node:zlib') => load('node:zlib') as typeof import('node:zlib');
export const childProcess = (): typeof import('node:child_process') => load('node:child_process') as typeof import('node:child_process');
