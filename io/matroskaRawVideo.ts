/**
 * A minimal Matroska stream of uncompressed rgb24 frames, each with its own timestamp — how the
 * overlay encoder learns the real timing of variable-frame-rate input (ffmpeg's rawvideo input has
 * only a fixed rate). One cluster per frame, so a block's relative time is always 0; the segment's
 * size is left unknown, as live Matroska streams do. ffmpeg reads it as `-f matroska -i pipe:0`.
 *
 *   header(w, h) once, then frame(ptsMicros, rgb) per frame  →  bytes for the encoder's stdin
 */

/** An EBML element: its ID bytes, an 8-byte size, the payload. */
function element(id: number, payload: Uint8Array): Buffer {
  const idBytes = Buffer.from(
    id.toString(16).padStart(id > 0xffffff ? 8 : id > 0xffff ? 6 : id > 0xff ? 4 : 2, '0'),
    'hex',
  );
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(payload.length) | (1n << 56n)); // VINT of length 8: marker bit 0x01 in the first byte
  return Buffer.concat([idBytes, size, payload]);
}

function uint(id: number, value: number | bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(value));
  return element(id, bytes);
}

const text = (id: number, value: string) => element(id, Buffer.from(value, 'ascii'));
const group = (id: number, ...children: Buffer[]) => element(id, Buffer.concat(children));

/** Timestamps in microseconds: TimestampScale is in nanoseconds per tick. */
const TIMESTAMP_SCALE_NS = 1000;

export function matroskaHeader(width: number, height: number): Buffer {
  const ebml = group(
    0x1a45dfa3,
    uint(0x4286, 1),
    uint(0x42f7, 1),
    uint(0x42f2, 4),
    uint(0x42f3, 8),
    text(0x4282, 'matroska'),
    uint(0x4287, 4),
    uint(0x4285, 2),
  );
  const info = group(
    0x1549a966,
    uint(0x2ad7b1, TIMESTAMP_SCALE_NS),
    text(0x4d80, 'deeplab-stream'),
    text(0x5741, 'deeplab-stream'),
  );
  const video = group(
    0xe0,
    uint(0xb0, width),
    uint(0xba, height),
    element(0x2eb524, Buffer.from([0x52, 0x47, 0x42, 24])),
  ); // ColourSpace 'RGB' 24: rgb24
  const tracks = group(
    0x1654ae6b,
    group(0xae, uint(0xd7, 1), uint(0x73c5, 1), uint(0x83, 1), text(0x86, 'V_UNCOMPRESSED'), video),
  );
  const segmentUnknownSize = Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  return Buffer.concat([ebml, segmentUnknownSize, info, tracks]);
}

/** One frame as a cluster at `ptsMicros` (≥ 0) holding one keyframe SimpleBlock of track 1. */
export function matroskaFrame(ptsMicros: number, rgb: Uint8Array): Buffer[] {
  const blockHeader = Buffer.from([0x81, 0x00, 0x00, 0x80]); // track 1, relative time 0, keyframe
  const block = Buffer.alloc(1 + 8);
  block[0] = 0xa3; // SimpleBlock
  block.writeBigUInt64BE(BigInt(blockHeader.length + rgb.length) | (1n << 56n), 1);
  const timestamp = uint(0xe7, Math.max(0, Math.round(ptsMicros)));
  const clusterSize = Buffer.alloc(8);
  clusterSize.writeBigUInt64BE(BigInt(timestamp.length + block.length + blockHeader.length + rgb.length) | (1n << 56n));
  // The frame itself is passed through, not copied into a new buffer.
  return [
    Buffer.from([0x1f, 0x43, 0xb6, 0x75]),
    clusterSize,
    timestamp,
    block,
    blockHeader,
    Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength),
  ];
}
