/**
 * Tiles at the camera's rate, through a real `serve`: a square moves along the bottom of a still
 * picture; the model (scores = the pixels' colours, so the right labels are known) runs only the
 * windows it moves in, the others reuse their scores, and the labels still follow the square.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, TestViewer, type DecodedFrame } from '../helpers/liveServer.js';
import { writeColourModel, writeSquareClip } from '../helpers/zoneScene.js';

/** A 24-px square 4 px further right each frame, along the bottom row of windows (y 110–134 of 144). */
const [WIDTH, HEIGHT, FPS, SECONDS, SIDE, Y] = [240, 144, 10, 5, 24, 110];

/** IoU of the frame's "person" labels with its green pixels (the picture sent with them, decoded). */
async function squareIoU({ labels, jpeg }: DecodedFrame): Promise<number> {
  const rgb = await sharp(jpeg).raw().toBuffer();
  let [inter, union] = [0, 0];
  for (let p = 0; p < WIDTH * HEIGHT; p++) {
    const green = rgb[p * 3 + 1]! > rgb[p * 3]!;
    const marked = labels[p] === 1;
    if (green && marked) inter++;
    if (green || marked) union++;
  }
  return inter / union;
}

type TiledHeader = DecodedFrame['header'] & { scoresAgeMs?: number; windowsRun?: [number, number] };

/** Every frame a viewer gets of `serve clip --tiles 3x2 EXTRA` until the clip ends. */
async function watch(model: string, clip: string, extra: string[]) {
  const serve = await startServe([clip, '--realtime', '--model', model, '--tiles', '3x2', ...extra]);
  try {
    const viewer = await TestViewer.connect(`${serve.url}/ws`, { headers: { origin: serve.url } });
    await viewer.until((v) => v.frames.length >= 15, 30_000, '15 frames');
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    await viewer.until((v) => v.frames.at(-1)!.header.index >= FPS * SECONDS - 3, 30_000, 'the clip to end');
    return { frames: viewer.frames, metrics };
  } finally {
    await serve.stop();
  }
}

describe('serve --tiles: the model runs where the picture changed', () => {
  let dir: string;
  let model: string;
  let clip: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dls-tile-refresh-'));
    model = writeColourModel(dir);
    clip = await writeSquareClip(path.join(dir, 'square.mp4'), {
      ...{ width: WIDTH, height: HEIGHT, fps: FPS, seconds: SECONDS, side: SIDE },
      x: '8+4*n',
      y: String(Y),
    });
  }, 30_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs only the windows the square moves in, keeps every score younger than --tile-max-age, and marks the square', async () => {
    // A fixed budget: the measured one (its own unit test) would follow this machine's load.
    const { frames, metrics } = await watch(model, clip, ['--tile-max-age', '2', '--tile-budget', '3']);
    const headers = frames.map((f) => f.header as TiledHeader);
    expect(headers.every((h) => h.windowsRun?.[1] === 6)).toBe(true);
    // The square is in one or two of the bottom row's three windows, and moved from one or two:
    // besides a frame now and then whose windows reached two seconds, at most three run.
    const few = headers.filter((h) => h.windowsRun![0] <= 3);
    expect(few.length).toBeGreaterThanOrEqual(0.8 * headers.length);
    // The bound, plus runs in flight on a loaded machine; without it a still window would be reused for the whole clip.
    expect(Math.max(...headers.map((h) => h.scoresAgeMs!))).toBeLessThanOrEqual(2000 + 1000);
    expect(Math.max(...headers.map((h) => h.scoresAgeMs!))).toBeGreaterThanOrEqual(500);
    expect(metrics).toMatch(/^deeplab_scores_age_seconds\{stream="square"\} \d/m);
    // Reused windows are where they belong: the square is marked where it is in every frame, no trail left.
    const ious = await Promise.all(frames.map(squareIoU));
    expect(Math.min(...ious)).toBeGreaterThan(0.8);
  }, 90_000);

  it('runs every window of every frame with --tile-max-age 0, and marks the square the same', async () => {
    const { frames, metrics } = await watch(model, clip, ['--tile-max-age', '0']);
    expect(frames.every((f) => (f.header as TiledHeader).windowsRun === undefined)).toBe(true);
    expect(metrics).not.toMatch(/^deeplab_scores_age_seconds\{/m);
    expect(Math.min(...(await Promise.all(frames.map(squareIoU))))).toBeGreaterThan(0.8);
  }, 90_000);
});
