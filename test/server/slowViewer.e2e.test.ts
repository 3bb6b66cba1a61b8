import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, TestViewer, type ServeProcess } from '../helpers/liveServer.js';

const metric = async (url: string, pattern: RegExp) =>
  Number(pattern.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? NaN);
const rss = (url: string) => metric(url, /^process_resident_memory_bytes (\d+)/m);
const pending = (url: string) => metric(url, /^deeplab_viewer_pending_bytes (\d+)/m);
const viewerDrops = (url: string) =>
  metric(url, /^deeplab_frames_dropped_total\{stream="testsrc",place="viewer"\} (\d+)/m);

describe('a viewer that stops reading', () => {
  let serve: ServeProcess;
  beforeAll(async () => {
    // 1080p frames: ~80 KB of JPEG each, 30 a second — an unbounded queue would grow by 2–3 MB a second.
    serve = await startServe(['testsrc:1920x1080@30']);
  });
  afterAll(async () => {
    await serve.stop();
  });

  it("leaves the server's memory bounded while frames to it are dropped, and the other viewers keep receiving", async () => {
    const slow = await TestViewer.connect(`${serve.url}/ws`);
    const healthy = await TestViewer.connect(`${serve.url}/ws`);
    await healthy.until((v) => v.frames.length >= 3, 60_000, 'first frames');
    const frameBytes = healthy.frames.at(-1)!.jpeg.length;
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    // The kernel's socket buffers fill first (loopback autotuning takes a few MB): until the
    // server starts dropping for the slow viewer, it is not slow yet.
    await expect.poll(() => viewerDrops(serve.url), { timeout: 30_000, interval: 200 }).toBeGreaterThan(0);
    const before = await rss(serve.url);
    const dropsBefore = await viewerDrops(serve.url);
    const seenBefore = healthy.frames.length;
    const samples: { rss: number; pending: number }[] = [];
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      samples.push({ rss: await rss(serve.url), pending: await pending(serve.url) });
    }
    const drops = (await viewerDrops(serve.url)) - dropsBefore;
    const published = healthy.frames.length - seenBefore;
    expect(published).toBeGreaterThan(12 * 5); // the healthy viewer kept receiving (30 fps offered)
    expect(drops).toBeGreaterThan(published * 0.8); // and the slow one lost nearly all of them
    // What the server holds for both viewers: at most 1 MiB unsent + 2 queued frames each, however
    // long the slow one stalls (kept, its frames would be published × frameBytes by now).
    const limit = 2 * ((1 << 20) + 3 * frameBytes);
    expect(published * frameBytes).toBeGreaterThan(2 * limit); // so the bound below can tell
    for (const sample of samples) expect(sample.pending).toBeLessThanOrEqual(limit);
    // And the process as a whole does not grow with the stall (GC swings of a few tens of MB aside).
    expect(Math.max(...samples.map((s) => s.rss)) - before).toBeLessThan(96 << 20);
    slow.close();
    healthy.close();
  });
});
