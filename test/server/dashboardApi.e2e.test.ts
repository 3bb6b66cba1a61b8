/**
 * The dashboard's API end to end: a real `serve`, a real clip where a shape enters a zone, a real
 * SSE reader and a real webhook receiver on 127.0.0.1.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeModel } from '../helpers/fixtures.js';
import { type ServeProcess, startServe, TestViewer } from '../helpers/liveServer.js';
import {
  clipsServeArgs,
  LOWER_RIGHT,
  readEvents,
  SCENE,
  startWebhookReceiver,
  type WebhookReceiver,
  writeColourModel,
  writeZoneClip,
} from '../helpers/zoneScene.js';

const { dir, cleanup } = tempDir('dls-dashboard-');
let model: string;
let clip: string;
let serve: ServeProcess | null = null;
let receiver: WebhookReceiver | null = null;

beforeAll(async () => {
  model = writeColourModel(dir);
  clip = await writeZoneClip(dir);
});
afterEach(async () => {
  await serve?.stop();
  serve = null;
  await receiver?.close();
  receiver = null;
});
afterAll(cleanup);

const corner = { name: 'corner', polygon: LOWER_RIGHT, classes: ['person'], minShare: 0.1, minSeconds: 0.5 };

async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

function probe(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffprobe', ['-v', 'error', ...args]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
}

/** The clip's frame at `seconds`, as rgb24 at the scene's size. */
function frameAt(file: string, seconds: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', [
      '-v',
      'error',
      '-ss',
      String(seconds),
      '-i',
      file,
      '-frames:v',
      '1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ]);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Whether the lower-right zone of a scene frame is mostly green (the square) rather than red. */
function greenInCorner(rgb: Buffer): boolean {
  let green = 0;
  let n = 0;
  for (let y = SCENE.height - 40; y < SCENE.height - 8; y++)
    for (let x = SCENE.width - 56; x < SCENE.width - 24; x++, n++) {
      const p = (y * SCENE.width + x) * 3;
      if (rgb[p + 1]! > rgb[p]!) green += 1;
    }
  return n > 0 && green / n > 0.8;
}

async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the dashboard API (serve, real clip, SSE and webhook receivers)', () => {
  it('tells a shape entering a zone once and its leaving once, on SSE and signed at the webhook, at the frames it happened', async () => {
    receiver = await startWebhookReceiver();
    serve = await startServe(
      ['--no-test-pattern', '--model', model, '--allow-inputs', `file:${dir}`, '--webhook', receiver.url],
      { DEEPLAB_STREAM_WEBHOOK_SECRET: 'a shared secret' },
    );
    const sse = await readEvents(`${serve.url}/api/events`);
    const added = await call('POST', `${serve.url}/api/streams`, { id: 'door', input: clip, zones: [corner] });
    expect(added.status, JSON.stringify(added.json)).toBe(201);
    expect(added.json).toMatchObject({ id: 'door', kind: 'file' });
    await until('both events', () => sse.events.length >= 2 && receiver!.received.length >= 2);
    await serve.waitForLog(/stream door: ended/);
    await new Promise((r) => setTimeout(r, 300)); // nothing more may come
    sse.close();
    expect(sse.events.map((e) => [e.type, e.stream, e.zone])).toEqual([
      ['zone.occupied', 'door', 'corner'],
      ['zone.free', 'door', 'corner'],
    ]);
    const [occupied, free] = sse.events;
    // The square is 1600 of the zone's 3840 pixels; the 0.5 s blip never counts.
    expect(occupied!.share).toBeGreaterThan(0.35);
    expect(free!.share).toBeLessThan(0.1);
    const frameAt = (seconds: number) => seconds * SCENE.fps;
    expect(occupied!.frame).toBeGreaterThanOrEqual(frameAt(SCENE.enter + corner.minSeconds) - 1);
    expect(occupied!.frame).toBeLessThanOrEqual(frameAt(SCENE.enter + corner.minSeconds) + 3);
    expect(free!.frame).toBeGreaterThanOrEqual(frameAt(SCENE.leave + corner.minSeconds) - 1);
    expect(free!.frame).toBeLessThanOrEqual(frameAt(SCENE.leave + corner.minSeconds) + 3);
    expect(Date.parse(free!.at) - Date.parse(occupied!.at)).toBeGreaterThan(1500);
    // The webhook: the same events, in order, each signed over its exact body.
    expect(receiver.received.map((r) => JSON.parse(r.body) as { type: string; frame: number })).toEqual(
      sse.events.map(({ receivedAt: _, ...event }) => event),
    );
    for (const { body, headers } of receiver.received) {
      expect(headers['x-deeplab-signature']).toBe(
        `sha256=${createHmac('sha256', 'a shared secret').update(body).digest('hex')}`,
      );
      expect(headers['content-type']).toBe('application/json');
    }
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(/deeplab_zone_events_total\{stream="door",type="zone.occupied"\} 1/);
    expect(metrics).toMatch(/deeplab_zone_occupied\{stream="door",zone="corner"\} 0/);
    expect((await call('DELETE', `${serve.url}/api/streams/door`)).status).toBe(204);
    expect((await call('GET', `${serve.url}/api/streams`)).json).toEqual({ streams: [] });
    const after = await (await fetch(`${serve.url}/metrics`)).text();
    expect(after.split('\n').filter((l) => l.includes(`stream="door"`))).toEqual([]);
  }, 60_000);

  it('writes a clip per occupied event from --clip-pre before it to --clip-post after, served with ranges', async () => {
    const clips = path.join(dir, 'clips');
    serve = await startServe(clipsServeArgs(model, dir, clips));
    const sse = await readEvents(`${serve.url}/api/events`);
    expect((await call('POST', `${serve.url}/api/streams`, { id: 'door', input: clip, zones: [corner] })).status).toBe(
      201,
    );
    await until('the occupied event', () => sse.events.length >= 1);
    sse.close();
    const name = (sse.events[0] as unknown as { clip?: string }).clip!;
    expect(name).toMatch(/^door-corner-\d{8}T\d{6}Z\.mp4$/);
    const url = `${serve.url}/api/clips/${name}`;
    let status = 0;
    for (let tries = 0; tries < 100 && status !== 200; tries++) {
      const r = await fetch(url, { method: 'HEAD' });
      status = r.status;
      if (status !== 200) {
        expect(status).toBe(503); // being recorded, never a half-written file
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    expect(status).toBe(200);
    const whole = Buffer.from(await (await fetch(url)).arrayBuffer());
    const part = await fetch(url, { headers: { range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(0, 100));
    const file = path.join(clips, name);
    const seconds = Number(await probe(['-show_entries', 'format=duration', '-of', 'csv=p=0', file]));
    expect(seconds).toBeGreaterThan(1.8);
    expect(seconds).toBeLessThan(2.3);
    // The event came 0.5 s after the square entered: 0.2 s into the clip it is not there yet, 1.2 s in it is.
    expect(greenInCorner(await frameAt(file, 0.2))).toBe(false);
    expect(greenInCorner(await frameAt(file, 1.2))).toBe(true);
  }, 60_000);

  it('loses the clip, never the stream, when the clips folder is full', async (context) => {
    const full = path.join(dir, 'full-clips');
    mkdirSync(full, { recursive: true });
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full], { stdio: 'ignore' });
    } catch {
      return context.skip('needs a small tmpfs to fill (mount, as root): not available here');
    }
    try {
      serve = await startServe(clipsServeArgs(model, dir, full));
      const sse = await readEvents(`${serve.url}/api/events`);
      expect(
        (await call('POST', `${serve.url}/api/streams`, { id: 'door', input: clip, zones: [corner] })).status,
      ).toBe(201);
      await serve.waitForLog(/stream door: live/);
      // Full to the last block before the square comes.
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${path.join(full, 'filler')}`, 'bs=4k'], { stdio: 'ignore' });
      } catch {
        // "No space left on device": full, as wanted.
      }
      await until('both events', () => sse.events.length >= 2);
      sse.close();
      expect(sse.events.map((e) => e.type)).toEqual(['zone.occupied', 'zone.free']);
      const name = (sse.events[0] as unknown as { clip?: string }).clip;
      if (name) {
        let status = 503;
        for (let tries = 0; tries < 50 && status === 503; tries++) {
          status = (await fetch(`${serve.url}/api/clips/${name}`, { method: 'HEAD' })).status;
          if (status === 503) await new Promise((resolve) => setTimeout(resolve, 200));
        }
        expect(status).toBe(404); // absent, never half-written
      }
      await serve.waitForLog(/stream door: (clips: .* not written|clips: the stream's encoder stopped)/);
      await serve.waitForLog(/stream door: ended/);
      expect(readdirSync(full).filter((f) => f !== 'filler' && !f.startsWith('.rings-'))).toEqual([]);
    } finally {
      await serve?.stop();
      serve = null;
      execFileSync('umount', [full]);
    }
  }, 60_000);

  it('shows a stream only the classes it asks for (classesShown per stream), beside one that shows all', async () => {
    serve = await startServe(['--no-test-pattern', '--model', model, '--allow-inputs', `file:${dir}`]);
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      const refused = await call('POST', `${serve.url}/api/streams`, { input: clip, classesShown: ['unicorn'] });
      expect(refused.status).toBe(400);
      expect(refused.json!['error']).toMatch(/unicorn is not a class of .* \(its classes: background, person, car\)$/);
      const carsOnly = await call('POST', `${serve.url}/api/streams`, {
        id: 'cars',
        input: clip,
        classesShown: ['car'],
      });
      expect(carsOnly.status).toBe(201);
      expect(carsOnly.json).toMatchObject({ classesShown: ['car'] });
      expect((await call('POST', `${serve.url}/api/streams`, { id: 'all', input: clip })).status).toBe(201);
      // Until the square has been seen on the stream that shows everything.
      await viewer.until(
        (v) => v.frames.some((f) => f.header.streamId === 'all' && f.labels.includes(1)),
        20_000,
        'the square as person on the stream showing all classes',
      );
      await viewer.until((v) => v.frames.filter((f) => f.header.streamId === 'cars').length >= 30, 20_000, '30 frames');
      const cars = viewer.frames.filter((f) => f.header.streamId === 'cars');
      // The square's pixels go to the next best of background and car: never person.
      expect(cars.some((f) => f.labels.includes(1))).toBe(false);
    } finally {
      viewer.close();
    }
  }, 60_000);

  it('runs a stream with its own tiles beside two without: the same frames, other labels only where tiled', async () => {
    // A random DeepLab: its labels depend on where a pixel is in the model's input, so windows change them.
    serve = await startServe(['--no-test-pattern', '--model', writeModel(dir, { classes: 5, seed: 3 })]);
    const viewer = await TestViewer.connect(`${serve.url}/ws`);
    try {
      expect((await call('POST', `${serve.url}/api/streams`, { input: 'testsrc', tiles: '17x2' })).status).toBe(400);
      const tiled = await call('POST', `${serve.url}/api/streams`, {
        id: 'tiled',
        input: 'testsrc:160x96@5',
        tiles: '2x2',
      });
      expect(tiled.status, JSON.stringify(tiled.json)).toBe(201);
      expect(tiled.json).toMatchObject({ tiles: { cols: 2, rows: 2 } });
      for (const id of ['plain', 'plain2'])
        expect((await call('POST', `${serve.url}/api/streams`, { id, input: 'testsrc:160x96@5' })).status).toBe(201);
      const byIndex = (id: string) =>
        new Map(viewer.frames.filter((f) => f.header.streamId === id).map((f) => [f.header.index, f]));
      const common = () => {
        const [a, b, c] = [byIndex('tiled'), byIndex('plain'), byIndex('plain2')];
        return [...a.keys()].filter((i) => b.has(i) && c.has(i)).map((i) => [a.get(i)!, b.get(i)!, c.get(i)!] as const);
      };
      await viewer.until(() => common().length >= 5, 30_000, 'five frames of the same index on all three streams');
      const same = (x: Uint8Array, y: Uint8Array) => x.every((v, i) => v === y[i]);
      for (const [, plain, plain2] of common()) expect(same(plain.labels, plain2.labels)).toBe(true);
      expect(common().filter(([t, plain]) => !same(t.labels, plain.labels)).length).toBeGreaterThan(0);
    } finally {
      viewer.close();
    }
  }, 60_000);

  it('tells an occupied zone free once when its stream ends with the shape still in it', async () => {
    const staying = await writeZoneClip(dir, 'staying.mp4', { seconds: 3, enter: 1, leave: 3.5 });
    serve = await startServe(['--no-test-pattern', '--model', model, '--allow-inputs', `file:${dir}`]);
    const sse = await readEvents(`${serve.url}/api/events`);
    expect(
      (await call('POST', `${serve.url}/api/streams`, { id: 'door', input: staying, zones: [corner] })).status,
    ).toBe(201);
    await serve.waitForLog(/stream door: ended/);
    await until('the free event', () => sse.events.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    sse.close();
    expect(sse.events.map((e) => e.type)).toEqual(['zone.occupied', 'zone.free']);
    expect(sse.events[1]!.share).toBeGreaterThan(0.35); // still there on the last frame: it ended, it did not leave
  }, 60_000);

  it('answers hostile requests with one line each, and keeps serving', async () => {
    serve = await startServe([
      '--model',
      model,
      '--allow-inputs',
      `testsrc,file:${dir}`,
      '--token',
      'tok',
      '--max-streams',
      '2',
    ]);
    const api = `${serve.url}/api`;
    const auth = { authorization: 'Bearer tok' };
    const refusal = async (method: string, url: string, body?: unknown, headers: Record<string, string> = auth) => {
      const r = await call(method, url, body, headers);
      expect(Object.keys(r.json ?? {})).toEqual(['error']);
      expect(String(r.json!['error'])).not.toContain('\n');
      return { status: r.status, error: String(r.json!['error']) };
    };
    expect(await refusal('GET', `${api}/streams`, undefined, {})).toMatchObject({ status: 401 });
    expect(
      await refusal('POST', `${api}/streams`, { input: 'testsrc' }, { ...auth, origin: 'http://evil.example' }),
    ).toMatchObject({ status: 403 });
    expect(await refusal('POST', `${api}/streams`, '{"input": ')).toEqual({
      status: 400,
      error: 'the body is not JSON',
    });
    expect(await refusal('POST', `${api}/streams`, { input: 42 })).toMatchObject({ status: 400, error: /^input: / });
    expect(await refusal('POST', `${api}/streams`, { input: 'testsrc', extra: 1 })).toMatchObject({ status: 400 });
    expect(await refusal('POST', `${api}/streams`, { input: 'testsrc', id: '../../x' })).toMatchObject({
      status: 400,
      error: /letters, digits/,
    });
    expect(await refusal('POST', `${api}/streams`, { input: '/etc/passwd' })).toMatchObject({
      status: 403,
      error: /outside the directories allowed on this server/,
    });
    expect(await refusal('POST', `${api}/streams`, { input: 'rtsp://10.0.0.1/x' })).toMatchObject({ status: 403 });
    expect(await refusal('POST', `${api}/streams`, { input: 'gst:videotestsrc ! fakesink' })).toMatchObject({
      status: 403,
    });
    expect(await refusal('POST', `${api}/streams`, { input: path.join(dir, 'missing.mp4') })).toMatchObject({
      status: 400,
    });
    expect(await refusal('POST', `${api}/streams`, { input: 'testsrc', id: 'testsrc' })).toMatchObject({ status: 409 });
    expect((await call('POST', `${api}/streams`, { input: 'testsrc:64x48@5', id: 'second' }, auth)).status).toBe(201);
    expect(await refusal('POST', `${api}/streams`, { input: 'testsrc:64x48@5', id: 'third' })).toEqual({
      status: 429,
      error: 'this server runs 2 streams, its cap (serve --max-streams 2): remove one first',
    });
    expect((await call('DELETE', `${api}/streams/second`, undefined, auth)).status).toBe(204);
    const zones = `${api}/streams/testsrc/zones`;
    const million = Array.from({ length: 1_000_000 }, (_, i) => [i / 1e6, 0.5]);
    expect(await refusal('PUT', zones, [{ name: 'a', polygon: million, classes: ['person'] }])).toMatchObject({
      status: 413,
    });
    const many = Array.from({ length: 10_000 }, (_, i) => ({ name: `z${i}`, polygon: LOWER_RIGHT, classes: ['car'] }));
    expect((await refusal('PUT', zones, many)).status).toBeGreaterThanOrEqual(400);
    expect(await refusal('PUT', zones, '[{"name":"a","polygon":[[0,0],[NaN,1],[1,1]],"classes":["person"]}]')).toEqual({
      status: 400,
      error: 'the body is not JSON',
    });
    expect(
      await refusal('PUT', zones, [
        {
          name: 'a',
          polygon: [
            [0, 0],
            [1e308, 1],
            [1, 1],
          ],
          classes: ['person'],
        },
      ]),
    ).toMatchObject({ status: 400, error: /zone 1 \(a\): polygon\.1\.0/ });
    expect(await refusal('PUT', zones, [{ name: 'a', polygon: LOWER_RIGHT, classes: ['unicorn'] }])).toMatchObject({
      status: 400,
      error: /"unicorn" is not a class of the model \(its classes: background, person, car\)/,
    });
    expect(await refusal('PUT', `${api}/streams/nope/zones`, [])).toMatchObject({ status: 404 });
    expect(await refusal('DELETE', `${api}/streams/..%2F..%2Fetc`)).toMatchObject({ status: 404 });
    expect(await refusal('GET', `${api}/clips/..%2F..%2Fetc%2Fpasswd`)).toMatchObject({ status: 404 });
    expect(await refusal('PATCH', `${api}/streams`)).toMatchObject({ status: 405 });
    expect(await refusal('GET', `${api}/streams/%E0%A4%A`)).toMatchObject({ status: 400 });
    // Still serving, the stream untouched, and a valid zone list taken.
    const ok = await call('PUT', zones, [{ name: 'sky', polygon: LOWER_RIGHT, classes: ['car'] }], auth);
    expect(ok.status).toBe(200);
    const health = (await (await fetch(`${serve.url}/healthz`)).json()) as {
      streams: { id: string; status: string }[];
    };
    expect(health.streams.map((s) => s.id)).toEqual(['testsrc']);
    expect(serve.stderr()).not.toMatch(/at .*\.js:\d+|internal error/);
  }, 60_000);

  it('keeps the streams added and every zone across a restart (--state), written whole', async () => {
    const state = path.join(dir, 'state.json');
    serve = await startServe(['--model', model, '--allow-inputs', 'testsrc', '--state', state]);
    expect(
      (await call('POST', `${serve.url}/api/streams`, { id: 'extra', input: 'testsrc:64x48@5', crf: false })).status,
    ).toBe(201);
    expect((await call('PUT', `${serve.url}/api/streams/extra/zones`, [corner])).status).toBe(200);
    await until('the state written', () => {
      try {
        return readFileSync(state, 'utf8').includes('corner');
      } catch {
        return false;
      }
    });
    await serve.stop();
    serve = await startServe(['--model', model, '--state', state]);
    const listed = (await call('GET', `${serve.url}/api/streams`)).json as { streams: { id: string }[] };
    expect(listed.streams.map((s) => s.id)).toEqual(['extra']); // no test pattern: the state says what runs
    expect((await call('GET', `${serve.url}/api/streams/extra/zones`)).json).toMatchObject({ zones: [corner] });
  }, 60_000);
});
