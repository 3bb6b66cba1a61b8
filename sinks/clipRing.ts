/**
 * Event clips with pre-roll for one live stream: its frames are encoded as they are published
 * (H.264, a keyframe every second) into one-second MPEG-TS segments on disk, of which only the last
 * `preSeconds` (and what pending clips still need) are kept. A clip asked for at a moment is cut,
 * once `postSeconds` have passed, from `preSeconds` before it to `postSeconds` after: the segments
 * are joined and trimmed exactly (re-encoded, a few seconds of video), written to a partial name and
 * renamed into place. The pipeline never waits for it: a frame the encoder cannot take at once is
 * skipped (counted), and a failure (a full disk, ffmpeg gone) costs the clip or the ring, never the
 * stream.
 *
 *   ring.push(segmentation)  (every published frame)
 *   ring.clip(atPerformanceMs, 'door-crossing-20261207T000751Z.mp4') → Promise<path> (after post seconds)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, promises as fs, rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Segmentation } from '../core/frames.js';
import { locateFfmpeg, runFfmpeg } from '../io/ffmpeg.js';
import { matroskaFrame, matroskaHeader } from '../io/matroskaRawVideo.js';
import { outlineLabels, overlayLabels } from './overlay.js';

export interface ClipRingOptions {
  /** Where the segments live (this ring's own directory, removed on close). */
  readonly ringDir: string;
  /** Where finished clips go. */
  readonly clipsDir: string;
  readonly preSeconds: number;
  readonly postSeconds: number;
  /** Burn the classes into the clip (palette and per-class alpha, as the overlay video draws them). */
  readonly overlay?: { readonly palette: Uint8Array; readonly alphas: Float32Array };
  readonly log: (line: string) => void;
}

interface Segment {
  readonly file: string;
  /** Seconds on the ring's clock (since its first frame). */
  readonly start: number;
  readonly end: number;
}

interface PendingClip {
  readonly from: number;
  readonly to: number;
  readonly name: string;
  readonly done: (file: string | null) => void;
}

/** Bytes the encoder may hold unread before frames are skipped (a few frames of 1080p). */
const MAX_ENCODER_BACKLOG = 32 << 20;

export class ClipRing {
  private encoder: ChildProcess | null = null;
  private size = '';
  private startMs = 0;
  private lastSeconds = 0;
  private segments: Segment[] = [];
  private pending: PendingClip[] = [];
  /** Clips being cut now: their segments stay until they are written. */
  private cutting: PendingClip[] = [];
  private failed = false;
  private closed = false;
  /** Frames not encoded because the encoder was behind. */
  skipped = 0;

  constructor(private readonly o: ClipRingOptions) {}

  /** The ring's clock at a frame's capture time (performance.now() milliseconds). */
  secondsAt(performanceMs: number): number {
    return (performanceMs - this.startMs) / 1000;
  }

  push({ frame, labels }: Segmentation): void {
    if (this.failed || this.closed) return;
    const size = `${frame.width}x${frame.height}`;
    if (!this.encoder) this.start(frame.width, frame.height, frame.capturedAt);
    else if (size !== this.size) return; // a stream that changes size mid-way: the ring keeps the first
    const stdin = this.encoder!.stdin!;
    if (stdin.writableLength > MAX_ENCODER_BACKLOG) {
      this.skipped += 1;
      return;
    }
    let rgb = frame.rgb;
    if (this.o.overlay) {
      rgb = overlayLabels(frame.rgb, labels, this.o.overlay.palette, this.o.overlay.alphas);
      outlineLabels(rgb, labels, frame.width, frame.height, this.o.overlay.palette, this.o.overlay.alphas);
    }
    const seconds = Math.max(this.lastSeconds, this.secondsAt(frame.capturedAt));
    this.lastSeconds = seconds;
    for (const part of matroskaFrame(seconds * 1e6, rgb)) stdin.write(part);
  }

