import { describe, expect, it } from 'vitest';
import { bilinearTaps } from '../../core/bilinearTaps.js';
import { imageNative } from '../../model/imageNative.js';
import {
  preprocessRgb,
  preprocessRgbInJavaScript,
  resizeRgbUint8,
  resizeRgbUint8InJavaScript,
} from '../../model/preprocess.js';

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
  const noise = (w: number, h: number) => {
    let state = w * 31 + h;
    return Uint8Array.from({ length: w * h * 3 }, () => (state = (state * 1103515245 + 12345) >>> 0) >>> 24);
  };
  const sizes = [
    [768, 576, 513, 513, 'NHWC'],
    [237, 231, 257, 257, 'NHWC'],
    [100, 80, 33, 61, 'NCHW'],
    [5, 1, 9, 3, 'NCHW'],
    [1, 1, 4, 4, 'NHWC'],
  ] as const;

  it.each(sizes)('is the float path within one level (%i×%i → %i×%i %s)', (w, h, ow, oh, layout) => {
    const rgb = noise(w, h);
    const values = preprocessRgb(rgb, w, h, ow, oh, layout, { mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] });
    const fixed = resizeRgbUint8InJavaScript(rgb, w, h, ow, oh, layout);
    let same = 0;
    let worst = 0;
    for (let i = 0; i < fixed.length; i++) {
      worst = Math.max(worst, Math.abs(fixed[i]! - values[i]!));
      if (fixed[i] === Math.round(values[i]!)) same++;
    }
    expect(worst).toBeLessThanOrEqual(1);
    // Byte noise is the worst case for the 11-bit weights (a real frame: 99.87% the same).
    expect(same / fixed.length).toBeGreaterThan(0.98);
  });

  const addon = imageNative();
  it.skipIf(!addon).each(sizes)(
    'native gives the JavaScript bytes, byte for byte (%i×%i → %i×%i %s)',
    (w, h, ow, oh, layout) => {
      const rgb = noise(w, h);
      expect(
        Buffer.from(resizeRgbUint8(rgb, w, h, ow, oh, layout)).equals(
          Buffer.from(resizeRgbUint8InJavaScript(rgb, w, h, ow, oh, layout)),
        ),
      ).toBe(true);
    },
  );

  it.skipIf(!addon).each(sizes)(
    'native float input is the JavaScript one, bit for bit (%i×%i → %i×%i %s)',
    (w, h, ow, oh, layout) => {
      const rgb = noise(w, h);
      const norm = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;
      const native = preprocessRgb(rgb, w, h, ow, oh, layout, norm);
      const script = preprocessRgbInJavaScript(rgb, w, h, ow, oh, layout, norm);
      expect(Buffer.from(native.buffer).equals(Buffer.from(script.buffer))).toBe(true);
    },
  );

  it.skipIf(!addon)('native float input refuses taps outside the frame and a wrong output size', () => {
    const call = (xLow: number, outLength: number) =>
      addon!.preprocessRgb(
        new Uint8Array(4 * 4 * 3),
        4,
        4,
        new Float32Array(outLength),
        2,
        2,
        0,
        Int32Array.from([xLow, 0]),
        Int32Array.from([3, 3]),
        Float32Array.from([0.5, 0.5]),
        Int32Array.from([0, 1]),
        Int32Array.from([1, 2]),
        Float32Array.from([0.25, 0.75]),
        Float64Array.from([1, 1, 1, 0, 0, 0]),
      );
    expect(() => call(0, 12)).not.toThrow();
    expect(() => call(4, 12)).toThrow(TypeError);
    expect(() => call(-1, 12)).toThrow(TypeError);
    expect(() => call(0, 11)).toThrow(TypeError);
  });

  it.skipIf(!addon)('native refuses taps outside the frame instead of reading past it', () => {
    const taps = (n: number, at: number) => Int32Array.from({ length: n }, () => at);
    const call = (xLow: number, yHigh: number) =>
      addon!.resizeRgbUint8(
        new Uint8Array(4 * 4 * 3),
        4,
        4,
        new Uint8Array(2 * 2 * 3),
        2,
        2,
        0,
        taps(2, xLow),
        taps(2, 0),
        taps(2, 0),
        taps(2, 0),
        taps(2, yHigh),
        taps(2, 1024),
      );
    expect(() => call(0, 3)).not.toThrow();
    expect(() => call(12, 0)).toThrow(TypeError);
    expect(() => call(1, 0)).toThrow(TypeError);
    expect(() => call(0, 4)).toThrow(TypeError);
  });
});
