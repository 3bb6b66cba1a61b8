import { request } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir, writeClip, writeModel } from '../../helpers/fixtures.js';
import { startServe, TestViewer, type ServeProcess } from '../../helpers/liveServer.js';

describe('deeplab-stream serve', () => {
  let serve: ServeProcess;
  beforeAll(async () => {
    serve = await startServe(['testsrc:320x180@30', 'camera:9']);
  });
  afterAll(async () => {
    await serve.stop();
  });

  it('streams testsrc frames with ids, growing indices, ordered timestamps and a label map per frame', async () => {
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 10, 30_000, '10 frames');
      const hello = viewer.messages.find((m) => m.type === 'hello') as
        { classes: { name: string }[]; streams: { id: string }[] } | undefined;
      expect(hello?.classes.map((c) => c.name)).toEqual(['background', 'person']);
      expect(hello?.streams.map((s) => s.id)).toEqual(['testsrc', 'camera9']);
      const frames = viewer.frames.map((f) => f.header);
      expect(new Set(frames.map((f) => f.streamId))).toEqual(new Set(['testsrc']));
      for (let i = 1; i < frames.length; i++) expect(frames[i]!.index).toBeGreaterThan(frames[i - 1]!.index);
      for (const f of viewer.frames) {
        expect(f.header.width).toBe(320);
        expect(f.labels.length).toBe(320 * 180);
        expect(f.header.capturedAt).toBeLessThanOrEqual(f.header.inferredAt);
        expect(f.header.inferredAt).toBeLessThanOrEqual(f.header.sentAt);
        expect(f.header.sentAt).toBeLessThanOrEqual(Date.now());
        expect([...f.jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]); // a JPEG
      }
    } finally {
      viewer.close();
    }
  });

  it('reports the missing camera in one line and keeps serving the other stream', async () => {
    const line = await serve.waitForLog(/camera9/);
    expect(line).toMatch(/there is no \/dev\/video9/);
    const health = (await (await fetch(`${serve.url}/healthz`)).json()) as {
      streams: { id: string; status: string; fps: number }[];
    };
    const byId = Object.fromEntries(health.streams.map((s) => [s.id, s]));
    expect(byId['camera9']!.status).toMatch(/outage|connecting/);
    expect(byId['testsrc']!.status).toBe('live');
    expect(serve.stderr()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("switches the CRF per stream on a viewer's control message and says so in each frame", async () => {
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 2, 30_000, 'frames');
      expect(viewer.frames.at(-1)!.header.crf).toBe(false);
      viewer.send({ type: 'crf', streamId: 'testsrc', on: true });
      await viewer.until((v) => v.frames.some((f) => f.header.crf), 30_000, 'a CRF-refined frame');
      const refined = viewer.frames.find((f) => f.header.crf)!;
      expect(refined.header.stageMs['crf']).toBeGreaterThan(0);
      // The first refined frame starts cold, the next ones from the frame before (incremental)
      // unless most of the picture changed.
      await viewer.until((v) => v.frames.filter((f) => f.header.crf).length >= 4, 30_000, 'more CRF-refined frames');
      const metrics = await (await fetch(`${serve.url}/metrics`)).text();
      expect(metrics).toMatch(/deeplab_crf_frames_total\{stream="testsrc",start="cold"\} [1-9]/);
      expect(metrics).toMatch(/deeplab_crf_frames_total\{stream="testsrc",start="warm"\} [1-9]/);
      expect(metrics).toMatch(/deeplab_crf_active_share_count [1-9]/);
      viewer.send({ type: 'crf', streamId: 'testsrc', on: false });
      await viewer.until(
        (v) =>
          v.messages.some(
            (m) =>
              m.type === 'streams' &&
              (m['streams'] as { id: string; crf: boolean }[]).find((s) => s.id === 'testsrc')?.crf === false,
          ),
        10_000,
        'CRF off',
      );
    } finally {
      viewer.close();
    }
  });

  it('answers only to its own host names (DNS rebinding)', async () => {
    const { port } = new URL(serve.url);
    const get = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        request({ hostname: '127.0.0.1', port, path: '/healthz', headers: { host } }, (res) => {
          let body = '';
          res
            .setEncoding('utf8')
            .on('data', (c: string) => (body += c))
            .on('end', () => resolve({ status: res.statusCode!, body }));
        })
          .on('error', reject)
          .end();
      });
    const rebound = await get(`evil.example:${port}`);
    expect(rebound.status).toBe(403);
    expect(rebound.body).toMatch(/not this server's.*--allowed-hosts/);
    expect((await get(`localhost:${port}`)).status).toBe(200);
  });

  it('exposes Prometheus metrics: stage histograms, frames, drops, viewers', async () => {
    const text = await (await fetch(`${serve.url}/metrics`)).text();
    expect(text).toMatch(/deeplab_stage_seconds_bucket\{le="0.01",stage="infer"\} \d+/);
    expect(text).toMatch(/deeplab_end_to_end_seconds_count\{stream="testsrc"\} [1-9]/);
    expect(text).toMatch(/deeplab_frames_total\{stream="testsrc"\} [1-9]/);
    expect(text).toMatch(/deeplab_source_outages_total\{stream="camera9"\} [1-9]/);
    expect(text).toMatch(/deeplab_viewers_connected \d/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
  });

  it('pauses a viewer: no frames until it resumes', async () => {
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      await viewer.until((v) => v.frames.length >= 1, 30_000, 'a frame');
      viewer.send({ type: 'pause', paused: true });
      await new Promise((r) => setTimeout(r, 300)); // frames already on the wire arrive
      const before = viewer.frames.length;
      await new Promise((r) => setTimeout(r, 700));
      expect(viewer.frames.length).toBe(before);
      viewer.send({ type: 'pause', paused: false });
      await viewer.until((v) => v.frames.length > before, 10_000, 'frames after resuming');
    } finally {
      viewer.close();
    }
  });
});

