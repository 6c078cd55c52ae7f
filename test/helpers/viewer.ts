// Open a trace in the real Catapult trace viewer, headless, as a user would,
// and read back what it made of it.
//
//   const why = await viewerAvailable();          // undefined = can run
//   const s = await openInViewer(jsonText, { screenshot: 'out.png' });
//   const v = await launchViewer(); try { await v.open(a); await v.open(b) } finally { await v.close() }
//   s.importWarnings, s.processes[0].threads[0].slices, ...
//
// Chromium is Debian's (/usr/bin/chromium, driven by playwright-core; browser
// downloads do not work here). The viewer is the copy of Catapult that Debian
// ships for `go tool trace` in golang-1.19-src; scripts/install-test-deps.sh
// extracts its two files into a cache dir. The page and the trace are served
// over HTTP on 127.0.0.1 because the HTML-import polyfill fetches with XHR.
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, mkdtempSync, rmSync, accessSync, constants } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';

export const CHROMIUM = '/usr/bin/chromium';
const VIEWER_FILES = ['trace_viewer_full.html', 'webcomponents.min.js'];
const PAGE = fileURLToPath(new URL('./viewer.html', import.meta.url));
const LAUNCH_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Where the viewer files may be, in the order they are looked for. */
export function viewerDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.GILPIPE_VIEWER_DIR) dirs.push(process.env.GILPIPE_VIEWER_DIR);
  dirs.push(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gilpipe-viewer'));
  dirs.push('/var/cache/gilpipe-viewer', '/usr/share/go-1.19/src/cmd/trace/static');
  return dirs;
}

export function findViewerDir(): string | undefined {
  return viewerDirs().find((d) => VIEWER_FILES.every((f) => existsSync(join(d, f))));
}

/** Why headless Chromium cannot be driven here (no Chromium, no playwright-core), or undefined if it can. */
export async function browserAvailable(): Promise<string | undefined> {
  try {
    accessSync(CHROMIUM, constants.X_OK);
  } catch {
    return `${CHROMIUM} not found (apt-get install chromium; see scripts/install-test-deps.sh)`;
  }
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (npm install)';
  }
  return undefined;
}

/** Why the viewer cannot run here, or undefined if it can. */
export async function viewerAvailable(): Promise<string | undefined> {
  const browser = await browserAvailable();
  if (browser !== undefined) return browser;
  if (!findViewerDir()) {
    return `Catapult viewer files not found in ${viewerDirs().join(', ')} (run scripts/install-test-deps.sh)`;
  }
  return undefined;
}

export interface ThreadSummary {
  tid: number;
  name: string | undefined;
  /** title -> count, over every slice on the thread (nested ones too) */
  slices: Record<string, number>;
  /** titles of slices (async ones too) that got no drawn track (should be empty) */
  undrawn: string[];
  /** title -> count of async slices that start on this thread (sub-slices too) */
  asyncSlices: Record<string, number>;
}
export interface CounterSummary {
  name: string;
  category: string;
  series: Array<{ name: string; samples: number; values: number[] }>;
}
export interface ProcessSummary {
  pid: number;
  name: string | undefined;
  threads: ThreadSummary[];
  counters: CounterSummary[];
  /** process-scoped instants (s:"p"), by title */
  instantEvents: Record<string, number>;
  /** tids in the order the viewer lists the threads (Thread.compare: thread_sort_index, then name) */
  threadOrder: number[];
}
export interface ViewerSummary {
  importWarnings: string[];
  processes: ProcessSummary[];
  flowEvents: number;
  /** flow events whose both ends are bound to slices */
  flowEventsBound: number;
  /** global instants (s:"g"), by title */
  globalInstantEvents: Record<string, number>;
  /** pids in the order the viewer draws the processes, top first (Process.compare: process_sort_index, then name) */
  processOrder: number[];
  /** errors thrown in the page (the viewer's own bugs or ours) */
  pageErrors: string[];
  /** how long loading and importing took in the browser, ms */
  loadMs: number;
}

