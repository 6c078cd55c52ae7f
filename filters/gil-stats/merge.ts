// Summaries of many captures combined into one (gil-stats --merge), as if one
// run had read all their inputs: sums add, maxima take the larger, histograms
// add bucket by bucket, longest-N lists keep the N longest of all, and the
// derived figures are computed again from the result.
import { LogHistogram, type HistogramJSON } from '../../lib/histogram.js';
import { finish } from './derive.js';
import { GIL_STATS_VERSION, PROCESS_SUMS, THREAD_SUMS, WINDOW_SUMS, rowKey, type GilStatsJSON } from './summary.js';

/** Is this parsed JSON a summary this version can merge? Returns why not, or undefined. */
export function checkSummary(j: unknown): string | undefined {
  if (j === null || typeof j !== 'object' || !('type' in j) || j.type !== 'gil_stats') {
    return 'not a gil-stats JSON summary (gil-stats --format json writes them)';
  }
  const v = 'version' in j ? j.version : undefined;
  if (v !== GIL_STATS_VERSION) return `gil_stats version ${String(v)}, this gil-stats reads version ${GIL_STATS_VERSION}`;
  for (const k of ['processes', 'threads', 'windows', 'sources'] as const) {
    if (!Array.isArray(Reflect.get(j, k))) return `gil_stats without a "${k}" array`;
  }
  return undefined;
}

/** The text of the summary file `name` as a summary, or why it is not one (`name:` first). */
export function parseSummary(text: string, name: string): GilStatsJSON | string {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    return `${name}:1: not JSON (${(e as Error).message})`;
  }
  const why = checkSummary(j);
  if (why) return `${name}: ${why}`;
  // The one cast of a summary read back: its type, version and lists were checked above.
  const summary = j as GilStatsJSON;
  // Fields added since version 1 was first written: a summary without them had none to say.
  summary.capture_ids ??= [];
  summary.origins ??= [];
  for (const p of summary.processes) {
    p.pids_inferred ??= false;
    p.two_holders ??= 0;
    p.overlapping_holds ??= 0;
    p.callchains ??= 0;
  }
  return summary;
}

function addHist(a: HistogramJSON, b: HistogramJSON): HistogramJSON {
  const h = LogHistogram.fromJSON(a);
  h.merge(LogHistogram.fromJSON(b));
  return h.toJSON();
}

/** Adds the `keys` of `from` into `into`. */
function addUp<K extends string>(into: Record<K, number>, from: Record<K, number>, keys: readonly K[]): void {
  for (const k of keys) into[k] += from[k];
}

/**
 * Combines summaries as if one run had read all their inputs. Throws an
 * Error with the reason when the summaries were made with different options
 * (a TypeError: one of them lacks a field, a foreign or hand-edited summary).
 */
