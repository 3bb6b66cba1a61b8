/**
 * The CRF's reference engine, in TypeScript over the permutohedral lattice of permutohedralLattice.ts:
 * mean field with either normalisation — `after` (DeepLab's) or `symmetric` (D^-½ K D^-½,
 * pydensecrf's), which only this engine runs — and the tests' reference for the WebAssembly and
 * native engines (the same labels up to float rounding).
 */
import { activeLabels } from './labelPruning.js';
import type { CrfParams } from './crfParams.js';
import type { CrfResult, MeanFieldEngine, MeanFieldOptions } from './engines.js';
import { PermutohedralLattice } from './permutohedralLattice.js';
import { probabilityArray, type ProbabilitySource } from './probabilities.js';

/** A normalised Gaussian filter over the image's pixels: out = K̃ · values (per channel). */
export interface PixelFilter {
  apply(values: Float32Array, channels: number, out: Float32Array): Float32Array;
}

/** Wraps a raw filter (lattice or exact) with the chosen normalisation. */
export class NormalizedFilter implements PixelFilter {
  private readonly scale: Float32Array;
  private buffer = new Float32Array(0);

  constructor(
    private readonly raw: { filter(values: Float32Array, channels: number, out: Float32Array): Float32Array },
    points: number,
    private readonly mode: 'after' | 'symmetric',
  ) {
    const total = raw.filter(new Float32Array(points).fill(1), 1, new Float32Array(points));
    this.scale = total.map((t) => (mode === 'after' ? 1 / (t + 1e-20) : 1 / Math.sqrt(t + 1e-20)));
  }

  apply(values: Float32Array, channels: number, out: Float32Array): Float32Array {
    const n = this.scale.length;
    let input = values;
    if (this.mode === 'symmetric') {
      if (this.buffer.length < n * channels) this.buffer = new Float32Array(n * channels);
      input = this.buffer;
      for (let p = 0; p < n; p++)
        for (let c = 0; c < channels; c++) input[p * channels + c] = values[p * channels + c]! * this.scale[p]!;
    }
    this.raw.filter(input, channels, out);
    for (let p = 0; p < n; p++) for (let c = 0; c < channels; c++) out[p * channels + c]! *= this.scale[p]!;
    return out;
  }
}

/** Per-pixel features: (x/σ, y/σ) and, with colours, (r/σc, g/σc, b/σc). */
export function pixelFeatures(
  width: number,
  height: number,
  xy: number,
  rgb?: { image: Uint8Array; sigma: number },
): Float32Array {
  const d = rgb ? 5 : 2;
  const f = new Float32Array(width * height * d);
  for (let y = 0, p = 0; y < height; y++) {
    for (let x = 0; x < width; x++, p++) {
      f[p * d] = x / xy;
      f[p * d + 1] = y / xy;
      if (rgb) for (let c = 0; c < 3; c++) f[p * d + 2 + c] = rgb.image[p * 3 + c]! / rgb.sigma;
    }
  }
  return f;
}

/** The smoothness kernel's lattice depends only on the frame size: video frames share it. */
const positionLattices = new Map<string, PermutohedralLattice>();
function positionLattice(width: number, height: number, xy: number): PermutohedralLattice {
  const key = `${width}x${height}/${xy}`;
  let lattice = positionLattices.get(key);
  if (!lattice) {
    if (positionLattices.size >= 4) positionLattices.clear();
    lattice = PermutohedralLattice.build(pixelFeatures(width, height, xy), width * height, 2);
    positionLattices.set(key, lattice);
  }
  return lattice;
}

/** Mean field over an image's two kernels, in TypeScript. */
export class ReferenceMeanField implements MeanFieldEngine {
  constructor(
    readonly points: number,
    private readonly kernels: readonly { readonly weight: number; readonly filter: PixelFilter }[],
  ) {}

