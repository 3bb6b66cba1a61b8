import { describe, expect, it } from 'vitest';
import { bilinearTaps } from '../../core/bilinearTaps.js';
import { preprocessRgb, resizeRgbUint8 } from '../../model/preprocess.js';

const identity = { mean: [0, 0, 0] as const, std: [1 / 255, 1 / 255, 1 / 255] as const }; // keeps pixel values

function randomRgb(w: number, h: number, seed = 7): Uint8Array {
  let s = seed;
  return Uint8Array.from({ length: w * h * 3 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 24) & 255);
}

describe('preprocessRgb', () => {
  it('is exact at the same size and writes NCHW planes', () => {
    const rgb = randomRgb(5, 3);
    const out = preprocessRgb(rgb, 5, 3, 5, 3, 'NCHW', identity);
    for (let p = 0; p < 15; p++) for (let c = 0; c < 3; c++) expect(out[c * 15 + p]).toBeCloseTo(rgb[p * 3 + c]!, 3);
  });

  it('halving with half-pixel centres averages each 2×2 block', () => {
    const rgb = randomRgb(8, 6);
    const out = preprocessRgb(rgb, 8, 6, 4, 3, 'NHWC', identity);
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 4; x++) {
        for (let c = 0; c < 3; c++) {
          const at = (yy: number, xx: number) => rgb[(yy * 8 + xx) * 3 + c]!;
          const mean = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
          expect(out[(y * 4 + x) * 3 + c]).toBeCloseTo(mean, 3);
        }
      }
    }
  });

  it('applies (x/255 − mean) / std per channel', () => {
    const rgb = Uint8Array.from([255, 0, 51]);
    const out = preprocessRgb(rgb, 1, 1, 1, 1, 'NCHW', { mean: [0.5, 0.5, 0.2], std: [0.5, 0.25, 0.1] });
    expect(Array.from(out)).toEqual([expect.closeTo(1, 5), expect.closeTo(-2, 5), expect.closeTo(0, 5)]);
  });

  it('clamps taps at the borders', () => {
    const taps = bilinearTaps(4, 8);
    expect(taps.low[0]).toBe(0);
    expect(taps.weight[0]).toBe(0);
    expect(taps.high[7]).toBe(3);
  });
});

describe('resizeRgbUint8', () => {
  it.each([
    [768, 576, 513, 513, 'NHWC'],
    [237, 231, 257, 257, 'NHWC'],
    [100, 80, 33, 61, 'NCHW'],
  ] as const)('gives the float path rounded, byte for byte (%i×%i → %i×%i %s)', (w, h, ow, oh, layout) => {
    let state = w * 31 + h;
    const rgb = Uint8Array.from({ length: w * h * 3 }, () => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
    const values = preprocessRgb(rgb, w, h, ow, oh, layout, { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] });
    const rounded = Uint8Array.from(values, (v) => Math.min(255, Math.max(0, Math.round(v))));
    expect(Buffer.from(resizeRgbUint8(rgb, w, h, ow, oh, layout)).equals(Buffer.from(rounded))).toBe(true);
  });
});