export function merge(list: GilStatsJSON[], names: string[] = list.map((_s, i) => `summary ${i + 1}`)): GilStatsJSON {
  if (list.length === 0) throw new Error('nothing to merge');
  // A capture in two summaries would count twice. Only the same recording
  // under two known, different hosts is two captures (copies labelled per
  // host); one relabelled, or of no known host, is the same one twice.
  const whose = new Map<string, Array<{ name: string; host: string | null }>>();
  list.forEach((s, i) => {
    const ids: Array<{ id: string; host: string | null }> =
      s.origins.length > 0 ? s.origins.filter((o) => o.capture !== null).map((o) => ({ id: o.capture!, host: o.host })) : s.capture_ids.map((id) => ({ id, host: null }));
    for (const { id, host } of ids) {
      const seen = whose.get(id) ?? [];
      const same = seen.find((x) => x.host === null || host === null || x.host === host);
      if (same !== undefined) throw new Error(`cannot merge: ${same.name} and ${names[i]} hold the same capture (id ${id}); give each capture once`);
      seen.push({ name: names[i]!, host });
      whose.set(id, seen);
    }
  });
  const o = list[0]!.options;
  for (const s of list) {
    for (const k of ['switch_interval_ns', 'hog_ns', 'top', 'interval_ns'] as const) {
      if (s.options[k] !== o[k]) throw new Error(`summaries made with different options: ${k} ${o[k]} and ${s.options[k]}`);
    }
  }
  const out: GilStatsJSON = structuredClone(list[0]!);
  // Rows of different origins (hosts, captures) stay apart; only rows of
  // summaries written before origins meet by pid.
  const procs = new Map(out.processes.map((p) => [rowKey(p), p]));
  const threads = new Map(out.threads.map((t) => [rowKey(t), t]));
  const windows = new Map(out.windows.map((w) => [`${rowKey(w)}@${w.start_ns}`, w]));
  for (const s0 of list.slice(1)) {
    const s = structuredClone(s0);
    for (const src of s.sources) if (!out.sources.includes(src)) out.sources.push(src);
    out.captures += s.captures;
    const firsts = [out.first_ts, s.first_ts].filter((x): x is number => typeof x === 'number');
    out.first_ts = firsts.length > 0 ? Math.min(...firsts) : null;
    if (s.partial) out.partial = true;
    out.capture_ids.push(...s.capture_ids);
    out.origins.push(...s.origins);
    for (const g of s.gil_sources) if (!out.gil_sources.includes(g)) out.gil_sources.push(g);
    out.lost += s.lost;
    out.anomalies += s.anomalies;
    out.unknown_spans += s.unknown_spans;
    for (const [k, n] of Object.entries(s.diagnostics)) out.diagnostics[k] = (out.diagnostics[k] ?? 0) + n;
    out.top.waits.push(...s.top.waits);
    out.top.holds.push(...s.top.holds);
    for (const p of s.processes) {
      const q = procs.get(rowKey(p));
      if (!q) {
        procs.set(rowKey(p), p);
        out.processes.push(p);
        continue;
      }
      q.comm = p.comm ?? q.comm;
      q.gil ||= p.gil;
      q.holds_known ||= p.holds_known;
      q.pids_inferred ||= p.pids_inferred;
      q.sched ||= p.sched;
      addUp(q, p, PROCESS_SUMS);
      q.max_waiters = Math.max(q.max_waiters, p.max_waiters);
      q.hogs.count += p.hogs.count;
      q.hogs.hold_ns += p.hogs.hold_ns;
      q.hogs.longest.push(...p.hogs.longest);
      const blame = new Map(q.blame.map((b) => [`${b.waiter}:${b.holder}`, b]));
      for (const b of p.blame) {
        const c = blame.get(`${b.waiter}:${b.holder}`);
        if (c) c.ns += b.ns;
        else {
          q.blame.push(b);
          blame.set(`${b.waiter}:${b.holder}`, b);
        }
      }
      q.wait_hist = addHist(q.wait_hist, p.wait_hist);
      q.hold_hist = addHist(q.hold_hist, p.hold_hist);
    }
    for (const t of s.threads) {
      const k = rowKey(t);
      const u = threads.get(k);
      if (!u) {
        threads.set(k, t);
        out.threads.push(t);
        continue;
      }
      u.comm = t.comm ?? u.comm;
      u.main ||= t.main;
      u.sched ||= t.sched;
      addUp(u, t, THREAD_SUMS);
      if (t.longest_hold && (!u.longest_hold || t.longest_hold.dur_ns > u.longest_hold.dur_ns)) u.longest_hold = t.longest_hold;
      u.wait_hist = addHist(u.wait_hist, t.wait_hist);
      u.hold_hist = addHist(u.hold_hist, t.hold_hist);
      addUp(u.per4m, t.per4m, ['total_ns', 'hold_ns', 'wait_ns'] as const);
    }
    for (const w of s.windows) {
      const k = `${rowKey(w)}@${w.start_ns}`;
      const x = windows.get(k);
      if (!x) {
        windows.set(k, w);
        out.windows.push(w);
        continue;
      }
      addUp(x, w, WINDOW_SUMS);
    }
  }
  return finish(out);
}