  /**
   * A clip from `preSeconds` before the moment to `postSeconds` after, named `name`; resolves
   * with its path once written, or null when it could not be (told in the log).
   */
  clip(atPerformanceMs: number, name: string): Promise<string | null> {
    if (this.failed || this.closed || !this.encoder) return Promise.resolve(null);
    const at = this.secondsAt(atPerformanceMs);
    return new Promise((done) => {
      this.pending.push({ from: Math.max(0, at - this.o.preSeconds), to: at + this.o.postSeconds, name, done });
      this.cutReady();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const encoder = this.encoder;
    if (encoder && encoder.exitCode === null) {
      encoder.stdin?.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => encoder.kill('SIGKILL'), 3000);
        encoder.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // What is pending gets what there is.
    await this.cutReady(true);
    rmSync(this.o.ringDir, { recursive: true, force: true });
  }

  private start(width: number, height: number, capturedAt: number): void {
    this.size = `${width}x${height}`;
    this.startMs = capturedAt;
    mkdirSync(this.o.ringDir, { recursive: true });
    const { ffmpeg } = locateFfmpeg();
    const encoder = spawn(
      ffmpeg,
      [
        '-nostdin',
        '-v',
        'error',
        '-f',
        'matroska',
        '-i',
        'pipe:0',
        '-an',
        '-vf',
        'scale=trunc(iw/2)*2:trunc(ih/2)*2',
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-tune',
        'zerolatency',
        '-pix_fmt',
        'yuv420p',
        '-force_key_frames',
        'expr:gte(t,n_forced*1)',
        '-f',
        'segment',
        '-segment_time',
        '1',
        '-segment_format',
        'mpegts',
        '-reset_timestamps',
        '0',
        '-segment_list',
        'pipe:1',
        '-segment_list_type',
        'csv',
        path.join(this.o.ringDir, 'seg_%06d.ts'),
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.encoder = encoder;
    let stderr = '';
    encoder.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-500)));
    encoder.stdin.on('error', () => {}); // told by 'close' below
    encoder.stdin.write(matroskaHeader(width, height));
    createInterface({ input: encoder.stdout }).on('line', (line) => {
      const [file, start, end] = line.split(',');
      if (!file || start === undefined || end === undefined) return;
      this.segments.push({ file: path.join(this.o.ringDir, file), start: Number(start), end: Number(end) });
      void this.cutReady();
    });
    encoder.once('close', (code) => {
      if (this.closed) return;
      this.failed = true;
      this.o.log(
        `clips: the stream's encoder stopped (${code}: ${stderr.trim().split('\n').at(-1) ?? ''}); no more clips of it`,
      );
      void this.cutReady(true);
    });
  }

  /** Cuts every pending clip whose end is recorded (all of them with `final`), then drops old segments. */
  private async cutReady(final = false): Promise<void> {
    const recorded = this.segments.at(-1)?.end ?? 0;
    const ready = this.pending.filter((p) => final || p.to <= recorded);
    this.pending = this.pending.filter((p) => !ready.includes(p));
    this.cutting.push(...ready);
    for (const clip of ready) {
      clip.done(await this.cut(clip));
      this.cutting = this.cutting.filter((c) => c !== clip);
    }
    const keepFrom = Math.min(
      recorded - this.o.preSeconds - 1,
      ...this.pending.map((p) => p.from),
      ...this.cutting.map((p) => p.from),
    );
    const old = this.segments.filter((s) => s.end < keepFrom);
    this.segments = this.segments.filter((s) => !old.includes(s));
    await Promise.all(old.map((s) => fs.rm(s.file, { force: true })));
  }

  private async cut(clip: PendingClip): Promise<string | null> {
    const parts = this.segments.filter((s) => s.end > clip.from && s.start < clip.to);
    if (parts.length === 0) return null;
    const list = path.join(this.o.ringDir, `${clip.name}.txt`);
    const target = path.join(this.o.clipsDir, clip.name);
    const partial = path.join(this.o.clipsDir, `.${clip.name}.partial-${process.pid}.mp4`);
    try {
      await fs.writeFile(list, parts.map((s) => `file '${s.file.replace(/'/g, "'\\''")}'\n`).join(''));
      const offset = Math.max(0, clip.from - parts[0]!.start);
      await runFfmpeg([
        '-f',
        'concat',
        '-safe',
        '0',
        '-i',
        list,
        '-ss',
        offset.toFixed(3),
        '-t',
        (clip.to - clip.from).toFixed(3),
        '-c:v',
        'libx264',
        '-preset',
        'veryfast',
        '-pix_fmt',
        'yuv420p',
        '-movflags',
        '+faststart',
        '-y',
        partial,
      ]);
      await fs.rename(partial, target);
      return target;
    } catch (error) {
      await fs.rm(partial, { force: true });
      this.o.log(`clips: ${clip.name} not written (${(error as Error).message}); the stream goes on`);
      return null;
    } finally {
      await fs.rm(list, { force: true });
    }
  }
}
