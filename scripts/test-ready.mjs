// Run by tap (`--before`, from scripts/test.mjs) once it has built its
// plugins: tells scripts/test.mjs that the second tap run may start.
import { writeFileSync } from 'node:fs';

if (process.env.GILPIPE_TEST_READY) writeFileSync(process.env.GILPIPE_TEST_READY, '');
