/**
 * The viewer as a dashboard, in both browsers people use (Debian's Chromium and Firefox ESR): a
 * stream added from the page, a zone drawn on the picture by clicking its corners, the zone's
 * events arriving in the page with their clip playable, the class-share chart drawn, the stream
 * removed from the page.
 */
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSERS, launch } from '../helpers/browsers.js';
import { tempDir } from '../helpers/fixtures.js';
import { type ServeProcess, startServe } from '../helpers/liveServer.js';
import { clipsServeArgs, writeColourModel, writeZoneClip } from '../helpers/zoneScene.js';

for (const kind of BROWSERS)
  if (!kind.executable)
    console.warn(`skipping the dashboard in ${kind.name}: not installed (bash .ci/install installs it)`);

describe.each(BROWSERS.filter((b) => b.executable))('the dashboard in $name', (kind) => {
  const { dir, cleanup } = tempDir('dls-dashboard-page-');
  let serve: ServeProcess;
  let browser: Browser;
  let clip: string;

  beforeAll(async () => {
    const model = writeColourModel(dir);
    // The square comes at 6 s: time to draw the zone first.
    clip = await writeZoneClip(dir, 'page.mp4', { seconds: 11, enter: 6, leave: 8 });
    serve = await startServe(clipsServeArgs(model, dir, path.join(dir, 'clips')));
    browser = await launch(kind);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    cleanup();
  });

  const waitFor = (page: Page, fn: string, timeout = 30_000) =>
    page.waitForFunction(fn, { timeout, polling: 100 }).catch((error: unknown) => {
      throw new Error(`waiting for ${fn}: ${(error as Error).message}`);
    });

  it('adds a stream, draws a zone by its corners, shows its events and clip and the chart, removes the stream', async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1000 });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(`${serve.url}/`);
    await waitFor(page, 'window.viewerStats?.connected === true');

    await page.type('#add-input', clip);
    await page.type('#add-id', 'door');
    await page.click('#add-stream button[type=submit]');
    await waitFor(page, `document.querySelector('#streams li[data-stream-id="door"]') !== null`);
    await waitFor(page, 'window.viewerStats.framesDrawn >= 3');

    // The zone: the lower-right quarter, clicked corner by corner on the picture.
    await page.click('#new-zone');
    const canvas = (await page.$('#view canvas[data-stream-id="door"]'))!;
    await canvas.scrollIntoView();
    const box = (await canvas.boundingBox())!;
    for (const [x, y] of [
      [0.5, 0.5],
      [0.995, 0.5],
      [0.995, 0.995],
      [0.5, 0.995],
    ] as const)
      await page.mouse.click(box.x + x * box.width, box.y + y * box.height);
    await page.type('#zone-name', 'corner');
    await page.select('#zone-classes', 'person');
    await page.$eval('#zone-min-share', (e) => ((e as HTMLInputElement).value = '10'));
    await page.$eval('#zone-min-seconds', (e) => ((e as HTMLInputElement).value = '0.5'));
    await page.click('#zone-save');
    await waitFor(page, `document.querySelector('#zones li[data-zone="corner"]') !== null`);
    const { zones } = (await (await fetch(`${serve.url}/api/streams/door/zones`)).json()) as {
      zones: { polygon: [number, number][]; classes: string[]; minShare: number }[];
    };
    expect(zones).toHaveLength(1);
    expect(zones[0]!.classes).toEqual(['person']);
    expect(zones[0]!.minShare).toBeCloseTo(0.1, 6);
    zones[0]!.polygon.forEach(([x, y], i) => {
      expect(Math.abs(x - [0.5, 1, 1, 0.5][i]!)).toBeLessThan(0.02);
      expect(Math.abs(y - [0.5, 0.5, 1, 1][i]!)).toBeLessThan(0.02);
    });

    // The square comes and goes: both events in the page's list, the first with its clip.
    await waitFor(page, `document.querySelector('#events li[data-type="zone.free"]') !== null`, 40_000);
    const listed = await page.$$eval('#events li', (items) => items.map((i) => i.dataset['type']));
    expect(listed).toEqual(['zone.free', 'zone.occupied']);
    await waitFor(page, `document.querySelector('#zones li[data-zone="corner"]').dataset.occupied === 'false'`);
    // The chart: uPlot drew the person's share, which was above zero while the square was there.
    expect(await page.$('#chart canvas')).not.toBeNull();
    const personSeen = await page.evaluate(() => {
      const board = (window as unknown as { dashboardState: { history: Map<string, { shares: Float64Array }[]> } })
        .dashboardState;
      return (board.history.get('door') ?? []).some((s) => s.shares[1]! > 0.05);
    });
    expect(personSeen).toBe(true);

    // The clip plays (once written: the page says so until then).
    const play = async () => {
      await page.$eval('#clip-note', (e) => (e.textContent = ''));
      await page.click('#events li[data-type="zone.occupied"] button.play');
      await waitFor(page, `document.getElementById('clip-note').textContent !== ''`);
      return page.$eval('#clip-note', (e) => e.textContent ?? '');
    };
    let note = await play();
    for (let tries = 0; tries < 50 && /being recorded/.test(note); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      note = await play();
    }
    expect(note).toMatch(/^door-corner-.*\.mp4$/);
    const playable = await page.$eval('#clip-player', (v) =>
      (v as HTMLVideoElement).canPlayType('video/mp4; codecs="avc1.42E01E"'),
    );
    if (playable) {
      await waitFor(page, `document.getElementById('clip-player').readyState >= 1`);
      const duration = await page.$eval('#clip-player', (v) => (v as HTMLVideoElement).duration);
      expect(duration).toBeGreaterThan(1.7);
      expect(duration).toBeLessThan(2.4);
    } else console.warn(`${kind.name} here cannot play H.264: the clip's bytes were served, its playback not checked`);

    await page.click('#streams li[data-stream-id="door"] button.remove');
    await waitFor(page, `document.querySelector('#streams li[data-stream-id="door"]') === null`);
    expect(errors).toEqual([]);
  }, 90_000);
});
