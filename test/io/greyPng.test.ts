import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodeGreyPng } from '../../io/greyPng.js';
import { seededRandom } from '../../model/onnxGraph.js';

describe('encodeGreyPng', () => {
  it('writes an 8-bit greyscale PNG that pngjs reads back pixel for pixel', () => {
    const random = seededRandom(3);
    for (const [width, height] of [
      [1, 1],
      [7, 3],
      [500, 375],
    ] as const) {
      // Label-like runs with noise, and every byte value somewhere.
      const pixels = Uint8Array.from({ length: width * height }, (_, i) =>
        random() < 0.1 ? Math.floor(random() * 256) : (i >> 5) % 21,
      );
      const png = PNG.sync.read(encodeGreyPng(pixels, width, height));
      expect([png.width, png.height]).toEqual([width, height]);
      // pngjs hands back RGBA: the grey value in R, G and B.
      const grey = Uint8Array.from({ length: width * height }, (_, p) => png.data[p * 4]!);
      expect(Buffer.from(grey).equals(Buffer.from(pixels))).toBe(true);
    }
  });

  it('compresses label maps (runs of one label)', () => {
    const pixels = new Uint8Array(500 * 375).map((_, i) => (i % 500 < 250 ? 0 : 15));
    expect(encodeGreyPng(pixels, 500, 375).length).toBeLessThan(2000);
  });

  it('refuses a pixel count that does not match the size', () => {
    expect(() => encodeGreyPng(new Uint8Array(10), 4, 3)).toThrow(RangeError);
  });
});
