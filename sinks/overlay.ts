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
