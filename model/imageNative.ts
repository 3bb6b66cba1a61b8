/**
 * The native image addon (model/native/: the frame resize, uint8 or to a float input, and the labels from a score map,
 * built by `npm run build:native`), or null where it was not built (no C compiler) or does not load
 * here: model/preprocess.ts and model/postprocess.ts then run the same arithmetic in JavaScript, to
 * the same bytes.
 */
import { loadNativeAddon } from '../core/nativeAddon.js';

export interface ImageNativeAddon {
  /** See model/native/resize.c: x offsets are bytes into a source row, weights 0..2048 (the high tap's). */
  resizeRgbUint8(
    rgb: Uint8Array,
    width: number,
    height: number,
    out: Uint8Array,
    outWidth: number,
    outHeight: number,
    planar: 0 | 1,
    xLow: Int32Array,
    xHigh: Int32Array,
    xWeight: Int32Array,
    yLow: Int32Array,
    yHigh: Int32Array,
    yWeight: Int32Array,
  ): void;
  /** See model/native/normalize.c: preprocessRgbInJavaScript's arithmetic, the same bits; affine = [scale ×3, shift ×3]. */
  preprocessRgb(
    rgb: Uint8Array,
    width: number,
    height: number,
    out: Float32Array,
    outWidth: number,
    outHeight: number,
    planar: 0 | 1,
    xLow: Int32Array,
    xHigh: Int32Array,
    xWeight: Float32Array,
    yLow: Int32Array,
    yHigh: Int32Array,
    yWeight: Float32Array,
    affine: Float64Array,
  ): void;
  /** See model/native/labels.c: model/postprocess.ts's labelsFromScores, the same bytes; fills `labels` and `classPixels`. */
  labelsFromScores(
    data: Float32Array,
    offset: number,
    classes: number,
    height: number,
    width: number,
    planar: 0 | 1,
    outWidth: number,
    outHeight: number,
    xLow: Int32Array,
    xHigh: Int32Array,
    xWeight: Float32Array,
    yLow: Int32Array,
    yHigh: Int32Array,
    yWeight: Float32Array,
    labels: Uint8Array,
    classPixels: Uint32Array,
  ): void;
}

/** One axis's resampling taps: source offsets below and above each output position, and the high tap's weight. */
interface AxisTaps<W> {
  readonly low: Int32Array;
  readonly high: Int32Array;
  readonly weight: W;
}

/** The addon's six tap arguments (xLow … yWeight), in its order. */
export function tapArguments<W>(
  xs: AxisTaps<W>,
  ys: AxisTaps<W>,
): [Int32Array, Int32Array, W, Int32Array, Int32Array, W] {
  return [xs.low, xs.high, xs.weight, ys.low, ys.high, ys.weight];
}

/** The addon's `planar` argument: 1 for channel-first (NCHW) data. */
export const planar = (layout: string): 0 | 1 => (layout === 'NCHW' ? 1 : 0);

let addon: ImageNativeAddon | null | undefined;

export function imageNative(): ImageNativeAddon | null {
  if (addon === undefined) addon = loadNativeAddon<ImageNativeAddon>(import.meta.url, 'model/imageNative.node');
  return addon;
}
