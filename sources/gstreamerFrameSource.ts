/**
 * Frames from a GStreamer pipeline in this process, through the optional native binding
 * `gstreamer-superficial` (no pipe, no child process: frames never cross a pipe). Used for cameras (`v4l2src`) when the binding is installed, and for `gst:` inputs.
 * The pipeline gets `videoconvert ! video/x-raw,format=RGB ! appsink` appended; the appsink keeps
 * at most two buffers and drops older ones, so a slow reader never backs the camera up.
 */
import { createRequire } from 'node:module';
import { SourceError } from '../core/errors.js';
import type { Frame } from '../core/frames.js';
import type { FrameSource } from './frameSource.js';
import { settings } from '../core/settings.js';

/** The part of gstreamer-superficial used here (it ships no types). */
interface GstAppSink {
  pull(callback: (buffer: Buffer | undefined, caps: Record<string, unknown> | undefined) => void): void;
}
interface GstPipeline {
  play(): void;
  stop(): void;
  findChild(name: string): GstAppSink | null;
}
interface GstBinding {
  Pipeline: new (description: string) => GstPipeline;
}

let binding: GstBinding | null | undefined;

/** The binding, or null when it is not installed (or disabled with DEEPLAB_STREAM_GSTREAMER=0). */
export function gstreamerBinding(): GstBinding | null {
  if (binding !== undefined) return binding;
  try {
    binding = !settings().gstreamer ? null : (createRequire(import.meta.url)('gstreamer-superficial') as GstBinding);
  } catch {
    binding = null;
  }
  return binding;
}

export const GSTREAMER_HOWTO =
  "install GStreamer's development files and rebuild the optional binding: `sudo apt-get install libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev && npm rebuild gstreamer-superficial`";

const SINK = 'videoconvert ! video/x-raw,format=RGB ! appsink name=deeplab_sink max-buffers=2 drop=true sync=false';
const FIRST_FRAME_TIMEOUT_MS = 10_000;

export class GstFrameSource implements FrameSource {
  readonly frameCount = null;
  private readonly waiting: Frame[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  private closed = false;
  private index = 0;
  private lastAt = performance.now();

  private constructor(
    private readonly pipeline: GstPipeline,
    private readonly sink: GstAppSink,
    readonly streamId: string,
    readonly width: number,
    readonly height: number,
    readonly fps: number,
    first: Buffer,
  ) {
    this.accept(first);
    this.pullNext();
  }

  /**
   * Starts `description` (a GStreamer launch line without a sink) and resolves once the first frame
   * arrives; rejects with a SourceError when the pipeline cannot be built or gives no frame.
   */
  static open(description: string, streamId: string, shown: string): Promise<GstFrameSource> {
    const gst = gstreamerBinding();
    if (!gst)
      return Promise.reject(
        new SourceError(
          `${shown}: GStreamer inputs need the optional gstreamer-superficial binding: ${GSTREAMER_HOWTO}`,
        ),
      );
    let pipeline: GstPipeline;
    try {
      pipeline = new gst.Pipeline(`${description} ! ${SINK}`);
    } catch (error) {
      return Promise.reject(
        new SourceError(`${shown}: GStreamer cannot build the pipeline (${(error as Error).message})`),
      );
    }
    const sink = pipeline.findChild('deeplab_sink')!;
    return new Promise<GstFrameSource>((resolve, reject) => {
      let caps: Record<string, unknown> | undefined;
      const timer = setTimeout(() => {
        pipeline.stop();
        reject(
          new SourceError(
            `${shown}: no frame from GStreamer within ${FIRST_FRAME_TIMEOUT_MS / 1000} s (is the device busy or unplugged?)`,
          ),
        );
      }, FIRST_FRAME_TIMEOUT_MS);
      const onFirst = (buffer: Buffer | undefined, newCaps: Record<string, unknown> | undefined) => {
        if (newCaps && 'width' in newCaps) caps = newCaps;
        if (!buffer) {
          clearTimeout(timer);
          pipeline.stop();
          reject(
            new SourceError(
              `${shown}: GStreamer ended before the first frame (no such device, busy, or nothing to play)`,
            ),
          );
          return;
        }
        clearTimeout(timer);
        const width = Number(caps?.['width']);
        const height = Number(caps?.['height']);
        if (!(width > 0 && height > 0)) {
          pipeline.stop();
          reject(new SourceError(`${shown}: GStreamer gave a frame without its size`));
          return;
        }
        const [num, den] = String(caps?.['framerate'] ?? '30/1')
          .split('/')
          .map(Number);
        const fps = den && num ? num / den : 30;
        resolve(new GstFrameSource(pipeline, sink, streamId, width, height, fps, buffer));
      };
      pipeline.play();
      sink.pull(onFirst);
    });
  }

  get framesDecoded(): number {
    return this.index;
  }

  private pullNext(): void {
    if (this.closed) return;
    this.sink.pull((buffer) => {
      if (this.closed) return;
      if (!buffer) {
        // End of stream (or the device went away): the binding keeps answering with nothing.
        this.ended = true;
        this.notify();
        return;
      }
      this.accept(buffer);
      this.pullNext();
    });
  }

  /** RGB rows come padded to 4 bytes (a 322-wide frame has 968-byte rows): packed here. */
  private accept(buffer: Buffer): void {
    const row = this.width * 3;
    const stride = (row + 3) & ~3;
    let rgb: Uint8Array;
    if (buffer.length === row * this.height) rgb = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    else {
      rgb = new Uint8Array(row * this.height);
      for (let y = 0; y < this.height; y++) rgb.set(buffer.subarray(y * stride, y * stride + row), y * row);
    }
    const now = performance.now();
    this.waiting.push({
      streamId: this.streamId,
      index: this.index++,
      ptsMs: ((this.index - 1) * 1000) / this.fps,
      width: this.width,
      height: this.height,
      rgb,
      capturedAt: now,
      decodeMs: now - this.lastAt,
    });
    this.lastAt = now;
    if (this.waiting.length > 2) this.waiting.shift(); // the appsink drops too; this only bounds a stalled reader
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async next(): Promise<Frame | null> {
    while (this.waiting.length === 0 && !this.ended && !this.closed)
      await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.closed) return null;
    return this.waiting.shift() ?? null; // null: the pipeline ended
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pipeline.stop();
    this.notify();
  }
}
