/**
 * Labels from models that do not give class scores: a one-channel mask (thresholded) or labels
 * already argmaxed (any integer type), brought to the frame's size by nearest neighbour.
 */
import { cachedTaps } from '../core/bilinearTaps.js';
import type { LabelMap } from './postprocess.js';

/**
 * A one-channel mask → labels: bilinear upsampling of the value, then foreground (1) where it
 * exceeds `threshold`. Same result as two-class argmax with a constant background score.
 */
export function labelsFromMask(
  values: Float32Array,
  offset: number,
  height: number,
  width: number,
  threshold: number,
  outWidth: number,
  outHeight: number,
): LabelMap {
  const xs = cachedTaps(width, outWidth);
  const ys = cachedTaps(height, outHeight);
  const labels = new Uint8Array(outWidth * outHeight);
  let foreground = 0;
  for (let y = 0; y < outHeight; y++) {
    const r0 = offset + ys.low[y]! * width;
    const r1 = offset + ys.high[y]! * width;
    const fy = ys.weight[y]!;
    const outRow = y * outWidth;
    for (let x = 0; x < outWidth; x++) {
      const x0 = xs.low[x]!;
      const x1 = xs.high[x]!;
      const fx = xs.weight[x]!;
      const top = values[r0 + x0]! + (values[r0 + x1]! - values[r0 + x0]!) * fx;
      const bottom = values[r1 + x0]! + (values[r1 + x1]! - values[r1 + x0]!) * fx;
      if (top + (bottom - top) * fy > threshold) {
        labels[outRow + x] = 1;
        foreground += 1;
      }
    }
  }
  return { labels, classPixels: Uint32Array.from([labels.length - foreground, foreground]) };
}

/** An argmaxed label output (any integer type) → labels at frame size, nearest neighbour. */
export function labelsFromIndices(
  values: ArrayLike<number | bigint>,
  offset: number,
  height: number,
  width: number,
  classes: number,
  outWidth: number,
  outHeight: number,
): LabelMap {
  const labels = new Uint8Array(outWidth * outHeight);
  const classPixels = new Uint32Array(classes);
  for (let y = 0; y < outHeight; y++) {
    const sy = Math.min(height - 1, Math.floor(((y + 0.5) * height) / outHeight));
    for (let x = 0; x < outWidth; x++) {
      const sx = Math.min(width - 1, Math.floor(((x + 0.5) * width) / outWidth));
      const label = Number(values[offset + sy * width + sx]);
      if (!(label >= 0 && label < classes))
        throw new RangeError(
          `the model output label ${label}, but only ${classes} classes are named: pass --classes with the model's class list`,
        );
      labels[y * outWidth + x] = label;
      classPixels[label]! += 1;
    }
  }
  return { labels, classPixels };
}
