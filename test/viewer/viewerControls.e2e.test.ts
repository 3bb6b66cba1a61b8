/**
 * The viewer's own controls in both browsers people use (Debian's Chromium and Firefox ESR, one
 * script through puppeteer-core): live frames with fps and latency, opacity, hidden classes, pause,
 * and the CRF switch reaching the server.
 */
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSERS, launch } from '../helpers/browsers.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';
import { type ServeProcess, startServe } from '../helpers/liveServer.js';

interface Stats {
  framesDrawn: number;
  fps: number;
  latencyMs: number | null;
}
const stats = (page: Page) => page.evaluate(() => (window as unknown as { viewerStats: Stats }).viewerStats);
/** A digest of the shown canvas' pixels. */
const canvasDigest = (page: Page) =>
  page.evaluate(() => {
    const canvas = document.querySelector('#view canvas') as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let digest = 0;
    for (let i = 0; i < data.length; i += 7) digest = (digest * 31 + data[i]!) % 1_000_000_007;
    return digest;
  });
const setRange = (page: Page, id: string, value: string) =>
  page.$eval(
    `#${id}`,
    (input, v) => {
      (input as HTMLInputElement).value = v;
      input.dispatchEvent(new Event('input', { bubbles: true }));
    },
    value,
  );

describe.each(BROWSERS.filter((b) => b.executable))('the viewer in $name', (kind) => {
  const { dir, cleanup } = tempDir('dls-viewer-controls-');
  let serve: ServeProcess;
  let browser: Browser;
  beforeAll(async () => {
    // A random-weight DeepLab: 21 VOC classes, several of them present in every frame.
    serve = await startServe(['testsrc:320x180@30', '--model', writeModel(dir)]);
    browser = await launch(kind);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    cleanup();
  });

  it('draws live frames with fps and latency; opacity, hidden classes, pause and the CRF switch work', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`${serve.url}/`);
    await page.waitForFunction('window.viewerStats.framesDrawn >= 5', { timeout: 30_000 });
    const first = await canvasDigest(page);
    const drawn = (await stats(page)).framesDrawn;
    await page.waitForFunction(`window.viewerStats.framesDrawn >= ${drawn + 3}`, { timeout: 30_000 });
    expect(await canvasDigest(page)).not.toBe(first); // the pattern moves
    expect(await page.$$eval('#legend li', (items) => items.length)).toBe(21);
    await page.waitForFunction(`Number(document.getElementById('fps').textContent) > 0`, { timeout: 10_000 });
    const now = await stats(page);
    expect(now.latencyMs).toBeGreaterThan(0);
    expect(now.latencyMs).toBeLessThan(5000);

    // Paused, the last frame stays: what changes now is the overlay alone.
    await page.click('#pause');
    await page.waitForFunction(`document.getElementById('pause').textContent === 'Resume'`);
    await new Promise((r) => setTimeout(r, 300));
    expect(await page.$$eval('#legend li.present', (items) => items.length)).toBeGreaterThan(1);
    await setRange(page, 'opacity', '0');
    const bare = await canvasDigest(page);
    await setRange(page, 'opacity', '1');
    const covered = await canvasDigest(page);
    expect(covered).not.toBe(bare);
    expect(await canvasDigest(page)).toBe(covered); // paused: nothing else changes it
    // Hiding every class present leaves the picture as at opacity 0.
    for (const box of await page.$$('#legend li.present input')) await box.click();
    expect(await canvasDigest(page)).toBe(bare);

    await page.click('#crf');
    await serve.waitForLog(/stream testsrc: CRF on/);
    await page.click('#pause');
    const before = (await stats(page)).framesDrawn;
    await page.waitForFunction(`window.viewerStats.framesDrawn > ${before}`, { timeout: 30_000 });
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);
});
