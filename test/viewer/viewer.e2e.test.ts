import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../helpers/browser.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';
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

describe('the viewer in Chromium', () => {
  const { dir, cleanup } = tempDir();
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let serve: ServeProcess;

  beforeAll(async () => {
    // A random-weight DeepLab: 21 VOC classes, several of them present in every frame.
    serve = await startServe(['testsrc:320x180@30', '--model', writeModel(dir)]);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    cleanup();
  });

  it('draws live frames with the legend, fps and latency; opacity, hidden classes, CRF and pause work', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${serve.url}/`);
    await page.waitForFunction(
      () => (window as unknown as { viewerStats: Stats }).viewerStats.framesDrawn >= 5,
      undefined,
      {
        timeout: 30_000,
      },
    );

    const first = await canvasDigest(page);
    await page.waitForFunction(
      (n) => (window as unknown as { viewerStats: Stats }).viewerStats.framesDrawn >= n,
      (await stats(page)).framesDrawn + 3,
    );
    expect(await canvasDigest(page)).not.toBe(first); // the pattern moves

    const legend = await page.locator('#legend li').allTextContents();
    expect(legend).toHaveLength(21);
    expect(legend.slice(0, 3)).toEqual(['background', 'aeroplane', 'bicycle']);
    await page.waitForFunction(() => Number(document.getElementById('fps')!.textContent) > 0);
    const now = await stats(page);
    expect(now.fps).toBeGreaterThan(0);
    expect(now.latencyMs).toBeGreaterThan(0);
    expect(now.latencyMs).toBeLessThan(5000);
    expect(await page.locator('#streams li').first().getAttribute('data-stream-id')).toBe('testsrc');

    // Paused, the last frame stays: what changes now is the overlay alone.
    await page.click('#pause');
    await expect.poll(() => page.locator('#pause').textContent()).toBe('Resume');
    await new Promise((r) => setTimeout(r, 300));
    const present = await page.locator('#legend li.present').count();
    expect(present).toBeGreaterThan(1); // background and at least one drawn class
    await page.locator('#opacity').fill('0');
    const bare = await canvasDigest(page);
    await page.locator('#opacity').fill('1');
    const covered = await canvasDigest(page);
    expect(covered).not.toBe(bare);
    expect(await canvasDigest(page)).toBe(covered); // paused: nothing else changes it
    // Hiding every class present leaves the picture as at opacity 0.
    for (const box of await page.locator('#legend li.present input').all()) await box.uncheck();
    expect(await canvasDigest(page)).toBe(bare);

    await page.check('#crf');
    await serve.waitForLog(/stream testsrc: CRF on/);
    await page.click('#pause');
    const drawn = (await stats(page)).framesDrawn;
    await page.waitForFunction(
      (n) => (window as unknown as { viewerStats: Stats }).viewerStats.framesDrawn > n,
      drawn,
      {
        timeout: 30_000,
      },
    );
    expect(errors).toEqual([]);
    await page.close();
  });
});

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
