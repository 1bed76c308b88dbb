// The project's real-browser harness: Debian's chromium-headless-shell driven by playwright-core
// (no browser download: CI installs the Debian package with apt-get, see .ci/run), and a static
// file server on 127.0.0.1 for a built page. Specs that need the browser call `hasChromium()` and
// skip, saying so, where it is missing.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where Debian's chromium-headless-shell package installs the browser. */
export const CHROMIUM_PATH = process.env.MODEROUTE_CHROMIUM ?? '/usr/bin/chromium-headless-shell';

/** Whether the headless browser is installed (specs skip with a message when it is not). */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM_PATH);
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/** A running static server: its base URL (ending in `/`) and how to stop it. */
export interface StaticServer {
  /** The base URL, for example `http://127.0.0.1:40123/`. */
  url: string;
  /** Stops the server. */
  close(): Promise<void>;
}

/**
 * Serves the files under `root` on 127.0.0.1 at a free port (`/` serves `index.html`), refusing
 * paths that leave `root`. No server logic: what works here works from any static host.
 */
export async function serveDirectory(root: string): Promise<StaticServer> {
  const base = normalize(root);
  const server = createServer((req, res) => {
    let path = normalize(
      join(base, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)),
    );
    if (path !== base && !path.startsWith(base + sep)) return void res.writeHead(403).end();
    if (existsSync(path) && statSync(path).isDirectory()) path = join(path, 'index.html');
    if (!existsSync(path)) return void res.writeHead(404).end();
    const type = CONTENT_TYPES[extname(path)] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type }).end(readFileSync(path));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Launches headless Chromium with software WebGL (SwiftShader), so tfjs's webgl backend runs on
 * machines without a GPU.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      '--ignore-gpu-blocklist',
    ],
  });
}

/**
 * Collects a page's uncaught errors and console errors, so a spec can assert there were none;
 * call before navigating.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
  });
  return errors;
}
