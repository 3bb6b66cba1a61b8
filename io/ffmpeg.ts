/**
 * Where ffmpeg is, and what an input holds. fluent-ffmpeg drives the system ffmpeg; FFMPEG_PATH
 * (and FFPROBE_PATH) override it; an ffmpeg shipped by the optional npm package
 * `@ffmpeg-installer/ffmpeg` is used when there is no system one.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import ffmpeg from 'fluent-ffmpeg';
import { EnvironmentError, InputError } from '../core/errors.js';
import { isSequencePattern } from './sequencePath.js';
import { settings } from '../core/settings.js';

const execFileAsync = promisify(execFile);

const INSTALL_HINT =
  'install it (Debian/Ubuntu: `sudo apt-get install ffmpeg`; macOS: `brew install ffmpeg`) or set FFMPEG_PATH to an ffmpeg binary';

function onPath(binary: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

function fromNpmPackage(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const installer = require('@ffmpeg-installer/ffmpeg') as { path?: string };
    return installer.path && existsSync(installer.path) ? installer.path : null;
  } catch {
    return null;
  }
}

export interface FfmpegBinaries {
  readonly ffmpeg: string;
  readonly ffprobe: string | null;
}

let located: FfmpegBinaries | null = null;

/** Finds ffmpeg once per process and points fluent-ffmpeg at it. */
export function locateFfmpeg(): FfmpegBinaries {
  if (located) return located;
  const fromEnv = settings().ffmpegPath;
  if (fromEnv && !existsSync(fromEnv))
    throw new EnvironmentError(`FFMPEG_PATH=${fromEnv} does not exist: ${INSTALL_HINT}`);
  const ffmpegPath = fromEnv || onPath('ffmpeg') || fromNpmPackage();
  if (!ffmpegPath) throw new EnvironmentError(`ffmpeg was not found: ${INSTALL_HINT}`);
  const sibling = path.join(path.dirname(ffmpegPath), 'ffprobe');
  const ffprobePath = settings().ffprobePath || (existsSync(sibling) ? sibling : onPath('ffprobe'));
  ffmpeg.setFfmpegPath(ffmpegPath);
  if (ffprobePath) ffmpeg.setFfprobePath(ffprobePath);
  located = { ffmpeg: ffmpegPath, ffprobe: ffprobePath };
  return located;
}

export interface InputInfo {
  /** What ffmpeg is given: a file, or an image-sequence pattern (frame_%05d.png). */
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Frame count for progress: declared by the container, else estimated from the duration. */
  readonly frameCount: number | null;
  /** True when the container declares the count, so fewer decoded frames mean a damaged file. */
  readonly frameCountDeclared: boolean;
  readonly isStillImage: boolean;
  /** The container's average rate differs from its nominal one: frames are not evenly spaced. */
  readonly variableFrameRate?: boolean;
}

const IMAGE_FORMATS = /(^|,)(image2|png_pipe|jpeg_pipe|bmp_pipe|webp_pipe|tiff_pipe|ppm_pipe|pgm_pipe|gif)(,|$)/;

function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [num, den] = rate.split('/').map(Number);
  return den ? num! / den : Number(num);
}

/** The last meaningful line of an ffmpeg / ffprobe error, without the "[demuxer @ 0x...]" prefix. */
export function ffmpegReason(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text
    .split('\n')
    .map((l) => l.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/, '').trim())
    .filter(
      (l) => l && !/^ffmpeg exited with code|^ffprobe exited with code|^Error while opening|^Conversion failed/.test(l),
    );
  // An OS error (a full disk, permissions) is the reason even when ffmpeg's last words are vaguer.
  const osError = lines.find((l) => OS_ERROR.test(l));
  if (osError) return OS_ERROR.exec(osError)![0];
  return lines.at(-1) ?? text.split('\n')[0]!;
}

/** Runs ffmpeg (quiet, no stdin) to its end; rejects with its reason (`ffmpegReason`) when it fails. */
export async function runFfmpeg(args: readonly string[]): Promise<void> {
  const { ffmpeg } = locateFfmpeg();
  try {
    await execFileAsync(ffmpeg, ['-nostdin', '-v', 'error', ...args], { maxBuffer: 1 << 20 });
  } catch (error) {
    throw new Error(ffmpegReason(error));
  }
}

const OS_ERROR =
  /No space left on device|Disk quota exceeded|Read-only file system|Permission denied|File too large|Input\/output error/;

export async function probeInput(input: string): Promise<InputInfo> {
  locateFfmpeg();
  if (!isSequencePattern(input)) {
    if (!existsSync(input)) throw new InputError(`input not found: ${input}`);
    const stat = statSync(input);
    if (stat.isDirectory())
      throw new InputError(
        `input ${input} is a directory: pass a video, an image, or an image sequence pattern such as ${path.join(input, 'frame_%05d.png')}`,
      );
    if (stat.isFIFO())
      throw new InputError(
        `input ${input} is a named pipe (FIFO): segment probes its input before reading it, so save the video to a file first`,
      );
    if (!stat.isFile())
      throw new InputError(
        `input ${input} is a device or socket, not a video file: pass a file (cameras go to \`deeplab-stream serve camera:N\`)`,
      );
    if (stat.size === 0) throw new InputError(`input ${input} is empty (0 bytes)`);
  }
  const data = await new Promise<ffmpeg.FfprobeData>((resolve, reject) =>
    ffmpeg.ffprobe(input, (error: unknown, result: ffmpeg.FfprobeData) => (error ? reject(error) : resolve(result))),
  ).catch((error: unknown) => {
    throw new InputError(`${input} is not a video or image that ffmpeg can read (${ffmpegReason(error)})`);
  });
  const video = data.streams.find((s) => s.codec_type === 'video' && (s.width ?? 0) > 0);
  if (!video) throw new InputError(`${input} has no video stream`);
  const formatName = data.format.format_name ?? '';
  const isImage = IMAGE_FORMATS.test(formatName) && !isSequencePattern(input);
  const declared = Number(video.nb_frames);
  const fps = parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate) || 25;
  const duration = Number(video.duration ?? data.format.duration);
  const frameCount = isImage
    ? 1
    : Number.isFinite(declared) && declared > 0
      ? declared
      : Number.isFinite(duration) && duration > 0
        ? Math.round(duration * fps)
        : null;
  const frameCountDeclared = !isImage && Number.isFinite(declared) && declared > 0;
  const [average, nominal] = [parseRate(video.avg_frame_rate), parseRate(video.r_frame_rate)];
  const variableFrameRate = !isImage && average > 0 && nominal > 0 && Math.abs(average - nominal) / nominal > 0.01;
  return {
    path: input,
    width: video.width!,
    height: video.height!,
    fps,
    frameCount,
    frameCountDeclared,
    isStillImage: isImage,
    variableFrameRate,
  };
}
