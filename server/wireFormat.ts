/**
 * What travels over the viewer's WebSocket (`/ws`). Documented for other clients in docs/live.md "Wire format";
 * the browser's decoder is viewer/wireFormat.js.
 *
 * Server → client, binary, one per frame:
 *   u32 little-endian N | N bytes of UTF-8 JSON (FrameHeader) | JPEG (header.jpegBytes) | label map (header.labelBytes)
 * The label map is H×W class indices, one byte each, row-major, compressed with raw DEFLATE (RFC 1951;
 * the browser's `DecompressionStream('deflate-raw')`). The browser draws the JPEG and colours the labels
 * itself, so opacity and hidden classes cost the server nothing. The message is encoded once and the
 * same bytes go to every viewer.
 *
 * Server → client, text: JSON ServerMessage (hello with the streams, stream updates, pong).
 * Client → server, text: JSON ClientMessage (subscribe, crf on/off, pause, ping).
 * Times are milliseconds since the Unix epoch on the server's clock; `pong` lets a viewer on another
 * machine estimate the offset of its clock.
 */
import { promisify } from 'node:util';
import { deflateRaw } from 'node:zlib';
import sharp from 'sharp';
import type { Segmentation, StageTimings } from '../core/frames.js';
import type { ZoneState } from '../zones/zoneTracker.js';

const deflateRawAsync = promisify(deflateRaw);
// libvips caches recent operations (up to 50 MB by default); no frame is ever encoded twice.
sharp.cache(false);

export interface FrameHeader {
  readonly type: 'frame';
  readonly streamId: string;
  readonly index: number;
  readonly width: number;
  readonly height: number;
  readonly capturedAt: number;
  readonly inferredAt: number;
  readonly sentAt: number;
  /** Whether these labels were refined by the CRF. */
  readonly crf: boolean;
  /** Class indices with at least one pixel in this frame. */
  readonly classesPresent: readonly number[];
  /** Milliseconds per pipeline stage for this frame. */
  readonly stageMs: StageTimings;
  /**
   * Tiles at the camera's rate: the oldest scores this frame's labels are made of (ms of capture
   * time; 0 when every window ran), and how many of its windows ran.
   */
  readonly scoresAgeMs?: number;
  readonly windowsRun?: readonly [run: number, of: number];
  readonly jpegBytes: number;
  readonly labelBytes: number;
}

export interface StreamDescription {
  readonly id: string;
  /** The input as given on the command line. */
  readonly input: string;
  readonly kind: string;
  readonly status: string;
  readonly message?: string;
  readonly width: number;
  readonly height: number;
  readonly crf: boolean;
  /** Frames dropped at the source because inference was behind. */
  readonly dropped: number;
  /** Frames published per second, over the last second. */
  readonly fps: number;
  /** Its own windows, where it has them (added over the API with `tiles`). */
  readonly tiles?: 'auto' | { readonly cols: number; readonly rows: number };
  /** The classes it shows, where it has its own list (added over the API with `classesShown`). */
  readonly classesShown?: readonly string[];
  /** Its zones' latest shares and states (the server adds them). */
  readonly zones?: readonly ZoneState[];
}

export interface ClassDescription {
  readonly name: string;
  /** [r, g, b], 0–255. */
  readonly color: readonly [number, number, number];
}

export type ServerMessage =
  | {
      readonly type: 'hello';
      readonly serverTime: number;
      readonly classes: readonly ClassDescription[];
      readonly crfAvailable: boolean;
      readonly streams: readonly StreamDescription[];
    }
  | { readonly type: 'streams'; readonly streams: readonly StreamDescription[] }
  | { readonly type: 'pong'; readonly t0: number; readonly serverTime: number }
  | { readonly type: 'error'; readonly message: string };

export type ClientMessage =
  /** Which streams to receive: ids, or '*' for all (the default). */
  | { readonly type: 'subscribe'; readonly streams: readonly string[] | '*' }
  | { readonly type: 'crf'; readonly streamId: string; readonly on: boolean }
  /** A paused viewer gets no frames (and costs nothing) until it resumes. */
  | { readonly type: 'pause'; readonly paused: boolean }
  | { readonly type: 'ping'; readonly t0: number };

/** Epoch milliseconds of a performance.now() reading. */
export function epochMs(performanceNow: number): number {
  return Math.round((performance.timeOrigin + performanceNow) * 10) / 10;
}

/** Encodes one segmented frame: JPEG and DEFLATE run on libuv's thread pool, not the event loop. */
export async function encodeFrameMessage(
  segmentation: Segmentation,
  options: { jpegQuality?: number } = {},
): Promise<Buffer> {
  const { frame, labels, classPixels, timings } = segmentation;
  const [jpeg, packedLabels] = await Promise.all([
    sharp(frame.rgb, { raw: { width: frame.width, height: frame.height, channels: 3 } })
      .jpeg({ quality: options.jpegQuality ?? 80 })
      .toBuffer(),
    deflateRawAsync(labels, { level: 1 }),
  ]);
  const classesPresent: number[] = [];
  classPixels.forEach((count, c) => {
    if (count > 0) classesPresent.push(c);
  });
  const header: FrameHeader = {
    type: 'frame',
    streamId: frame.streamId,
    index: frame.index,
    width: frame.width,
    height: frame.height,
    capturedAt: epochMs(frame.capturedAt),
    inferredAt: epochMs(segmentation.inferredAt),
    sentAt: epochMs(performance.now()),
    crf: segmentation.crf !== undefined,
    ...(segmentation.scoresAge
      ? {
          scoresAgeMs: Math.round(segmentation.scoresAge.oldestMs),
          windowsRun: [segmentation.scoresAge.windowsRun, segmentation.scoresAge.windows] as const,
        }
      : {}),
    classesPresent,
    stageMs: roundTimings(timings),
    jpegBytes: jpeg.length,
    labelBytes: packedLabels.length,
  };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([length, json, jpeg, packedLabels]);
}

function roundTimings(timings: StageTimings): StageTimings {
  return Object.fromEntries(
    Object.entries(timings).map(([k, v]) => [k, Math.round(v * 100) / 100]),
  ) as unknown as StageTimings;
}

/** A frame message's header is at most this long: anything longer is not one of ours. */
const MAX_HEADER_BYTES = 65536;

/**
 * A frame message split into its parts (encodeFrameMessage's inverse, as the relay and the
 * benchmarks read what workers and servers send); null when it is not one — too short, a header
 * that is not JSON, over 64 KiB or without a stream, or parts that do not add up to the message.
 */
export function splitFrameMessage(
  bytes: Uint8Array,
): { header: FrameHeader; jpeg: Uint8Array; packedLabels: Uint8Array } | null {
  if (bytes.length < 4) return null;
  const length = Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32LE(0);
  if (length > MAX_HEADER_BYTES || 4 + length > bytes.length) return null;
  let header: Partial<FrameHeader>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + length))) as Partial<FrameHeader>;
  } catch {
    return null;
  }
  const { streamId, jpegBytes, labelBytes } = header;
  if (typeof streamId !== 'string' || !Number.isInteger(jpegBytes) || !Number.isInteger(labelBytes)) return null;
  const labelsAt = 4 + length + jpegBytes!;
  if (jpegBytes! < 0 || labelBytes! < 0 || labelsAt + labelBytes! !== bytes.length) return null;
  return {
    header: header as FrameHeader,
    jpeg: bytes.subarray(4 + length, labelsAt),
    packedLabels: bytes.subarray(labelsAt),
  };
}
