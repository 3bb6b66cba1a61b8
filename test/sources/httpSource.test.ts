import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, writeClip } from '../helpers/fixtures.js';
import { startServe, TestViewer, type ServeProcess } from '../helpers/liveServer.js';

describe('serve http://', () => {
  const { dir, cleanup } = tempDir();
  let http: Server | null = null;
  let serve: ServeProcess | null = null;
  afterAll(async () => {
    await serve?.stop();
    http?.close();
    cleanup();
  });

  it('plays a video over HTTP, and opens it again when it ends (an outage, then live)', async () => {
    const clip = await writeClip(dir, 'clip.mp4', { width: 160, height: 96, frames: 20 });
    let requests = 0;
    http = createServer((_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': statSync(clip).size });
      createReadStream(clip).pipe(response);
    }).listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = http.address() as { port: number };
    serve = await startServe([`http://127.0.0.1:${port}/clip.mp4`]);
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 3, 30_000, 'frames over HTTP');
      expect(viewer.frames[0]!.header.streamId).toBe(`127.0.0.1-${port}-clip.mp4`);
      expect(viewer.frames[0]!.labels.length).toBe(160 * 96);
      await serve.waitForLog(/: outage: the stream ended; retrying in/, 30_000);
      await expect
        .poll(() => serve!.stderr().match(/: live\n/g)?.length ?? 0, { timeout: 30_000 })
        .toBeGreaterThanOrEqual(2);
      const seen = viewer.frames.length;
      await viewer.until((v) => v.frames.length > seen, 30_000, 'frames after reopening');
      expect(requests).toBeGreaterThanOrEqual(3); // the probe, the first play, the replay
    } finally {
      viewer.close();
    }
  });

  it('reports a server that stops sending with the connection open as an outage, reopens it, and never shows the password', async () => {
    // MPEG-TS sent up to its middle, then nothing: the connection stays open, as a hung server's does.
    const clip = await writeClip(dir, 'stall.ts', {
      width: 160,
      height: 96,
      frames: 400,
      codecArgs: ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-f', 'mpegts'],
    });
    const bytes = readFileSync(clip);
    const hung: import('node:http').ServerResponse[] = [];
    let requests = 0;
    const silent = createServer((_request, response) => {
      requests += 1;
      response.writeHead(200, { 'content-type': 'video/mp2t' });
      response.write(bytes.subarray(0, bytes.length >> 1));
      hung.push(response);
    }).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as { port: number };
    const stalling = await startServe([`http://admin:hunter2@127.0.0.1:${port}/live.ts`]);
    const viewer = await TestViewer.connect(`${stalling.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 1, 30_000, 'frames before the stall');
      const outage = await stalling.waitForLog(/: outage: no frame for [\d.]+ s: the source stalled/, 30_000);
      expect(outage).toContain('127.0.0.1');
      await expect
        .poll(() => stalling.stderr().match(/: live\n/g)?.length ?? 0, { timeout: 30_000 })
        .toBeGreaterThanOrEqual(2);
      expect(requests).toBeGreaterThanOrEqual(3); // the probe, the first play, the reopening
      const health = await (await fetch(`${stalling.url}/healthz`)).text();
      expect(health).toContain('127.0.0.1');
      expect(health).toContain('***@');
      for (const text of [health, stalling.stderr(), JSON.stringify(viewer.messages)])
        expect(text).not.toContain('hunter2');
    } finally {
      viewer.close();
      await stalling.stop();
      for (const response of hung) response.destroy();
      silent.close();
    }
  });
});