describe('deeplab-stream serve, bad input', () => {
  it('refuses a missing file in one line, exit 2', async () => {
    const result = await runCli(['serve', '/nonexistent/clip.mp4', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('error: input not found: /nonexistent/clip.mp4');
  });

  it('refuses an unsupported URL scheme, exit 64', async () => {
    const result = await runCli(['serve', 'ftp://example.com/x.mp4', '--port', '0']);
    expect(result.code).toBe(64);
    expect(result.stderr).toMatch(/^error: ftp:\/\/example.com\/x.mp4: unsupported input/);
  });

  it('refuses malformed --allowed-hosts and --max-viewers in one line, exit 64, and never echoes a password', async () => {
    for (const args of [
      ['--allowed-hosts', 'a b'],
      ['--allowed-hosts', ','],
      ['--max-viewers', '0'],
    ]) {
      const result = await runCli(['serve', 'testsrc', '--port', '0', ...args]);
      expect({ args, code: result.code }).toEqual({ args, code: 64 });
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    const secret = await runCli(['serve', 'rtsp://admin:hunter2@[bad', '--port', '0']);
    expect(secret.code).toBe(64);
    expect(secret.stderr).toMatch(/rtsp:\/\/\*\*\*@\[bad is not a valid URL/);
    expect(secret.stderr).not.toContain('hunter2');
  });

  it('says when the port is taken, exit 64', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const { port } = blocker.address() as { port: number };
    try {
      const result = await runCli(['serve', 'testsrc', '--port', String(port)]);
      expect(result.code).toBe(64);
      expect(result.stderr.trim()).toBe(`error: port ${port} on 127.0.0.1 is in use: pick another with --port`);
    } finally {
      blocker.close();
    }
  });

  it('stops on Ctrl-C with exit 0, closing its viewers', async () => {
    const serve = await startServe(['testsrc:160x96@15']);
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    const closed = new Promise<number>((resolve) => viewer.socket.once('close', (code: number) => resolve(code)));
    expect(await serve.stop('SIGINT')).toBe(0);
    expect(await closed).toBe(1001); // "going away"
    expect(serve.stderr()).not.toMatch(/error|\n\s+at /);
  });

  it('serves a file losslessly: every frame once, in order, then the stream ends', async () => {
    const { dir, cleanup } = tempDir();
    const clip = await writeClip(dir, 'clip.mp4', { frames: 12 });
    const model = writeModel(dir);
    const serve = await startServe([clip, '--model', model]);
    // The server only encodes frames while someone watches: connect first, and the file waits for
    // nobody — so count what the metrics saw instead of what one viewer received.
    try {
      await serve.waitForLog(/stream clip: ended/); // decoding ended; the last frames may still be in flight
      const metrics = () => fetch(`${serve.url}/metrics`).then((r) => r.text());
      await expect.poll(metrics, { timeout: 20_000 }).toMatch(/deeplab_frames_total\{stream="clip"\} 12\n/);
      await new Promise((r) => setTimeout(r, 300));
      const final = await metrics();
      expect(final).toMatch(/deeplab_frames_total\{stream="clip"\} 12\n/);
      expect(final).not.toMatch(/deeplab_frames_dropped_total\{stream="clip"/);
      // Out-of-order completion would drop frames as stale: a lossless file runs on one inference worker.
      expect(serve.stderr()).toMatch(
        /note: clip keeps every frame \(no --realtime\): one inference worker, on \d+ threads/,
      );
    } finally {
      await serve.stop();
      cleanup();
    }
  });
});
