/**
 * Multi-scale and flipped inference, as in the DeepLab paper: the scores of every scale are
 * resampled (bilinear, half-pixel) to one grid — the largest — mirrored back where the input was
 * mirrored, and averaged; the average is then upsampled and argmaxed like a single output.
 *
 *   [ScoreMap at 0.5×, ScoreMap at 1×, mirrored ScoreMap at 1×]  →  ScoreMap (NCHW) on the 1× grid
 */
import { type ScoreMap, scoreTaps } from './postprocess.js';

/** Adds weight × (src resampled to outW×outH, mirrored if `flipped`) into `into` (NCHW, C×outH×outW). */
export function accumulateScores(
  src: ScoreMap,
  outWidth: number,
  outHeight: number,
  flipped: boolean,
  weight: number,
  into: Float32Array,
): void {
  const { data, offset, classes, height, width, layout } = src;
  const { xs, ys } = scoreTaps(src, outWidth, outHeight);
  const classStride = layout === 'NCHW' ? height * width : 1;
  const pixelStride = layout === 'NCHW' ? 1 : classes;
  const plane = outWidth * outHeight;
  for (let c = 0; c < classes; c++) {
    const base = offset + c * classStride;
    for (let y = 0; y < outHeight; y++) {
      const r0 = ys.low[y]! * width;
      const r1 = ys.high[y]! * width;
      const fy = ys.weight[y]!;
      const row = c * plane + y * outWidth;
      for (let x = 0; x < outWidth; x++) {
        const x0 = xs.low[x]!;
        const x1 = xs.high[x]!;
        const fx = xs.weight[x]!;
        const top = data[base + (r0 + x0) * pixelStride]! * (1 - fx) + data[base + (r0 + x1) * pixelStride]! * fx;
        const bottom = data[base + (r1 + x0) * pixelStride]! * (1 - fx) + data[base + (r1 + x1) * pixelStride]! * fx;
        into[row + (flipped ? outWidth - 1 - x : x)]! += weight * (top * (1 - fy) + bottom * fy);
      }
    }
  }
}

/**
 * Scores that align corners with their model input (a graph whose trailing upsampling was cut),
 * resampled onto that input's own pixel grid — what the graph's upsampling gave — so that scales,
 * flips and windows combine as half-pixel maps do. Other maps as they are.
 */
export function onInputGrid(scores: ScoreMap): ScoreMap {
  if (!scores.alignedTo) return scores;
  const { width, height } = scores.alignedTo;
  const data = new Float32Array(scores.classes * width * height);
  accumulateScores(scores, width, height, false, 1, data);
  return { data, offset: 0, classes: scores.classes, height, width, layout: 'NCHW' };
}

/** The average of several score maps on the grid of the largest one. */
export function averageScores(maps: readonly { scores: ScoreMap; flipped: boolean }[]): ScoreMap {
  const largest = maps.reduce((a, b) =>
    b.scores.width * b.scores.height > a.scores.width * a.scores.height ? b : a,
  ).scores;
  const { classes, width, height } = largest;
  const sum = new Float32Array(classes * width * height);
  for (const { scores, flipped } of maps) accumulateScores(scores, width, height, flipped, 1 / maps.length, sum);
  return { data: sum, offset: 0, classes, height, width, layout: 'NCHW' };
}
