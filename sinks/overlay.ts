/**
 * Palette overlay: each pixel becomes (1 − α)·frame + α·colour(label), with integer arithmetic.
 * A class whose alpha is 0 (background, by default) leaves the frame untouched.
 *
 *   rgb W×H×3, labels W×H, palette C×3, alpha per class in [0, 1]  →  rgb W×H×3 (new buffer)
 */
export function overlayLabels(
  rgb: Uint8Array,
  labels: Uint8Array,
  palette: Uint8Array,
  alphas: Float32Array,
  out: Uint8Array = new Uint8Array(rgb.length),
): Uint8Array {
  const classes = alphas.length;
  // Per class: the frame's weight and the colour's premultiplied contribution, in 1/256 units.
  const keep = new Uint16Array(classes);
  const add = new Uint16Array(classes * 3);
  for (let c = 0; c < classes; c++) {
    const a = Math.round(Math.min(Math.max(alphas[c]!, 0), 1) * 256);
    keep[c] = 256 - a;
    for (let k = 0; k < 3; k++) add[c * 3 + k] = palette[c * 3 + k]! * a;
  }
  for (let p = 0, q = 0; p < labels.length; p++, q += 3) {
    const c = labels[p]!;
    const k = keep[c]!;
    out[q] = (rgb[q]! * k + add[c * 3]!) >> 8;
    out[q + 1] = (rgb[q + 1]! * k + add[c * 3 + 1]!) >> 8;
    out[q + 2] = (rgb[q + 2]! * k + add[c * 3 + 2]!) >> 8;
  }
  return out;
}

/** Default overlay alphas: `opacity` for every class but one named "background". */
export function classAlphas(classNames: readonly string[], opacity: number): Float32Array {
  return Float32Array.from(classNames, (name) => (name === 'background' ? 0 : opacity));
}

/** How classes are drawn over the frame: blended areas, their contours, or both. */
export type OverlayStyle = 'fill' | 'outline' | 'both';

/** The overlay's style when none is asked for (chosen on real footage: docs/overlays.md). */
export const DEFAULT_OVERLAY_STYLE: OverlayStyle = 'both';

/**
 * Class contours: each pixel of a shown class (alpha > 0) within `thickness` pixels of another
 * label takes its class colour, opaque — readable on any clothing or background, where a blend
 * of a dark colour over dark cloth is not. In place on `out` (the composed frame).
 *
 *   out W×H×3, labels W×H  →  out with a `thickness`-px contour inside each shown region
 */
export function outlineLabels(
  out: Uint8Array,
  labels: Uint8Array,
  width: number,
  height: number,
  palette: Uint8Array,
  alphas: Float32Array,
  thickness = 2,
): Uint8Array {
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      const c = labels[p]!;
      if (!(alphas[c]! > 0)) continue;
      let edge = false;
      for (let dy = -thickness; dy <= thickness && !edge; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -thickness; dx <= thickness; dx++) {
          const xx = x + dx;
          if (xx >= 0 && xx < width && labels[yy * width + xx] !== c) {
            edge = true;
            break;
          }
        }
      }
      if (!edge) continue;
      out[p * 3] = palette[c * 3]!;
      out[p * 3 + 1] = palette[c * 3 + 1]!;
      out[p * 3 + 2] = palette[c * 3 + 2]!;
    }
  }
  return out;
}
