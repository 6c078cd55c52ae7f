// Where a summary's rows came from: the --label pairs a user gives, and how
// an origin (host, capture, labels) is named in a table and looked up by --by.
import { UsageError } from '../../lib/errors.js';
import type { GilStatsJSON, OriginJSON } from './summary.js';

/** Label names as Prometheus and OpenMetrics allow them, so every label can become a metric label. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Names the metrics give their own labels (openmetrics.ts). */
export const RESERVED = ['pid', 'comm', 'thread', 'le'];

/** `--label key=value` pairs as an object; a malformed or repeated key is a usage error. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    if (eq === -1 || !LABEL_NAME.test(key)) {
      throw new UsageError(`--label wants KEY=VALUE with KEY of letters, digits and _ (not starting with a digit), not '${pair}'`);
    }
    if (RESERVED.includes(key)) throw new UsageError(`--label ${key}: that name is one gil-stats gives its own rows (${RESERVED.join(', ')}); choose another`);
    if (Object.hasOwn(labels, key)) throw new UsageError(`--label ${key} given twice`);
    if (eq === pair.length - 1) throw new UsageError(`--label ${key}= has no value: give ${key}=VALUE`);
    labels[key] = pair.slice(eq + 1);
  }
  return labels;
}

/** Each origin by its key. */
export function originsByKey(s: GilStatsJSON): Map<string, OriginJSON> {
  return new Map(s.origins.map((o) => [o.key, o]));
}

/**
 * What a process's title adds about its origin: the host, and the capture
 * when the summary holds several (two captures of one host, same pid).
 */
export function originTitle(s: GilStatsJSON, row: { origin?: string }): string {
  const o = s.origins.find((x) => x.key === row.origin);
  if (!o) return '';
  const parts: string[] = [];
  if (o.host !== null) parts.push(`host ${o.host}`);
  if (s.origins.length > 1) parts.push(o.capture !== null ? `capture ${o.capture}` : o.source);
  for (const [k, v] of Object.entries(o.labels)) parts.push(`${k}=${v}`);
  return parts.length > 0 ? `, ${parts.join(', ')}` : '';
}
