/**
 * Ground-truth label maps from PNG files: palette PNGs (as PASCAL VOC's SegmentationClass) give
 * their palette index, greyscale PNGs their value — at any bit depth (1, 2, 4, 8, 16), read as the
 * stored value, never rescaled to 0–255. 255 means "ignore" in the VOC protocol (and 65535 in a
 * 16-bit map); other values above 255 cannot be class indices and are refused.
 */
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { InputError } from '../core/errors.js';

export interface LabelImage {
  readonly width: number;
  readonly height: number;
  readonly labels: Uint8Array;
}

export function readLabelPng(file: string): LabelImage {
  // What pngjs returns at run time (its typings say `palette: boolean` and omit colour type 3).
  let png: {
    width: number;
    height: number;
    data: Buffer | Uint16Array;
    palette?: number[][] | boolean;
    colorType?: number;
  };
  try {
    // skipRescale: a 1-bit mask's 1 stays 1 (not 255 = ignored), a 16-bit map's 7 stays 7 (not 0).
    png = PNG.sync.read(readFileSync(file), { skipRescale: true });
  } catch (error) {
    throw new InputError(`${file} is not a readable PNG label map (${(error as Error).message})`);
  }
  const { width, height, data } = png;
  const labels = new Uint8Array(width * height);
  if (Array.isArray(png.palette) && png.colorType === 3) {
    // pngjs expands palette entries to RGBA; map each colour back to its first palette index.
    const index = new Map<number, number>();
    png.palette.forEach((entry, i) => {
      const key = (entry[0]! << 16) | (entry[1]! << 8) | entry[2]!;
      if (!index.has(key)) index.set(key, i);
    });
    for (let p = 0; p < labels.length; p++)
      labels[p] = index.get((data[p * 4]! << 16) | (data[p * 4 + 1]! << 8) | data[p * 4 + 2]!) ?? 255;
  } else if (png.colorType === 0 || png.colorType === 4) {
    for (let p = 0; p < labels.length; p++) {
      const value = data[p * 4]!;
      if (value > 255 && value !== 65535) {
        throw new InputError(
          `${file} holds the value ${value} at pixel (${p % width}, ${Math.floor(p / width)}): label maps hold class indices 0–254 and 255 (or 65535) for "ignore"`,
        );
      }
      labels[p] = value === 65535 ? 255 : value;
    }
  } else {
    throw new InputError(`${file} is a colour PNG: label maps must be palette or greyscale PNGs (pixel = class index)`);
  }
  return { width, height, labels };
}
