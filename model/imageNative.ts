/**
 * The native frame resize (model/native/resize.c, built by `npm run build:native`), or null where it
 * was not built (no C compiler) or does not load here: model/preprocess.ts then runs the same
 * integer arithmetic in JavaScript, to the same bytes.
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
}

let addon: ImageNativeAddon | null | undefined;

export function imageNative(): ImageNativeAddon | null {
  if (addon === undefined) addon = loadNativeAddon<ImageNativeAddon>(import.meta.url, 'model/imageNative.node');
  return addon;
}
