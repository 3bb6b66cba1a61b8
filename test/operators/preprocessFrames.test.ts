import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { planInputs } from '../../model/descriptor.js';
import { preprocessFrames } from '../../operators/preprocessFrames.js';
import type { Frame } from '../../core/frames.js';

function frame(width: number, height: number, pixel: (x: number, y: number) => number): Frame {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) rgb.fill(pixel(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
  return { streamId: 's', index: 0, ptsMs: 0, width, height, rgb, capturedAt: 0, decodeMs: 0 };
}

const half = { mean: [0.5, 0.5, 0.5] as const, std: [0.5, 0.5, 0.5] as const };

describe('preprocessFrames', () => {
  it('resizes to the size the model asks for and normalises into its layout', async () => {
    const prepared = await firstValueFrom(
      of(frame(40, 20, () => 255)).pipe(
        preprocessFrames({
          layout: 'NCHW',
          normalization: half,
          inputsFor: (w, h) => [{ width: w / 2, height: h / 2, flipped: false }],
        }),
      ),
    );
    const [input] = prepared.inputs;
    expect([input!.width, input!.height, input!.flipped]).toEqual([20, 10, false]);
    expect(input!.data.length).toBe(3 * 20 * 10);
    expect(input!.data.every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    expect(prepared.frame.width).toBe(40);
  });

  it('makes one input per scale, and a mirrored one of each with flip', async () => {
    const plan = planInputs([17, 9], [0.5, 1], true);
    expect(plan).toEqual([
      { width: 9, height: 9, flipped: false },
      { width: 9, height: 9, flipped: true },
      { width: 17, height: 9, flipped: false },
      { width: 17, height: 9, flipped: true },
    ]);
    // A left-to-right ramp: the mirrored input reads right to left.
    const prepared = await firstValueFrom(
      of(frame(17, 9, (x) => x * 15)).pipe(
        preprocessFrames({ layout: 'NHWC', normalization: half, inputsFor: () => plan }),
      ),
    );
    const [, , straight, mirrored] = prepared.inputs;
    const red = (d: Float32Array | Uint8Array, x: number) => d[x * 3]!;
    expect(red(mirrored!.data, 0)).toBeCloseTo(red(straight!.data, 16), 6);
    expect(red(mirrored!.data, 16)).toBeCloseTo(red(straight!.data, 0), 6);
    expect(red(straight!.data, 16)).toBeGreaterThan(red(straight!.data, 0));
  });
});
