/**
 * Debian's chromium driven by playwright-core (no browser download): a fresh profile per launch, and a
 * page that records console errors, uncaught exceptions, CSP violations and failed requests.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.LVSD_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumSkipReason(): string | false {
  return existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)`;
}

export interface Watched {
  page: Page;
  /** console errors, page errors, CSP violations and failed requests, as text */
  problems: string[];
}

export class Chromium {
  private constructor(readonly browser: Browser, private readonly profile: string, readonly context: BrowserContext, private readonly timeoutMs: number) {}

  /** `netns`: run the browser inside that network namespace (through a wrapper script: `ip netns exec`). */
  /** `timeoutMs`: for the launch and each page step (default 60 s; minutes under the VM's emulation). */
  static async launch(opts: { netns?: string; timeoutMs?: number } = {}): Promise<Chromium> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const profile = mkdtempSync(join(tmpdir(), 'lvsd-chromium-'));
    let executablePath = CHROMIUM;
    if (opts.netns) {
      executablePath = join(profile, 'chromium-in-netns');
      writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${opts.netns} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    }
    const context = await chromium.launchPersistentContext(join(profile, 'profile'), {
      executablePath,
      headless: true,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: timeoutMs,
    });
    context.setDefaultTimeout(timeoutMs);
    return new Chromium(context.browser()!, profile, context, timeoutMs);
  }

  async open(url: string, viewport = { width: 1280, height: 900 }): Promise<Watched> {
    const page = await this.context.newPage();
    await page.setViewportSize(viewport);
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    // CSP violations also reach the console, but the event names the directive
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
    await page.goto(url, { waitUntil: 'load', timeout: this.timeoutMs });
    return { page, problems };
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    rmSync(this.profile, { recursive: true, force: true });
  }
}
