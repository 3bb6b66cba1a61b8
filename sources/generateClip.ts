/** Test and demo clips from ffmpeg's lavfi sources: nothing downloaded, the same bytes everywhere. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InputError } from '../core/errors.js';
import { locateFfmpeg } from '../io/ffmpeg.js';

const run = promisify(execFile);

export interface ClipOptions {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly frames: number;
  /** lavfi source: testsrc2 (moving pattern), mandelbrot, ... */
  readonly pattern?: string;
  /** Extra ffmpeg output arguments (codec). Defaults to H.264 in whatever container `path` names. */
  readonly codecArgs?: readonly string[];
}

export async function generateClip(outputPath: string, options: ClipOptions): Promise<string> {
  const { ffmpeg } = locateFfmpeg();
  const { width, height, fps, frames, pattern = 'testsrc2' } = options;
  const codecArgs = options.codecArgs ?? ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p'];
  try {
    await run(ffmpeg, [
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `${pattern}=size=${width}x${height}:rate=${fps}`,
      '-frames:v',
      String(frames),
      ...codecArgs,
      outputPath,
    ]);
  } catch (error) {
    throw new InputError(
      `could not generate a ${pattern} clip at ${outputPath}: ${(error as Error).message.split('\n').at(-2) ?? ''}`,
    );
  }
  return outputPath;
}
