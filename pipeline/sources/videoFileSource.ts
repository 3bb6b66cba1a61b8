/**
 * Frames from a video file, still image or image sequence, decoded by ffmpeg to rgb24 and read
 * from its stdout one frame at a time. Nothing is read ahead: when nobody calls `next()`, the pipe
 * fills and ffmpeg blocks, so memory stays at about one frame plus the pipe buffer.
 */
import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { InputError } from '../errors.js';
import { ffmpegReason, type InputInfo } from '../ffmpeg.js';
import type { Frame } from '../frames.js';
import type { FrameSource } from './frameSource.js';

export class VideoFileSource implements FrameSource {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameCount: number | null;
  private readonly frameBytes: number;
  private readonly stdout: PassThrough;
  private readonly command: ffmpeg.FfmpegCommand;
  /** Settles when ffmpeg exits: null on success, the error otherwise. */
  private readonly exited: Promise<Error | null>;
  private readonly decodeErrors: string[] = [];
  private index = 0;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly info: InputInfo,
    readonly streamId = 'file',
  ) {
    this.width = info.width;
    this.height = info.height;
    this.fps = info.fps;
    this.frameCount = info.frameCount;
    this.frameBytes = info.width * info.height * 3;
    this.stdout = new PassThrough({ highWaterMark: this.frameBytes });
    this.command = ffmpeg(info.path)
      .inputOptions(['-nostdin', '-v', 'error'])
      .outputOptions(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-fps_mode', 'passthrough', '-an', '-sn', '-dn'])
      // fluent-ffmpeg spawns asynchronously: a close() that came first still kills the child.
      .on('start', () => {
        if (this.closed) this.command.kill('SIGKILL');
      })
      .on('stderr', (line: string) => {
        if (this.decodeErrors.length < 20 && line.trim()) this.decodeErrors.push(line.trim());
      });
    this.exited = new Promise((resolve) => {
      this.command.on('end', () => resolve(null));
      this.command.on('error', (error: Error) => resolve(error));
    });
    const wakeReader = () => {
      const wake = this.wake;
      this.wake = null;
      wake?.();
    };
    this.stdout.on('readable', wakeReader).on('end', wakeReader).on('close', wakeReader);
    this.command.pipe(this.stdout, { end: true });
  }

  get framesDecoded(): number {
    return this.index;
  }

  async next(): Promise<Frame | null> {
    const started = performance.now();
    const data = await this.readFrameBytes();
    if (!data) {
      await this.checkEnd();
      return null;
    }
    const now = performance.now();
    const frame: Frame = {
      streamId: this.streamId,
      index: this.index,
      ptsMs: (this.index * 1000) / this.fps,
      width: this.width,
      height: this.height,
      rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      capturedAt: now,
      decodeMs: now - started,
    };
    this.index += 1;
    return frame;
  }

  private async readFrameBytes(): Promise<Buffer | null> {
    for (;;) {
      if (this.closed) return null;
      const chunk = this.stdout.read(this.frameBytes) as Buffer | null;
      if (chunk) return chunk.length === this.frameBytes ? chunk : null; // a short tail is a cut frame
      if (this.stdout.readableEnded || this.stdout.destroyed) return null;
      // One persistent listener set (constructor): re-adding a 'readable' listener while bytes are
      // buffered re-emits at once, which would spin without ever yielding to I/O.
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** At the end of the data: did ffmpeg fail, or stop short of the frames the container declares? */
  private async checkEnd(): Promise<void> {
    if (this.closed) return;
    const error = await this.exited;
    const name = this.info.path;
    if (error) throw new InputError(`${name} could not be decoded (${ffmpegReason(error)})`);
    const expected = this.info.frameCount;
    if (this.info.frameCountDeclared && expected !== null && this.index < expected && this.decodeErrors.length > 0) {
      throw new InputError(
        `${name} is truncated or damaged: decoded ${this.index} of ${expected} frames (${ffmpegReason(this.decodeErrors.at(-1))}); re-download or re-encode it`,
      );
    }
    if (this.index === 0) throw new InputError(`${name} contains no decodable video frames`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.command.kill('SIGKILL');
    this.stdout.destroy();
  }
}
