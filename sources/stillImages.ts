/**
 * A list of still images as one source of frames (`eval`'s photos): frame i is image i, decoded by
 * ffmpeg when it is pulled, whatever its size.
 *
 *   new StillImageSource(['a.jpg', 'b.png']).next() → Frame{ index 0, a.jpg's pixels }, then b.png, then null
 */
import { InputError } from '../core/errors.js';
import type { Frame } from '../core/frames.js';
import { probeInput } from '../io/ffmpeg.js';
import { FfmpegFrameSource } from './ffmpegFrameSource.js';
import type { FrameSource } from './frameSource.js';

export class StillImageSource implements FrameSource {
  readonly streamId = 'images';
  /** Each image has its own size: see each frame's. */
  readonly width = 0;
  readonly height = 0;
  readonly fps = 0;
  readonly frameCount: number;
  framesDecoded = 0;
  private decoder: FfmpegFrameSource | null = null;
  private closed = false;

  constructor(private readonly paths: readonly string[]) {
    this.frameCount = paths.length;
  }

  async next(): Promise<Frame | null> {
    const index = this.framesDecoded;
    const file = this.paths[index];
    if (this.closed || file === undefined) return null;
    this.decoder = new FfmpegFrameSource(await probeInput(file), this.streamId);
    const frame = await this.decoder.next().finally(() => this.decoder?.close());
    if (!frame) throw new InputError(`${file} has no picture`);
    this.framesDecoded += 1;
    return { ...frame, index, ptsMs: 0 };
  }

  close(): void {
    this.closed = true;
    this.decoder?.close();
  }
}
