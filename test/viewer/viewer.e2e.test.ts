/** The viewer in Chromium (playwright-core): several streams and the grid, and --token. Its controls run in both browsers: viewerControls.e2e.test.ts. */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { startServe, type ServeProcess } from '../helpers/liveServer.js';

type Stats = { framesDrawn: number; fps: number; latencyMs: number | null; connected: boolean };
const stats = (page: Page) => page.evaluate(() => (window as unknown as { viewerStats: Stats }).viewerStats);
/** A digest of a stream's canvas pixels (the first one shown by default). */
const canvasDigest = (page: Page, streamId?: string) =>
  page.evaluate((id) => {
    const canvas = document.querySelector(
      id ? `#view canvas[data-stream-id="${id}"]` : '#view canvas',
    ) as HTMLCanvasElement;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let digest = 0;
    for (let i = 0; i < data.length; i += 7) digest = (digest * 31 + data[i]!) % 1_000_000_007;
    return digest;
  }, streamId);

describe('the viewer with several streams', () => {
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let serve: ServeProcess;
  beforeAll(async () => {
    serve = await startServe(['testsrc:160x96@15', 'testsrc:192x108@15']);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it('lists both, shows one, then all in a grid, and a click on a tile focuses it', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${serve.url}/`);
    await expect
      .poll(
        () =>
          page.locator('#streams li').evaluateAll((items) => items.map((i) => (i as HTMLElement).dataset['streamId'])),
        {
          timeout: 30_000,
        },
      )
      .toEqual(['testsrc', 'testsrc-2']);
    await page.waitForFunction(
      () => (window as unknown as { viewerStats: Stats }).viewerStats.framesDrawn >= 3,
      undefined,
      {
        timeout: 30_000,
      },
    );
    expect(await page.locator('#view canvas').count()).toBe(1);
    await page.click('#grid');
    await expect.poll(() => page.locator('#view canvas').count()).toBe(2);
    // Both tiles get drawn, each at its stream's size.
    const sizes = () =>
      page
        .locator('#view canvas')
        .evaluateAll((canvases) =>
          canvases.map((c) => `${(c as HTMLCanvasElement).width}x${(c as HTMLCanvasElement).height}`),
        );
    await expect.poll(sizes, { timeout: 30_000 }).toEqual(['160x96', '192x108']);
    const before = await canvasDigest(page, 'testsrc-2');
    await expect.poll(() => canvasDigest(page, 'testsrc-2'), { timeout: 10_000 }).not.toBe(before);
    await page.click('#view canvas[data-stream-id="testsrc-2"]');
    await expect.poll(() => page.locator('#view canvas').count()).toBe(1);
    expect(await page.locator('#streams li.selected').getAttribute('data-stream-id')).toBe('testsrc-2');
    await page.close();
  });
});

describe('the viewer with --token', () => {
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let serve: ServeProcess;
  beforeAll(async () => {
    serve = await startServe(['testsrc:160x96@15', '--token', 'let-me-in']);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it('gets no frames without the token, and frames with it', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${serve.url}/`);
    await expect.poll(() => page.locator('#connection').textContent(), { timeout: 10_000 }).toMatch(/disconnected/);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await stats(page)).framesDrawn).toBe(0);
    expect((await stats(page)).connected).toBe(false);
    await page.goto(`${serve.url}/?token=let-me-in`);
    await page.waitForFunction(
      () => (window as unknown as { viewerStats: Stats }).viewerStats.framesDrawn >= 3,
      undefined,
      {
        timeout: 30_000,
      },
    );
    await page.close();
  });
});
