import { firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { preprocessFrames } from '../../operators/preprocessFrames.js';
import type { Frame } from '../../pipeline/frames.js';

function frame(width: number, height: number, value: number): Frame {
  return { streamId: 's', index: 0, ptsMs: 0, width, height, rgb: new Uint8Array(width * height * 3).fill(value), capturedAt: 0, decodeMs: 0 };
}

describe('preprocessFrames', () => {
  it('resizes to the size the model asks for and normalises into its layout', async () => {
    const prepared = await firstValueFrom(
      of(frame(40, 20, 255)).pipe(
        preprocessFrames({ layout: 'NCHW', normalization: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }, inputSizeFor: (w, h) => [w / 2, h / 2] }),
      ),
    );
    expect([prepared.inputWidth, prepared.inputHeight]).toEqual([20, 10]);
    expect(prepared.input.length).toBe(3 * 20 * 10);
    expect(prepared.input.every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    expect(prepared.frame.width).toBe(40);
    expect(prepared.preprocessMs).toBeGreaterThanOrEqual(0);
  });
});
