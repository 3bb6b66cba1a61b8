import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/fixtures.js';
import { startServe, TestViewer, type ServeProcess } from '../helpers/liveServer.js';

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  await new Promise((r) => probe.close(r));
  return port;
}

/** GStreamer's RTSP server in a child process; resolves once it listens. */
async function startRtspServer(port: number): Promise<ChildProcess> {
  const child = spawn('/usr/bin/python3', [path.join(repoRoot, 'test/helpers/rtspServer.py'), String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => (String(d).includes('ready') ? resolve() : undefined));
    child.once('exit', (code) => reject(new Error(`RTSP server exited (${code}): ${output}`)));
  });
  return child;
}

describe('serve rtsp://', () => {
  let rtsp: ChildProcess | null = null;
  let serve: ServeProcess | null = null;
  afterAll(async () => {
    await serve?.stop();
    rtsp?.kill('SIGKILL');
  });

  it('reconnects after the RTSP server restarts, reporting the outage, and frame indices keep growing', async () => {
    const port = await freePort();
    rtsp = await startRtspServer(port);
    serve = await startServe([`rtsp://127.0.0.1:${port}/test`]);
    const id = `127.0.0.1-${port}-test`;
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 5, 30_000, 'frames from the RTSP stream');
      expect(viewer.frames[0]!.header.streamId).toBe(id);
      expect(viewer.frames[0]!.header.width).toBe(320);
      const beforeOutage = viewer.frames.at(-1)!.header.index;

      rtsp.kill('SIGKILL');
      await once(rtsp, 'exit');
      const outage = await serve.waitForLog(new RegExp(`stream ${id}: outage`), 30_000);
      expect(outage).toMatch(/retrying in \d/);
      rtsp = await startRtspServer(port);

      const framesBefore = viewer.frames.length;
      await viewer.until((v) => v.frames.length >= framesBefore + 5, 60_000, 'frames after the restart');
      expect(viewer.frames.at(-1)!.header.index).toBeGreaterThan(beforeOutage);
      expect(serve.stderr()).toMatch(new RegExp(`stream ${id}: outage[^\\n]*\\n(.*\\n)*stream ${id}: live`));
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`deeplab_source_outages_total\\{stream="${id}"\\} [1-9]`));
    } finally {
      viewer.close();
    }
  });
});
