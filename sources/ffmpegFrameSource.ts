/**
 * Frames from anything ffmpeg reads — a video file, still image, image sequence, or a live input
 * (testsrc, rtsp://, http://, a v4l2 camera; see liveInputs.ts) — decoded to rgb24 and read
 * from its stdout. Bytes are copied straight into per-frame buffers (a Node stream's `read(n)`
 * copies each frame again), and stdout is paused as soon as one whole frame
 * waits unclaimed: ffmpeg then blocks on the full pipe, so memory stays at about three frames plus
 * the pipe buffer however long the input is.
 *
 * Timestamps are the stream's own: ffmpeg's `showinfo` filter reports each frame's pts on stderr
 * (free: no checksums), so variable-frame-rate input keeps its real timing (`ptsMs`, time since the
 * first frame). Of the rest of stderr only errors are kept, for the reasons shown to users.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { InputError } from '../core/errors.js';
import { ffmpegReason, locateFfmpeg, type InputInfo } from '../io/ffmpeg.js';
import type { Frame } from '../core/frames.js';
import type { FrameSource } from './frameSource.js';

/** Decoded frames allowed to wait unclaimed: two keep ffmpeg busy while one is handed out. */
const READ_AHEAD_FRAMES = 2;

/**
 * A file that decodes short of the frames its container declares is slightly damaged — played on,
 * with one warning — when at most this share of them (and at least one frame) is missing; beyond
 * that it is truncated or broken, and refused. (`strict` refuses any decode error.)
 */
export const DAMAGED_FRAMES_TOLERATED = 0.01;

/** `[Parsed_showinfo_0 @ 0x…] [info] n:  12 pts:  12288 pts_time:0.48 …` */
const SHOWINFO_PTS = /\[Parsed_showinfo_\d+ @ [^\]]*\] \[info\] n:\s*\d+ pts:\s*\S+ pts_time:(\S+)/;
/** An error line at `-loglevel level+info`: `[h264 @ 0x…] [error] reason` (the level tag removed). */
const ERROR_LINE = /^(.*?)\[(?:error|fatal|panic)\] (.*)$/;

export interface FfmpegFrameSourceOptions {
  /** ffmpeg's input options and `-i`, for inputs that are not a plain path (default: `-i info.path`). */
  readonly inputArgs?: readonly string[];
  /** Refuse the input on any decode error, however few frames it costs. */
  readonly strict?: boolean;
  /** Told once, at the end, when a slightly damaged input lost frames or had decode errors. */
  readonly onWarning?: (message: string) => void;
  /**
   * Frames' buffers used again instead of a new one each (1.3 MB at 768×576): for a run in which
   * at most `alive` frames are handed out and not yet done at once (its frame credits), done in
   * order, and none read once done — sinks that never read pixels, no CRF. A frame's buffer is
   * filled again once `alive` later frames have been handed out. On two cores the main thread's
   * collector, started by that external memory, then runs 40% less often (VOC 257 on vtest.avi:
   * 153/155 → 159/161 fps, alternating).
   */
  readonly recycleFrames?: { readonly alive: number };
}

