/** The frame message as it travels: what encodeFrameMessage writes, splitFrameMessage reads back — and nothing else. */
import { inflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Segmentation } from '../../core/frames.js';
import { encodeFrameMessage, splitFrameMessage } from '../../server/wireFormat.js';

const segmentation = (): Segmentation => ({
  frame: {
    streamId: 'cam',
    index: 7,
    ptsMs: 0,
    width: 8,
    height: 4,
    rgb: new Uint8Array(8 * 4 * 3).fill(60),
    capturedAt: 1,
    decodeMs: 0,
  },
  labels: Uint8Array.from({ length: 32 }, (_, i) => i % 3),
  classPixels: Uint32Array.from([11, 11, 10]),
  inferredAt: 2,
  timings: { decode: 0, preprocess: 0, queue: 0, infer: 0, postprocess: 0, crf: 0, write: 0 },
});

describe('splitFrameMessage', () => {
  it('reads back what encodeFrameMessage wrote', async () => {
    const bytes = await encodeFrameMessage(segmentation());
    const split = splitFrameMessage(bytes)!;
    expect(split.header.streamId).toBe('cam');
    expect(split.header.index).toBe(7);
    expect(Array.from(inflateRawSync(split.packedLabels))).toEqual(Array.from(segmentation().labels));
    expect(Array.from(split.jpeg.subarray(0, 2))).toEqual([0xff, 0xd8]); // a JPEG
  });

  it('is null for what is not a frame message: short, cut, lying lengths, no stream, a header not JSON', async () => {
    const bytes = await encodeFrameMessage(segmentation());
    expect(splitFrameMessage(new Uint8Array(3))).toBeNull();
    expect(splitFrameMessage(bytes.subarray(0, bytes.length - 1))).toBeNull();
    expect(splitFrameMessage(Buffer.concat([bytes, Buffer.from([0])]))).toBeNull();
    const header = (json: string) => {
      const text = Buffer.from(json);
      const length = Buffer.alloc(4);
      length.writeUInt32LE(text.length);
      return Buffer.concat([length, text]);
    };
    expect(splitFrameMessage(header('{"jpegBytes":0,"labelBytes":0}'))).toBeNull();
    expect(splitFrameMessage(header('{"streamId":"a","jpegBytes":-1,"labelBytes":1}'))).toBeNull();
    expect(splitFrameMessage(header('{"streamId":"a"'))).toBeNull();
    expect(splitFrameMessage(header('{"streamId":"a","jpegBytes":0,"labelBytes":0}'))?.header.streamId).toBe('a');
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(1 << 30);
    expect(splitFrameMessage(huge)).toBeNull();
  });
});
