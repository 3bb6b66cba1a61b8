/**
 * The viewer with several streams (the grid) and with --token, in both browsers people use
 * (Debian's Chromium and Firefox ESR, through puppeteer-core). Its controls: viewerControls.e2e.test.ts.
 */
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSERS, launch } from '../helpers/browsers.js';
import { startServe, type ServeProcess } from '../helpers/liveServer.js';

interface Stats {
  framesDrawn: number;
  connected: boolean;
}
const stats = (page: Page) => page.evaluate(() => (window as unknown as { viewerStats: Stats }).viewerStats);
/** A digest of a stream's canvas pixels. */
const canvasDigest = (page: Page, streamId: string) =>
  page.evaluate((id) => {
    const canvas = document.querySelector(`#view canvas[data-stream-id="${id}"]`) as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let digest = 0;
    for (let i = 0; i < data.length; i += 7) digest = (digest * 31 + data[i]!) % 1_000_000_007;
    return digest;
  }, streamId);
const waitFor = (page: Page, fn: string, timeout = 30_000) =>
  page.waitForFunction(fn, { timeout, polling: 100 }).catch((error: unknown) => {
    throw new Error(`waiting for ${fn}: ${(error as Error).message}`);
  });

describe.each(BROWSERS.filter((b) => b.executable))('the viewer in $name', (kind) => {
  let browser: Browser;
  let several: ServeProcess;
  let guarded: ServeProcess;
  let tiled: ServeProcess;
  beforeAll(async () => {
    [several, guarded, tiled, browser] = await Promise.all([
      startServe(['testsrc:160x96@15', 'testsrc:192x108@15']),
      startServe(['testsrc:160x96@15', '--token', 'let-me-in']),
      startServe(['testsrc:160x96@15', '--tiles', '2x1']),
      launch(kind),
    ]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await several?.stop();
    await guarded?.stop();
    await tiled?.stop();
  });

  it("shows how old a tiled stream's scores are, and how many of its windows ran; nothing of it for an untiled one", async () => {
    const page = await browser.newPage();
    await page.goto(`${tiled.url}/`);
    await waitFor(page, 'window.viewerStats.framesDrawn >= 5');
    await waitFor(page, `!document.getElementById('scores-age-stat').hidden`);
    expect(await page.$eval('#scores-age', (b) => b.textContent)).toMatch(/^\d+$/);
    expect(await page.$eval('#windows-run', (s) => s.textContent)).toMatch(/^[0-2] of 2$/);
    expect(
      typeof (await page.evaluate(
        () => (window as unknown as { viewerStats: { scoresAgeMs: unknown } }).viewerStats.scoresAgeMs,
      )),
    ).toBe('number');
    await page.goto(`${several.url}/`);
    await waitFor(page, 'window.viewerStats.framesDrawn >= 3');
    expect(await page.$eval('#scores-age-stat', (s) => (s as HTMLElement).hidden)).toBe(true);
    await page.close();
  }, 60_000);

  it('lists two streams, shows one, then both in a grid, and a click on a tile focuses it', async () => {
    const page = await browser.newPage();
    await page.goto(`${several.url}/`);
    await waitFor(
      page,
      `[...document.querySelectorAll('#streams li')].map((i) => i.dataset.streamId).join() === 'testsrc,testsrc-2'`,
    );
    await waitFor(page, 'window.viewerStats.framesDrawn >= 3');
    expect(await page.$$eval('#view canvas', (c) => c.length)).toBe(1);
    await page.click('#grid');
    await waitFor(page, `document.querySelectorAll('#view canvas').length === 2`);
    // Both tiles get drawn, each at its stream's size.
    await waitFor(
      page,
      `[...document.querySelectorAll('#view canvas')].map((c) => c.width + 'x' + c.height).join() === '160x96,192x108'`,
    );
    const before = await canvasDigest(page, 'testsrc-2');
    const end = Date.now() + 10_000;
    while ((await canvasDigest(page, 'testsrc-2')) === before && Date.now() < end)
      await new Promise((r) => setTimeout(r, 100));
    expect(await canvasDigest(page, 'testsrc-2')).not.toBe(before);
    await page.click('#view canvas[data-stream-id="testsrc-2"]');
    await waitFor(page, `document.querySelectorAll('#view canvas').length === 1`);
    expect(await page.$eval('#streams li.selected', (li) => (li as HTMLElement).dataset['streamId'])).toBe('testsrc-2');
    await page.close();
  }, 60_000);

  it('gets no frames without the token, and frames with it', async () => {
    const page = await browser.newPage();
    await page.goto(`${guarded.url}/`);
    await waitFor(page, `/disconnected/.test(document.getElementById('connection').textContent)`, 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await stats(page)).framesDrawn).toBe(0);
    expect((await stats(page)).connected).toBe(false);
    await page.goto(`${guarded.url}/?token=let-me-in`);
    await waitFor(page, 'window.viewerStats.framesDrawn >= 3');
    await page.close();
  }, 60_000);
});