export interface ViewerOptions {
  /** write a PNG of the viewer here */
  screenshot?: string;
  /** give up after this long (default 60 s) */
  timeoutMs?: number;
  width?: number;
  height?: number;
}

export interface ViewerSession {
  /** Open one trace in a fresh tab and summarise it (see openInViewer). */
  open(trace: string | { file: string }, opts?: ViewerOptions): Promise<ViewerSummary>;
  /** Close the browser and delete its profile. */
  close(): Promise<void>;
}

/**
 * Start one headless Chromium for several traces (a launch costs seconds).
 * Always close() it, in a finally or a teardown.
 */
export async function launchViewer(opts: { timeoutMs?: number } = {}): Promise<ViewerSession> {
  const dir = findViewerDir();
  if (!dir) throw new Error('Catapult viewer files not found; see viewerAvailable()');
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'gilpipe-chromium-'));
  let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>>;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: LAUNCH_ARGS,
      timeout: opts.timeoutMs ?? 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    open: (trace, o = {}) => openPage(context, dir, trace, o),
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Load a trace (JSON text, or { file } for a path on disk) into the Catapult
 * viewer and summarise the model it built. Throws if the import fails
 * outright (e.g. truncated JSON): that is what a user would see too.
 */
export async function openInViewer(trace: string | { file: string }, opts: ViewerOptions = {}): Promise<ViewerSummary> {
  const session = await launchViewer(opts);
  try {
    return await session.open(trace, opts);
  } finally {
    await session.close();
  }
}

type Context = Awaited<ReturnType<typeof import('playwright-core').chromium.launchPersistentContext>>;

async function openPage(context: Context, dir: string, trace: string | { file: string }, opts: ViewerOptions): Promise<ViewerSummary> {
  const timeout = opts.timeoutMs ?? 60_000;
  const server = serve(dir, trace);
  const page = await context.newPage();
  try {
    const port = await listening(server);
    await page.setViewportSize({ width: opts.width ?? 1400, height: opts.height ?? 900 });
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    const t0 = Date.now();
    await page.goto(`http://127.0.0.1:${port}/`, { timeout });
    await page.waitForFunction(() => (window as any).harness?.state !== 'loading', undefined, { timeout });
    const loadMs = Date.now() - t0;
    const failed = await page.evaluate(() => (window as any).harness.error as string | undefined);
    if (failed) throw new Error(`the viewer could not import the trace: ${failed.split('\n')[0]}`);
    // Let the track view build, zoom to the trace and paint before asking
    // which slices it drew; a view that never settles is still summarised.
    await page
      .waitForFunction(() => (window as any).harness.settled(), undefined, { timeout: Math.min(timeout, 10_000) })
      .catch(() => undefined);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    // summarize() lives in viewer.html: code passed from here would carry
    // the TypeScript loader's helpers, which do not exist in the page.
    const summary = (await page.evaluate(() => (window as any).harness.summarize())) as Omit<ViewerSummary, 'pageErrors' | 'loadMs'>;
    if (opts.screenshot) await page.screenshot({ path: opts.screenshot });
    return { ...summary, pageErrors, loadMs };
  } finally {
    await page.close().catch(() => undefined);
    // Close the browser's idle keep-alive sockets first: server.close() waits
    // for every connection to end, which Chromium may hold open for minutes.
    const closed = new Promise((r) => server.close(r));
    server.closeAllConnections?.();
    await closed;
  }
}

function serve(dir: string, trace: string | { file: string }): Server {
  return createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (type: string, body: string | { file: string }) => {
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      if (typeof body === 'string') res.end(body);
      else createReadStream(body.file).on('error', () => res.destroy()).pipe(res);
    };
    if (url === '/') send('text/html; charset=utf-8', { file: PAGE });
    else if (url === '/trace.json') send('application/json', trace);
    else if (url === '/static/trace_viewer_full.html') send('text/html; charset=utf-8', { file: join(dir, VIEWER_FILES[0]!) });
    else if (url === '/static/webcomponents.min.js') send('text/javascript', { file: join(dir, VIEWER_FILES[1]!) });
    else {
      res.writeHead(404);
      res.end();
    }
  });
}

function listening(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
