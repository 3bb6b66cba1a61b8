/** RGB images for the `crf` command: PNG (any colour type pngjs reads) or binary PPM (P6, 8-bit). */
import { createRequire } from 'node:module';
import type { PNG } from 'pngjs';
import { InputError } from '../core/errors.js';
import { readInputFile } from './readInputFile.js';

export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

function readPpm(bytes: Uint8Array, name: string): RgbImage {
  // "P6" whitespace width whitespace height whitespace maxval single-whitespace data; '#' comments.
  const tokens: string[] = [];
  let i = 2;
  while (tokens.length < 3 && i < bytes.length) {
    const ch = String.fromCharCode(bytes[i]!);
    if (ch === '#') while (i < bytes.length && bytes[i] !== 0x0a) i++;
    else if (/\s/.test(ch)) i++;
    else {
      let token = '';
      while (i < bytes.length && !/\s/.test(String.fromCharCode(bytes[i]!))) token += String.fromCharCode(bytes[i++]!);
      tokens.push(token);
    }
  }
  const [width, height, maxval] = tokens.map(Number);
  if (width === 0 || height === 0) throw new InputError(`${name} is an empty image (${width}x${height})`);
  if (!width || !height || maxval !== 255) throw new InputError(`${name} is not an 8-bit binary PPM (P6, maxval 255)`);
  const start = i + 1;
  if (bytes.length - start < width * height * 3) throw new InputError(`${name} is truncated`);
  return { width, height, rgb: bytes.slice(start, start + width * height * 3) };
}

export function readRgbImage(file: string): RgbImage {
  const bytes = readInputFile(file, 'image');
  if (bytes[0] === 0x50 && bytes[1] === 0x36) return readPpm(bytes, file);
  let png: PNG;
  try {
    // Loaded for PNG inputs only: importing it is a noticeable share of a one-image `crf` process.
    const { PNG: Png } = createRequire(import.meta.url)('pngjs') as typeof import('pngjs');
    png = Png.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch {
    throw new InputError(`${file} is neither a PNG nor a binary PPM (P6)`);
  }
  if (png.width === 0 || png.height === 0) throw new InputError(`${file} is an empty image`);
  const rgb = new Uint8Array(png.width * png.height * 3);
  for (let p = 0; p < png.width * png.height; p++) rgb.set(png.data.subarray(p * 4, p * 4 + 3), p * 3);
  return { width: png.width, height: png.height, rgb };
}
