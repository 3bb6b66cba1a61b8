import { firstValueFrom, take, tap, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameCredits } from '../../sources/frameCredits.js';
import { describeOpenFailure, parseLiveInput } from '../../sources/liveInputs.js';
import { LiveStream } from '../../sources/liveStream.js';
import { LiveStreamSet } from '../../sources/liveStreamSet.js';
import { pullLiveStreams } from '../../sources/pullLiveStreams.js';
import { tempDir, writeClip } from '../helpers/fixtures.js';

const open: LiveStream[] = [];
const startStream = (spec: string, options: { realtime?: boolean; takenIds?: Set<string> } = {}) => {
  const stream = new LiveStream(parseLiveInput(spec, options)).start();
  open.push(stream);
  return stream;
};
const waitFor = async (predicate: () => boolean, timeoutMs = 20_000) => {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

afterEach(() => {
  for (const stream of open.splice(0)) stream.close();
});

describe('parseLiveInput', () => {
  it('names each kind of input and gives repeated ids a suffix', () => {
    const taken = new Set(['testsrc']);
    expect(parseLiveInput('testsrc:320x180@15', { takenIds: taken })).toMatchObject({
      id: 'testsrc-2',
      kind: 'testsrc',
      latestWins: true,
      reconnects: false,
    });
    expect(parseLiveInput('rtsp://user:pw@cam.local:8554/live/1')).toMatchObject({
      id: 'cam.local-8554-live-1',
      kind: 'rtsp',
      latestWins: true,
      reconnects: true,
    });
    expect(parseLiveInput('https://example.com/cam.mjpg')).toMatchObject({ kind: 'http', reconnects: true });
    expect(parseLiveInput('camera:2')).toMatchObject({ id: 'camera2', kind: 'camera' });
    expect(parseLiveInput('/dev/video2')).toMatchObject({ id: 'camera2', kind: 'camera' });
    expect(parseLiveInput('videos/street.mp4')).toMatchObject({
      id: 'street',
      kind: 'file',
      latestWins: false,
      reconnects: false,
    });
    expect(parseLiveInput('file:videos/street.mp4', { realtime: true })).toMatchObject({
      id: 'street',
      kind: 'file',
      latestWins: true,
    });
  });

  it('refuses a testsrc size out of range and unknown schemes', () => {
    expect(() => parseLiveInput('testsrc:8x8')).toThrow(/testsrc takes WxH between 16x16/);
    expect(() => parseLiveInput('ftp://host/x')).toThrow(/unsupported input/);
  });
});

describe('describeOpenFailure', () => {
  it("turns ffmpeg's reasons into what to do", () => {
    expect(describeOpenFailure('Cannot open video device /dev/video0: Device or resource busy', '/dev/video0')).toBe(
      '/dev/video0 is busy: another program is using it (close it, then the stream reconnects)',
    );
    expect(
      describeOpenFailure(
        'Connection to tcp://10.0.0.7:554?timeout=0 failed: Connection refused',
        'rtsp://10.0.0.7/live',
      ),
    ).toMatch(/^connection refused .*is the server at rtsp:\/\/10.0.0.7\/live running\?$/);
    expect(describeOpenFailure('method DESCRIBE failed: 401 Unauthorized', 'rtsp://cam/live')).toMatch(
      /put user:password@ in the URL/,
    );
  });
});

describe('LiveStream', () => {
  it('keeps only the newest frame when nobody takes them, counting the dropped ones', async () => {
    const stream = startStream('testsrc:64x48@60');
    await waitFor(() => stream.framesIn >= 20);
    const frame = stream.take()!;
    expect(stream.take()).toBeNull();
    expect(frame.width).toBe(64);
    expect(frame.rgb.length).toBe(64 * 48 * 3);
    expect(frame.index).toBe(stream.framesIn - 1); // the newest
    expect(stream.dropped).toBe(stream.framesIn - 1);
    expect(stream.status).toBe('live');
  });

  it('reads a file losslessly: it waits for each frame to be taken, then ends', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const stream = startStream(await writeClip(dir, 'clip.mp4', { frames: 8 }));
      const indices: number[] = [];
      while (!stream.finished || indices.length < 8) {
        await new Promise((r) => setTimeout(r, 30));
        const frame = stream.take();
        if (frame) indices.push(frame.index);
        if (stream.status === 'failed') throw new Error(stream.statusMessage);
      }
      expect(indices).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(stream.dropped).toBe(0);
      expect(stream.status).toBe('ended');
    } finally {
      cleanup();
    }
  });

  it('reports a missing camera as an outage with what to do, and retries', async () => {
    const stream = new LiveStream(parseLiveInput('camera:97'), { initialBackoffMs: 50 }).start();
    open.push(stream);
    await waitFor(() => stream.outages >= 2);
    expect(stream.status).toBe('outage');
    expect(stream.statusMessage).toMatch(/^camera:97: there is no \/dev\/video97 \(connect a camera.*retrying in/);
  });
});

describe('pullLiveStreams', () => {
  it('takes frames from the streams in turn when inference is the bottleneck, so a fast stream cannot starve a slow one', async () => {
    const fast = startStream('testsrc:64x48@60', { takenIds: new Set(['testsrc']) });
    const slow = startStream('testsrc:64x48@15');
    const credits = new FrameCredits(1);
    // "Inference" takes 100 ms: both streams always have a frame waiting when a credit comes back.
    const frames = await firstValueFrom(
      pullLiveStreams(new LiveStreamSet([fast, slow]), credits).pipe(
        tap(() => setTimeout(() => credits.release(), 100)),
        take(10),
        toArray(),
      ),
    );
    const fromSlow = frames.filter((f) => f.streamId === slow.id).length;
    // Arrival order alone would give the slow stream 1 in 5.
    expect(fromSlow).toBeGreaterThanOrEqual(4);
    expect(fromSlow).toBeLessThanOrEqual(6);
    expect(fast.dropped).toBeGreaterThan(0); // its newer frames replaced the older ones meanwhile
    for (const id of [fast.id, slow.id]) {
      const indices = frames.filter((f) => f.streamId === id).map((f) => f.index);
      expect(indices).toEqual([...indices].sort((a, b) => a - b));
    }
  });
});
