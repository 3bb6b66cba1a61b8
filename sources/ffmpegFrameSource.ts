/**
 * Frames from anything ffmpeg reads — a video file, still image, image sequence, or a live input
 * (testsrc, rtsp://, http://, a v4l2 camera; see liveInputs.ts) — decoded to rgb24 and read
 * from its stdout. Its stdout is one end of a Unix socket pair whose other end reads straight into
 * the per-frame buffers (`onread`: no 64 KB chunk allocated and copied per read — 0.55 → 0.23 ms
 * of main thread a 768×576 frame); where there are no Unix sockets (Windows), a pipe whose chunks
 * are copied into them. Reading pauses as soon as two whole frames wait unclaimed: ffmpeg then
 * blocks on the full socket, so memory stays at a few frames however long the input is.
 *
 * Timestamps are the stream's own: ffmpeg's `showinfo` filter reports each frame's pts on stderr
 * (free: no checksums), so variable-frame-rate input keeps its real timing (`ptsMs`, time since the
 * first frame). Of the rest of stderr only errors are kept, for the reasons shown to users.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { InputError } from '../core/errors.js';
import { ffmpegReason, locateFfmpeg, type InputInfo } from '../io/ffmpeg.js';
import { socketPair } from '../io/socketPair.js';
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
  /** ffmpeg and the stream of its frames' bytes, once spawned (after the socket pair is made). */
  private readonly started: Promise<void>;
  private child: ChildProcess | null = null;
  private stdout: Readable | null = null;
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
    const ffmpeg = locateFfmpeg().ffmpeg; // not found: thrown here, as the constructor's error
    let exit: (status: { code: number | null; signal: NodeJS.Signals | null }) => void = () => {};
    this.exited = new Promise((resolve) => (exit = resolve));
    this.started = this.start(ffmpeg, args, exit);
  }

  private async start(
    ffmpeg: string,
    args: readonly string[],
    exit: (status: { code: number | null; signal: NodeJS.Signals | null }) => void,
  ): Promise<void> {
    const pair =
      process.platform === 'win32'
        ? null
        : await socketPair({
            buffer: () => this.filling.subarray(this.filled),
            callback: (bytes) => this.onBytes(bytes),
          }).catch(() => null); // no socket in the temp folder: the pipe below
    const child = spawn(ffmpeg, args, { stdio: ['ignore', pair ? pair.writer : 'pipe', 'pipe'] });
    child.on('close', (code, signal) => exit({ code, signal }));
    child.on('error', () => exit({ code: -1, signal: null }));
    pair?.writer.destroy(); // ffmpeg holds its own copy; ours would keep the reader from seeing the end
    const stdout: Readable = pair ? pair.reader : child.stdout!;
    if (!pair) stdout.on('data', (chunk: Buffer) => this.onChunk(chunk));
    stdout.on('end', () => {
      this.ended = true;
      this.notify();
    });
    stdout.on('error', () => {
      // The reader's side of a pair failing is the end of the data: checkEnd says why from ffmpeg's exit.
      this.ended = true;
      this.notify();
    });
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      const lines = (this.stderrTail + text).split('\n');
      this.stderrTail = lines.pop()!;
      for (const line of lines) this.onStderrLine(line);
    });
    child.stderr!.on('end', () => {
      this.onStderrLine(this.stderrTail);
      this.stderrEnded = true;
      this.notify();
    });
    this.child = child;
    this.stdout = stdout;
    if (this.closed) this.stop();
  }

  get framesDecoded(): number {
    return this.index;
  }

  private nextBuffer(): Buffer {
    return this.freeBuffers.pop() ?? Buffer.allocUnsafe(this.frameBytes);
  }

  /** A pipe's chunk, copied into the frames' buffers. */
  private onChunk(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      const n = Math.min(chunk.length - offset, this.frameBytes - this.filled);
      chunk.copy(this.filling, this.filled, offset, offset + n);
      offset += n;
      if (!this.onBytes(n)) this.stdout?.pause();
    }
  }

  /** `bytes` more of the frame being filled have arrived; false: stop reading (whole frames wait unclaimed). */
  private onBytes(bytes: number): boolean {
    this.filled += bytes;
    if (this.filled === this.frameBytes) {
      this.ready.push(this.filling);
      this.filling = this.nextBuffer();
      this.filled = 0;
      this.notify();
    }
    return this.ready.length < READ_AHEAD_FRAMES;
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
    await this.started;
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
    if (this.ready.length < READ_AHEAD_FRAMES) this.stdout?.resume();
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
    this.stop();
    this.notify();
  }

  /** ffmpeg killed and its output dropped (once spawned: a source closed before that stops it then). */
  private stop(): void {
    this.child?.kill('SIGKILL');
    this.stdout?.destroy();
  }
}
