/**
 * The overlay video: each frame blended with its class colours and fed to an ffmpeg encoder
 * (H.264 in mp4/mkv/mov, VP9 in webm, or still images for png/jpg outputs). `write` waits for the
 * encoder's `drain`, so a slow encoder slows the pipeline rather than filling memory. A
 * variable-frame-rate input's frames go with their own timestamps (fed to ffmpeg as Matroska,
 * `matroskaRawVideo.ts`), so the output keeps its timing; evenly spaced ones go as plain raw frames
 * at the rate (Matroska's demuxer adds work to every frame); AVI (fixed rate only) and images likewise.
 */
import path from 'node:path';
import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { OutputError, UsageError } from '../core/errors.js';
import { ffmpegReason } from '../io/ffmpeg.js';
import { isSequencePattern } from '../io/sequencePath.js';
import type { Segmentation } from '../core/frames.js';
import { drawLegend, legendEntries } from './legend.js';
import { type OverlayStyle, outlineLabels, overlayLabels } from './overlay.js';
import { matroskaFrame, matroskaHeader } from '../io/matroskaRawVideo.js';
import {
  commitPartial,
  commitPartialFiles,
  createPartialDirectory,
  createPartialFile,
  discardPartial,
} from '../io/partialFile.js';
import type { SegmentationSink } from '../core/sink.js';

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff']);
const VIDEO_EXTENSIONS = new Set(['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi']);

export interface OverlayVideoOptions {
  readonly outputPath: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Frames the input has, when known: an image output needs exactly one or a %d pattern. */
  readonly frameCount: number | null;
  readonly palette: Uint8Array;
  readonly alphas: Float32Array;
  /** How classes are drawn: blended areas (default), their contours, or both. */
  readonly style?: OverlayStyle;
  /** The model's class names: a key of the classes in each frame is drawn in its corner. Absent: no key. */
  readonly legend?: readonly string[];
  /** x264 preset: speed against file size. */
  readonly preset?: string;
  /** Frames are not evenly spaced: feed each with its timestamp (costs ~1 ms a frame at 768x576). */
  readonly variableFrameRate?: boolean;
}

function encoderOptions(ext: string, preset: string): string[] {
  // libx264 with yuv420p needs even sizes: pad odd frames by one pixel rather than fail.
  const even = ['-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2'];
  switch (ext) {
    case '.webm':
      return [
        ...even,
        '-c:v',
        'libvpx-vp9',
        '-deadline',
        'realtime',
        '-cpu-used',
        '8',
        '-b:v',
        '0',
        '-crf',
        '32',
        '-pix_fmt',
        'yuv420p',
      ];
    case '.avi':
      return ['-c:v', 'mjpeg', '-q:v', '3'];
    default:
      return [
        ...even,
        '-c:v',
        'libx264',
        '-preset',
        preset,
        '-crf',
        '20',
        '-pix_fmt',
        'yuv420p',
        ...(ext === '.mkv' ? [] : ['-movflags', '+faststart']),
      ];
  }
}

export class OverlayVideoSink implements SegmentationSink {
  readonly name = 'video';
  /** Room for two frames, so a briefly busy encoder does not stall the pipeline behind it. */
  private readonly input: PassThrough;
  private readonly command: ffmpeg.FfmpegCommand;
  private readonly exited: Promise<Error | null>;
  private readonly partial: string;
  private readonly pattern: boolean;
  private failure: Error | null = null;
  private aborted = false;
  /** Frames go with their timestamps (Matroska) rather than at a fixed rate. */
  private readonly timed: boolean;
  private lastPtsMicros = -Infinity;

