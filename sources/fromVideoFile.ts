/**
 * The frames of a video file, image or image sequence (anything ffmpeg reads), pulled: a frame is
 * decoded only when `credits` has one, and a credit comes back when the caller says a frame is done
 * (`credits.release()`), so memory stays bounded however long the video is.
 *
 *   fromVideoFile('clip.mp4', { credits })  →  Frame, Frame, … (every frame, in order), then complete
 *   errors with an InputError a user can act on (missing, not a video, truncated)
 *
 * @example
 * const credits = new FrameCredits(8);
 * fromVideoFile('clip.mp4', { credits }).pipe(…, tap(() => credits.release()))
 */
import { from, type Observable, switchMap } from 'rxjs';
import type { Frame } from '../core/frames.js';
import { probeInput } from '../io/ffmpeg.js';
import type { FrameCredits } from './frameCredits.js';
import { FfmpegFrameSource, type FfmpegFrameSourceOptions } from './ffmpegFrameSource.js';
import { pullFrames } from './pullFrames.js';

export function fromVideoFile(
  path: string,
  options: { readonly credits: FrameCredits } & Pick<FfmpegFrameSourceOptions, 'strict' | 'onWarning'>,
): Observable<Frame> {
  const { credits, ...decoding } = options;
  return from(probeInput(path)).pipe(
    switchMap((info) => pullFrames(new FfmpegFrameSource(info, 'file', decoding), credits)),
  );
}