export class FfmpegFrameSource implements FrameSource {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frameCount: number | null;
  private readonly frameBytes: number;
  private readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Settles when ffmpeg exits: its exit code, or the signal that killed it. */
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly stderrLines: string[] = [];
  private stderrTail = '';
  private stderrEnded = false;
  /** Seconds of each decoded frame not yet handed out, in order (NaN when the stream has none). */
  private readonly ptsQueue: number[] = [];
  private firstPts: number | null = null;
  /** Whole frames decoded but not yet handed out (stdout pauses at READ_AHEAD_FRAMES). */
  private readonly ready: Buffer[] = [];
  private filling: Buffer;
  private filled = 0;
  /** recycleFrames: the buffers of frames handed out, oldest first, and those free to fill again. */
  private readonly handedOut: Buffer[] = [];
  private readonly freeBuffers: Buffer[] = [];
  private ended = false;
  private index = 0;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly info: InputInfo,
    readonly streamId = 'file',
    private readonly options: FfmpegFrameSourceOptions = {},
  ) {
    const inputArgs = options.inputArgs ?? ['-i', info.path];
    this.width = info.width;
    this.height = info.height;
    this.fps = info.fps;
    this.frameCount = info.frameCount;
    this.frameBytes = info.width * info.height * 3;
    this.filling = this.nextBuffer();
    const args = [
      '-nostdin',
      '-hide_banner',
      '-nostats',
      '-loglevel',
      'level+info',
      ...inputArgs,
      '-vf',
      'showinfo=checksum=0',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-fps_mode',
      'passthrough',
      '-an',
      '-sn',
      '-dn',
      'pipe:1',
    ];
    this.child = spawn(locateFfmpeg().ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.child.stdout.on('end', () => {
      this.ended = true;
      this.notify();
    });
    this.child.stderr.setEncoding('utf8').on('data', (text: string) => {
      const lines = (this.stderrTail + text).split('\n');
      this.stderrTail = lines.pop()!;
      for (const line of lines) this.onStderrLine(line);
    });
    this.child.stderr.on('end', () => {
      this.onStderrLine(this.stderrTail);
      this.stderrEnded = true;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => resolve({ code, signal }));
      this.child.on('error', () => resolve({ code: -1, signal: null }));
    });
  }

  get framesDecoded(): number {
    return this.index;
  }

  private nextBuffer(): Buffer {
    return this.freeBuffers.pop() ?? Buffer.allocUnsafe(this.frameBytes);
  }

  private onData(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, this.frameBytes - this.filled);
      chunk.copy(this.filling, this.filled, offset, offset + n);
      this.filled += n;
      offset += n;
      if (this.filled === this.frameBytes) {
        this.ready.push(this.filling);
        this.filling = this.nextBuffer();
        this.filled = 0;
      }
    }
    if (this.ready.length > 0) this.notify();
    if (this.ready.length >= READ_AHEAD_FRAMES) this.child.stdout.pause();
  }

  private onStderrLine(line: string): void {
    const pts = SHOWINFO_PTS.exec(line);
    if (pts) {
      this.ptsQueue.push(Number(pts[1]));
      this.notify();
      return;
    }
    const error = ERROR_LINE.exec(line);
    if (error && this.stderrLines.length < 20) this.stderrLines.push(`${error[1]}${error[2]}`.trim());
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async next(): Promise<Frame | null> {
    const started = performance.now();
    while (this.ready.length === 0 && !this.ended && !this.closed) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.closed) return null;
    const data = this.ready.shift();
    if (!data) {
      await this.checkEnd();
      return null;
    }
    const recycle = this.options.recycleFrames;
    if (recycle) {
      this.handedOut.push(data);
      if (this.handedOut.length > recycle.alive) this.freeBuffers.push(this.handedOut.shift()!);
    }
    if (this.ready.length < READ_AHEAD_FRAMES) this.child.stdout.resume();
    // The pts line is written before the frame, but the two pipes may be read in either order.
    while (this.ptsQueue.length === 0 && !this.stderrEnded && !this.closed)
      await new Promise<void>((resolve) => (this.wake = resolve));
    const pts = this.ptsQueue.shift() ?? Number.NaN;
    if (this.firstPts === null && Number.isFinite(pts)) this.firstPts = pts;
    const now = performance.now();
    const frame: Frame = {
      streamId: this.streamId,
      index: this.index,
      ptsMs:
        Number.isFinite(pts) && this.firstPts !== null
          ? Math.round((pts - this.firstPts) * 1e6) / 1e3
          : (this.index * 1000) / this.fps,
      width: this.width,
      height: this.height,
      rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      capturedAt: now,
      decodeMs: now - started,
    };
    this.index += 1;
    return frame;
  }

  /**
   * At the end of the data: did ffmpeg fail, or stop short of the frames the container declares?
   * A few frames short with decode errors (broken slices) is a warning; more is refused.
   */
  private async checkEnd(): Promise<void> {
    const { code, signal } = await this.exited;
    const name = this.info.path;
    if (signal !== null)
      throw new InputError(
        `${name}: the decoder (ffmpeg) was killed by ${signal} before the end; run again (is the machine out of memory?)`,
      );
    if (code !== 0)
      throw new InputError(
        `${name} could not be decoded (${ffmpegReason(this.stderrLines.join('\n') || `ffmpeg failed with exit code ${code}`)})`,
      );
    if (this.index === 0) throw new InputError(`${name} contains no decodable video frames`);
    const expected = this.info.frameCountDeclared ? this.info.frameCount : null;
    const missing = expected !== null ? Math.max(0, expected - this.index) : 0;
    if (this.stderrLines.length === 0 && (missing === 0 || !this.options.strict)) return;
    // The decoder's first complaint names the damage; later lines are its consequences (dts, muxer).
    const reason = ffmpegReason(
      this.stderrLines.find((l) => !/monotonic/i.test(l)) ?? this.stderrLines[0] ?? 'no error reported',
    );
    const tolerated = expected !== null && missing <= Math.max(1, Math.floor(expected * DAMAGED_FRAMES_TOLERATED));
    if (missing > 0 && !tolerated) {
      throw new InputError(
        `${name} is truncated or damaged: decoded ${this.index} of ${expected} frames (${reason}); re-download or re-encode it`,
      );
    }
    if (this.options.strict)
      throw new InputError(
        `${name} has decode errors (${reason}${missing > 0 ? `; decoded ${this.index} of ${expected} frames` : ''}) and --strict refuses them`,
      );
    const decoded = expected !== null ? `decoded ${this.index} of ${expected} frames` : `decoded ${this.index} frames`;
    this.options.onWarning?.(
      `${name} is slightly damaged: ${decoded} (${reason}); the rest were processed — --strict refuses such files`,
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.child.kill('SIGKILL');
    this.child.stdout.destroy();
    this.notify();
  }
}