  /** Both kernels' lattices over an image (rgb24, HWC), with the parameters' normalisation. */
  static forImage(image: Uint8Array, width: number, height: number, params: CrfParams): ReferenceMeanField {
    const n = width * height;
    const bilateralFeatures = pixelFeatures(width, height, params.bilateral.xy, { image, sigma: params.bilateral.rgb });
    const bilateral = PermutohedralLattice.build(bilateralFeatures, n, 5);
    const gaussian = positionLattice(width, height, params.gaussian.xy);
    return new ReferenceMeanField(
      n,
      [
        { weight: params.bilateral.weight, filter: new NormalizedFilter(bilateral, n, params.normalization) },
        { weight: params.gaussian.weight, filter: new NormalizedFilter(gaussian, n, params.normalization) },
      ].filter((k) => k.weight !== 0),
    );
  }

  infer(
    source: ProbabilitySource,
    classes: number,
    pruneBelow: number,
    iterations: number,
    options: MeanFieldOptions = {},
  ): CrfResult {
    const n = this.points;
    const probabilities = probabilityArray(source, n, classes);
    const active = activeLabels(probabilities, n, classes, pruneBelow);
    const m = active.length;
    // Unary −log p over the active labels; Q starts at the unary's softmax or the given Q.
    const unary = new Float32Array(n * m);
    let q: Float32Array = new Float32Array(n * m);
    for (let p = 0; p < n; p++) {
      for (let k = 0; k < m; k++) {
        const prob = probabilities[p * classes + active[k]!]!;
        unary[p * m + k] = -Math.log(Math.max(prob, 1e-8));
        q[p * m + k] = options.initialQ ? options.initialQ[p * classes + active[k]!]! : prob;
      }
    }
    normalizeRows(q, n, m);
    // One filtered buffer per kernel; the message and the softmax are one fused pass per pixel
    // (separate passes over N×M floats cost as much as the filtering on this memory bus).
    const filtered = this.kernels.map(() => new Float32Array(n * m));
    const weights = this.kernels.map((k) => k.weight);
    const [f0, f1] = [filtered[0] ?? new Float32Array(n * m), filtered[1] ?? new Float32Array(n * m)];
    const [w0, w1] = [weights[0] ?? 0, weights[1] ?? 0];
    let next: Float32Array = new Float32Array(n * m);
    const row = new Float64Array(m);
    for (let it = 0; it < iterations; it++) {
      this.kernels.forEach(({ filter }, k) => filter.apply(q, m, filtered[k]!));
      for (let p = 0; p < n; p++) {
        const base = p * m;
        let max = -Infinity;
        for (let k = 0; k < m; k++) {
          const v = -unary[base + k]! + w0 * f0[base + k]! + w1 * f1[base + k]!;
          row[k] = v;
          if (v > max) max = v;
        }
        let sum = 0;
        for (let k = 0; k < m; k++) sum += row[k] = Math.exp(row[k]! - max);
        const inv = 1 / sum;
        for (let k = 0; k < m; k++) next[base + k] = row[k]! * inv;
      }
      [q, next] = [next, q];
      options.onIteration?.(it, q, active);
    }
    return this.expand(q, active, classes);
  }

  /** Active-label Q back to all labels, and the argmax. */
  private expand(q: Float32Array, active: readonly number[], classes: number): CrfResult {
    const n = this.points;
    const m = active.length;
    const full = new Float32Array(n * classes);
    const labels = new Uint8Array(n);
    for (let p = 0; p < n; p++) {
      let best = 0;
      for (let k = 0; k < m; k++) {
        full[p * classes + active[k]!] = q[p * m + k]!;
        if (q[p * m + k]! > q[p * m + best]!) best = k;
      }
      labels[p] = active[best]!;
    }
    return { q: full, labels, activeLabels: active };
  }
}

function normalizeRows(q: Float32Array, n: number, m: number): void {
  for (let p = 0; p < n; p++) {
    let sum = 0;
    for (let k = 0; k < m; k++) sum += q[p * m + k]!;
    const inv = sum > 0 ? 1 / sum : 1 / m;
    for (let k = 0; k < m; k++) q[p * m + k] = sum > 0 ? q[p * m + k]! * inv : inv;
  }
}
