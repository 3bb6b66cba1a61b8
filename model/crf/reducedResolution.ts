/**
 * The CRF at reduced resolution: image, probabilities (and a warm-start Q) resized by `scale`,
 * spatial σ scaled with them so the kernels cover the same part of the picture, mean field at the
 * small size, Q upsampled bilinearly to full size and argmaxed there. Four times fewer pixels at
 * scale 0.5; the labels follow the full-size edges only as far as bilinear Q allows.
 */
import { cachedTaps } from '../preprocess.js';
import { type CrfParams, DenseCrf } from './denseCrf.js';

/** Bilinear (half-pixel) resize of interleaved values: W×H×C → outW×outH×C. */
export function resizeInterleaved(values: ArrayLike<number>, channels: number, width: number, height: number, outWidth: number, outHeight: number): Float32Array {
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const out = new Float32Array(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++) {
    const r0 = ys.low[y]! * width;
    const r1 = ys.high[y]! * width;
    const fy = ys.weight[y]!;
    for (let x = 0; x < outWidth; x++) {
      const fx = xs.weight[x]!;
      const a = (r0 + xs.low[x]!) * channels;
      const b = (r0 + xs.high[x]!) * channels;
      const c = (r1 + xs.low[x]!) * channels;
      const d = (r1 + xs.high[x]!) * channels;
      const o = (y * outWidth + x) * channels;
      for (let k = 0; k < channels; k++) {
        const top = values[a + k]! + (values[b + k]! - values[a + k]!) * fx;
        const bottom = values[c + k]! + (values[d + k]! - values[c + k]!) * fx;
        out[o + k] = top + (bottom - top) * fy;
      }
    }
  }
  return out;
}

export interface CrfRun {
  readonly q: Float32Array;
  readonly labels: Uint8Array;
  readonly activeLabels: readonly number[];
  readonly setupMs: number;
  readonly inferenceMs: number;
}

export function runCrf(image: Uint8Array, width: number, height: number, probabilities: Float32Array, classes: number, params: CrfParams, initialQ?: Float32Array): CrfRun {
  const scale = params.scale;
  if (!(scale > 0 && scale < 1)) {
    const crf = DenseCrf.forImage(image, width, height, params);
    const started = performance.now();
    const result = crf.infer(probabilities, classes, initialQ ? { initialQ } : {});
    return { ...result, setupMs: crf.setupMs, inferenceMs: performance.now() - started };
  }
  const started = performance.now();
  const [sw, sh] = [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
  const smallImage = Uint8Array.from(resizeInterleaved(image, 3, width, height, sw, sh), Math.round);
  const smallParams: CrfParams = { ...params, bilateral: { ...params.bilateral, xy: params.bilateral.xy * scale }, gaussian: { ...params.gaussian, xy: params.gaussian.xy * scale } };
  const crf = DenseCrf.forImage(smallImage, sw, sh, smallParams);
  const small = crf.infer(resizeInterleaved(probabilities, classes, width, height, sw, sh), classes, initialQ ? { initialQ: resizeInterleaved(initialQ, classes, width, height, sw, sh) } : {});
  const q = resizeInterleaved(small.q, classes, sw, sh, width, height);
  const labels = new Uint8Array(width * height);
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (q[p * classes + c]! > q[p * classes + best]!) best = c;
    labels[p] = best;
  }
  return { q, labels, activeLabels: small.activeLabels, setupMs: crf.setupMs, inferenceMs: performance.now() - started - crf.setupMs };
}
