// gil-stats --format folded in speedscope (the npm package's own build,
// served from node_modules/speedscope/dist/release), in headless Chromium
// as a user would open it: the file imports, and speedscope's sandwich view
// gives the weights the file holds. Expected totals are summed from the
// file's lines here, by a few lines of independent code.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { root, runBin } from '../helpers/run.js';
import { CHROMIUM, browserAvailable } from '../helpers/viewer.js';

const SPEEDSCOPE = join(root, 'node_modules/speedscope/dist/release');
const capture = join(root, 'test/fixtures/pool_hog-py312.perf.txt.gz');
const tmp = mkdtempSync(join(tmpdir(), 'folded-speedscope-test-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

async function why(): Promise<string | undefined> {
  const browser = await browserAvailable();
  if (browser !== undefined) return browser;
  if (!existsSync(join(SPEEDSCOPE, 'index.html'))) return `${SPEEDSCOPE} not found (npm install: speedscope is a dev dependency)`;
  if (!existsSync(capture)) return `${capture} has not been recorded`;
  return undefined;
}

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.png': 'image/png' };

/** speedscope's files, and the profile at /profile.folded, on 127.0.0.1 (it fetches the profile by URL). */
async function serve(profile: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path === '/profile.folded' ? profile : join(SPEEDSCOPE, path === '/' ? 'index.html' : path);
    if (!file.startsWith(SPEEDSCOPE) && file !== profile) return res.writeHead(403).end();
    if (!existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'text/plain' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

t.test('the blame flame graph opens in speedscope with the weights of the file', async (t) => {
  const skip = await why();
  if (skip) {
    console.log(`# skipping the speedscope test: ${skip}`);
    return t.skip(skip);
  }
  const r = await runBin('gil-stats', [capture, '--format', 'folded']);
  t.equal(r.exitCode, 0);
  const file = join(tmp, 'blame.folded');
  writeFileSync(file, String(r.stdout));
  // The file's own sums: the root frame `hog`, and parse_all wherever it is (once per line).
  const lines = String(r.stdout).trimEnd().split('\n').map((l) => ({ frames: l.slice(0, l.lastIndexOf(' ')).split(';'), w: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
  const sum = (f: (frames: string[]) => boolean): number => lines.filter((l) => f(l.frames)).reduce((a, l) => a + l.w, 0);
  const parseAll = lines.flatMap((l) => l.frames).find((f) => f.startsWith('py::parse_all:'))!;
  const want = { hog: sum((f) => f[0] === 'hog'), [parseAll]: sum((f) => f.includes(parseAll)) };

  const { chromium } = await import('playwright-core');
  const { server, base } = await serve(file);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${base}/index.html#profileURL=${encodeURIComponent(`${base}/profile.folded`)}&title=blame`);
    await page.waitForFunction(() => document.body.innerText.includes('Sandwich'), undefined, { timeout: 30_000 });
    await page.keyboard.press('3'); // the sandwich view: a table of every frame, total and self
    await page.waitForFunction(() => document.body.innerText.includes('Symbol Name'), undefined, { timeout: 30_000 });
    // The table is virtualised: filter it to one symbol at a time (speedscope's search, Ctrl+F).
    for (const [symbol, total] of Object.entries(want)) {
      // Ctrl+F opens the search box once speedscope handles keys; pressed before, the
      // letters typed next are its hotkeys instead. Pressed until the box has the focus.
      let searching = false;
      for (let tries = 0; tries < 10 && !searching; tries++) {
        await page.keyboard.press('Control+f');
        searching = await page
          .waitForFunction(() => document.activeElement?.tagName === 'INPUT', undefined, { timeout: 2_000 })
          .then(() => true, () => false);
      }
      t.ok(searching, 'the search box opens');
      await page.keyboard.type(symbol);
      // The filter applies after a render: poll for the row (a fixed pause lost the race on a loaded CI machine).
      const pattern = `(?:^|\\n)([\\d,]+) \\(<?[\\d.]+%\\)\\s+[\\d,]+ \\(<?[\\d.]+%\\)\\s+${symbol.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`;
      await page.waitForFunction((p) => new RegExp(p).test(document.body.innerText + '\n'), pattern, { timeout: 15_000 }).catch(() => undefined);
      const text = await page.evaluate(() => document.body.innerText);
      const row = new RegExp(pattern).exec(text + '\n');
      t.ok(row, `speedscope lists ${symbol}`);
      if (!row) t.comment(`the page said: ${text.slice(0, 600)}`);
      if (row) t.equal(Number(row[1]!.replace(/,/g, '')), total, `with the total the file gives it (${total} µs)`);
      await page.keyboard.press('Escape');
    }
    t.same(errors, [], 'no page errors');
  } finally {
    await browser.close();
    server.close();
  }
});
