// Validates NDJSON output against docs/events.schema.json, the stage contract.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020.js';

const schemaPath = fileURLToPath(new URL('../../docs/events.schema.json', import.meta.url));
const ajv = new (Ajv2020 as unknown as typeof Ajv2020.default)({ allErrors: false, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));

/** Returns the first few problems of an NDJSON text, as `line N: message`. */
export function schemaErrors(ndjson: string, max = 5): string[] {
  const errors: string[] = [];
  const lines = ndjson.split('\n');
  for (let i = 0; i < lines.length && errors.length < max; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      errors.push(`line ${i + 1}: not JSON: ${(e as Error).message}`);
      continue;
    }
    if (!validate(rec)) errors.push(`line ${i + 1}: ${ajv.errorsText(validate.errors)}: ${line.slice(0, 200)}`);
  }
  return errors;
}

export function parseNdjson(text: string): Array<Record<string, any>> {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}
