import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.js';
import { probeInput } from '../../io/ffmpeg.js';
import { FrameCredits } from '../../sources/frameCredits.js';
import { pullFrames } from '../../sources/pullFrames.js';
import { FfmpegFrameSource } from '../../sources/ffmpegFrameSource.js';
import { tempDir, withUnusableTempFolder, writeClip } from '../helpers/fixtures.js';

describe('FfmpegFrameSource (real ffmpeg)', () => {
  const tmp = tempDir();
  let clip: string;
  beforeAll(async () => {
    clip = await writeClip(tmp.dir, 'clip.mp4', { width: 96, height: 64, frames: 17 });
  });
  afterAll(() => tmp.cleanup());

  it('decodes every frame as rgb24 with its index, in order', async () => {
    const info = await probeInput(clip);
    expect(info).toMatchObject({
      width: 96,
      height: 64,
      fps: 25,
      frameCount: 17,
      frameCountDeclared: true,
      isStillImage: false,
    });
    const source = new FfmpegFrameSource(info);
    const indices: number[] = [];
    for (let f = await source.next(); f; f = await source.next()) {
      expect(f.rgb.length).toBe(96 * 64 * 3);
      indices.push(f.index);
    }
    expect(indices).toEqual(Array.from({ length: 17 }, (_, i) => i));
  });

  it('reads through a pipe, frame for frame the same, where no Unix socket can be made (the temp folder refuses one)', async () => {
    const info = await probeInput(clip);
    const read = async () => {
      const source = new FfmpegFrameSource(info);
      const frames: Buffer[] = [];
      for (let f = await source.next(); f; f = await source.next()) frames.push(Buffer.from(f.rgb));
      return frames;
    };
    const throughSocket = await read();
    const throughPipe = await withUnusableTempFolder(read);
    expect(throughSocket).toHaveLength(17);
    expect(throughPipe.map((f, i) => f.equals(throughSocket[i]!))).toEqual(throughSocket.map(() => true));
  });

  it('recycleFrames: a buffer is filled again only once `alive` later frames are out; the frames held are intact', async () => {
    const info = await probeInput(clip);
    const plain = new FfmpegFrameSource(info);
    const expected: Buffer[] = [];
    for (let f = await plain.next(); f; f = await plain.next()) expected.push(Buffer.from(f.rgb));
    // Frames of 18 KB: one 64 KB chunk (through a pipe) completes several at once.
    const alive = 3;
    const source = new FfmpegFrameSource(info, 'file', { recycleFrames: { alive } });
    const held: { index: number; rgb: Uint8Array }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    for (let f = await source.next(); f; f = await source.next()) {
      buffers.add(f.rgb.buffer);
      held.push(f);
      if (held.length > alive) held.shift(); // done, in order: its buffer may be filled again
      for (const h of held) expect(Buffer.from(h.rgb).equals(expected[h.index]!)).toBe(true);
    }
    expect(held.at(-1)!.index).toBe(16);
    expect(buffers.size).toBeLessThan(10); // 17 frames, a handful of buffers
  });

  it('reads nothing ahead: with 3 credits and none returned, exactly 3 frames are decoded', async () => {
    const source = new FfmpegFrameSource(await probeInput(clip));
    const credits = new FrameCredits(3);
    const seen: number[] = [];
    const subscription = pullFrames(source, credits).subscribe((f) => seen.push(f.index));
    await new Promise((r) => setTimeout(r, 800));
    expect(seen).toEqual([0, 1, 2]);
    expect(source.framesDecoded).toBe(3);
    credits.release();
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([0, 1, 2, 3]);
    subscription.unsubscribe();
  });

  it('rejects a truncated mp4 whose index survives: decoded fewer frames than declared', async () => {
    const faststart = await writeClip(tmp.dir, 'fast.mp4', {
      width: 96,
      height: 64,
      frames: 40,
      codecArgs: ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-movflags', '+faststart'],
    });
    const bytes = readFileSync(faststart);
    const cut = path.join(tmp.dir, 'cut.mp4');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.5)));
    const source = new FfmpegFrameSource(await probeInput(cut));
    const drain = async () => {
      while (await source.next());
    };
    await expect(drain()).rejects.toThrow(InputError);
    await expect(drain()).rejects.toThrow(/truncated or damaged: decoded \d+ of 40 frames/);
  });

  it('probes: missing file, directory and non-video each give an InputError naming the problem', async () => {
    await expect(probeInput(path.join(tmp.dir, 'nope.mp4'))).rejects.toThrow(/input not found/);
    await expect(probeInput(tmp.dir)).rejects.toThrow(/is a directory/);
    const fifo = path.join(tmp.dir, 'pipe.mp4');
    execFileSync('mkfifo', [fifo]);
    await expect(probeInput(fifo)).rejects.toThrow(/is a named pipe \(FIFO\)/);
    await expect(probeInput('/dev/zero')).rejects.toThrow(/is a device or socket, not a video file/);
    const text = path.join(tmp.dir, 'notes.mp4');
    writeFileSync(text, 'just some text, not a video\n');
    await expect(probeInput(text)).rejects.toThrow(/not a video or image that ffmpeg can read/);
  });
});
