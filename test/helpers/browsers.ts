/**
 * The two browsers people use, stock from Debian (`chromium`, `firefox-esr`), driven by one
 * script through puppeteer-core — Chromium over CDP, Firefox over WebDriver BiDi; nothing is
 * downloaded. A browser not installed is reported, and its tests skip.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export interface BrowserKind {
  readonly name: 'Chromium' | 'Firefox';
  readonly executable: string | undefined;
}

export const BROWSERS: readonly BrowserKind[] = [
  {
    name: 'Chromium',
    executable:
      process.env['CHROMIUM_PATH'] ??
      ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p)),
  },
  {
    name: 'Firefox',
    executable: process.env['FIREFOX_PATH'] ?? ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p)),
  },
];

export function launch(kind: BrowserKind): Promise<Browser> {
  if (!kind.executable) throw new Error(`${kind.name} is not installed (bash .ci/install installs it)`);
  return kind.name === 'Chromium'
    ? puppeteer.launch({
        browser: 'chrome',
        executablePath: kind.executable,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
      })
    : puppeteer.launch({ browser: 'firefox', executablePath: kind.executable, headless: true });
}
