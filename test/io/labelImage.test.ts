import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.js';
import { readLabelPng } from '../../io/labelImage.js';
import { tempDir } from '../helpers/fixtures.js';

const tmp = tempDir('dls-labels-');
afterAll(() => tmp.cleanup());

/** CRC-32 of PNG chunks (ISO 3309). */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** A PNG at any bit depth (pngjs writes only 8 and 16): greyscale (0) or palette (3), rows packed MSB first. */
function png(
  width: number,
  height: number,
  bitDepth: 1 | 2 | 4 | 8 | 16,
  values: number[],
  palette?: [number, number, number][],
): string {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([bitDepth, palette ? 3 : 0, 0, 0, 0], 8);
  const rowBytes = Math.ceil((width * bitDepth) / 8);
  const raw = Buffer.alloc(height * (rowBytes + 1));
  for (let y = 0; y < height; y++) {
    const row = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    for (let x = 0; x < width; x++) {
      const v = values[y * width + x]!;
      if (bitDepth === 16) row.writeUInt16BE(v, x * 2);
      else if (bitDepth === 8) row[x] = v;
      else {
        const bit = x * bitDepth;
        row[bit >> 3]! |= v << (8 - bitDepth - (bit & 7));
      }
    }
  }
  const file = path.join(tmp.dir, `${palette ? 'p' : 'g'}${bitDepth}-${values.join('_').slice(0, 40)}.png`);
  writeFileSync(
    file,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', header),
      ...(palette ? [chunk('PLTE', Buffer.from(palette.flat()))] : []),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', Buffer.alloc(0)),
    ]),
  );
  return file;
}

describe('readLabelPng', () => {
  it('reads greyscale label maps at 1, 2, 4, 8 and 16 bits as their stored values', () => {
    const cases: [1 | 2 | 4 | 8 | 16, number[], number[]][] = [
      [1, [0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 1, 0]],
      [2, [0, 1, 2, 3, 2, 1], [0, 1, 2, 3, 2, 1]],
      [4, [0, 15, 7, 3, 9, 1], [0, 15, 7, 3, 9, 1]],
      [8, [0, 20, 255, 3, 9, 1], [0, 20, 255, 3, 9, 1]],
      [16, [0, 20, 7, 255, 65535, 1], [0, 20, 7, 255, 255, 1]],
    ];
    for (const [depth, stored, expected] of cases) {
      const read = readLabelPng(png(3, 2, depth, stored));
      expect({ depth, labels: [...read.labels], width: read.width, height: read.height }).toEqual({
        depth,
        labels: expected,
        width: 3,
        height: 2,
      });
    }
  });

  it('reads palette label maps at low bit depths by palette index, as VOC stores them', () => {
    const palette: [number, number, number][] = [
      [0, 0, 0],
      [128, 0, 0],
      [0, 128, 0],
      [128, 128, 0],
    ];
    expect([...readLabelPng(png(4, 1, 2, [3, 0, 1, 2], palette)).labels]).toEqual([3, 0, 1, 2]);
    expect([...readLabelPng(png(4, 1, 4, [2, 2, 1, 0], palette)).labels]).toEqual([2, 2, 1, 0]);
  });

  it('refuses 16-bit values that cannot be class indices, naming the pixel', () => {
    expect(() => readLabelPng(png(2, 1, 16, [4, 300]))).toThrow(InputError);
    expect(() => readLabelPng(png(2, 1, 16, [4, 300]))).toThrow(/value 300 at pixel \(1, 0\)/);
  });
});
