/**
 * The native frame resize (model/native/resize.c, built by `npm run build:native`), or null where it
 * was not built (no C compiler) or does not load here: model/preprocess.ts then runs the same
 * integer arithmetic in JavaScript, to the same bytes.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

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
  if (addon !== undefined) return addon;
  addon = null;
  // Beside this file in dist/; from source (tests) the build's copy in dist/.
  const file = [
    new URL('./imageNative.node', import.meta.url),
    new URL('../dist/model/imageNative.node', import.meta.url),
  ]
    .map((u) => fileURLToPath(u))
    .find((f) => existsSync(f));
  try {
    if (file) addon = createRequire(import.meta.url)(file) as ImageNativeAddon;
  } catch {
    addon = null; // built for another Node or platform: JavaScript alone
  }
  return addon;
}