  constructor(private readonly options: OverlayVideoOptions) {
    const { outputPath, width, height, fps, frameCount, preset = 'veryfast' } = options;
    this.input = new PassThrough({ highWaterMark: width * height * 3 * 2 });
    const ext = path.extname(outputPath).toLowerCase();
    const isImage = IMAGE_EXTENSIONS.has(ext);
    if (!isImage && !VIDEO_EXTENSIONS.has(ext)) {
      throw new UsageError(
        `-o ${outputPath}: unknown output type "${ext || '(none)'}"; use .mp4, .mkv, .mov, .webm, .avi, or .png/.jpg for images`,
      );
    }
    if (isImage && !isSequencePattern(outputPath) && frameCount !== 1) {
      throw new UsageError(
        `-o ${outputPath} is a single image but the input has ${frameCount ?? 'many'} frames: use a video (.mp4) or a pattern such as out_%05d.png`,
      );
    }
    // A pattern writes many images: into a partial directory, moved beside their final names at the end.
    this.pattern = isSequencePattern(outputPath);
    this.partial = this.pattern
      ? createPartialDirectory(
          path.join(path.dirname(outputPath), path.basename(outputPath).replace(/%/g, '_')),
          'output',
        )
      : createPartialFile(outputPath, 'output');
    const outputOptions = isImage
      ? isSequencePattern(outputPath)
        ? ['-f', 'image2']
        : ['-frames:v', '1', '-update', '1', '-f', 'image2']
      : encoderOptions(ext, preset);
    this.timed = Boolean(options.variableFrameRate) && !isImage && ext !== '.avi';
    const inputOptions = this.timed
      ? ['-f', 'matroska']
      : ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-framerate', String(fps)];
    if (this.timed) this.input.write(matroskaHeader(width, height));
    this.command = ffmpeg(this.input)
      .inputOptions(['-nostdin', '-v', 'error', ...inputOptions])
      .outputOptions(['-y', ...(this.timed ? ['-fps_mode', 'passthrough'] : []), ...outputOptions])
      .output(this.pattern ? path.join(this.partial, path.basename(outputPath)) : this.partial);
    this.command.on('start', () => {
      if (this.aborted) this.command.kill('SIGKILL'); // abort() came before the spawn
    });
    this.exited = new Promise((resolve) => {
      this.command.on('end', () => resolve(null));
      this.command.on('error', (error: Error, _stdout: string | null, stderr: string | null) => {
        this.failure = new OutputError(
          `the encoder for ${outputPath} failed (${ffmpegReason(stderr?.trim() ? stderr : error)})`,
        );
        resolve(this.failure);
      });
    });
    this.command.run();
  }

  async write(segmentation: Segmentation): Promise<void> {
    if (this.failure) throw this.failure;
    const { frame, labels } = segmentation;
    const { palette, alphas, style = 'fill', legend } = this.options;
    const composed =
      style === 'outline' ? new Uint8Array(frame.rgb) : overlayLabels(frame.rgb, labels, palette, alphas);
    if (style !== 'fill') outlineLabels(composed, labels, frame.width, frame.height, palette, alphas);
    if (legend)
      drawLegend(composed, frame.width, frame.height, legendEntries(segmentation.classPixels, legend, palette, alphas));
    let room: boolean;
    if (this.timed) {
      // Timestamps must grow for the muxer; a damaged stream's may repeat or step back.
      const pts = Math.max(frame.ptsMs * 1000, this.lastPtsMicros + 1000);
      this.lastPtsMicros = pts;
      room = matroskaFrame(pts, composed)
        .map((part) => this.input.write(part))
        .at(-1)!;
    } else {
      room = this.input.write(composed);
    }
    if (!room) await this.drained();
  }

  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.input.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.input.off('drain', onDrain);
        reject(this.failure ?? new OutputError(`the encoder for ${this.options.outputPath} stopped`));
      };
      this.input.once('drain', onDrain);
      this.input.once('close', onClose);
      void this.exited.then((error) => error && onClose());
    });
  }

  async flush(): Promise<void> {
    this.input.end();
    const error = await this.exited;
    if (error) throw error;
  }

  commit(): void {
    if (this.pattern) commitPartialFiles(this.partial, path.dirname(this.options.outputPath), 'output');
    else commitPartial(this.partial, this.options.outputPath, 'output');
  }

  async abort(): Promise<void> {
    this.aborted = true;
    this.command.kill('SIGKILL');
    this.input.destroy();
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 2000))]);
    discardPartial(this.partial);
  }
}
