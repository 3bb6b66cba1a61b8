/**
 * Image-sequence paths as C's printf and ffmpeg's image2 read them (`frame_%05d.png`): apart from
 * ffmpeg.ts so that commands that only name files (`crf`) do not load the ffmpeg wrapper.
 */
import path from 'node:path';

export function isSequencePattern(input: string): boolean {
  return /%0?\d*d/.test(path.basename(input));
}

/**
 * One path of a printf-style sequence, as C and ffmpeg read it: `%d`, `%5d` (space-padded),
 * `%05d` (zero-padded) and `%%`. (Node's util.format ignores widths.)
 *
 *   formatSequencePath('frame_%05d.png', 42) → 'frame_00042.png'
 */
export function formatSequencePath(pattern: string, index: number): string {
  return pattern.replace(/%(%|(0?)(\d*)d)/g, (_, spec: string, zero: string, width: string) => {
    if (spec === '%') return '%';
    const digits = String(Math.abs(index));
    const sign = index < 0 ? '-' : '';
    const padded = zero
      ? sign + digits.padStart(Number(width || 0) - sign.length, '0')
      : (sign + digits).padStart(Number(width || 0), ' ');
    return padded;
  });
}
