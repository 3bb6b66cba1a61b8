/**
 * The fully connected CRF of Krähenbühl & Koltun (2011), as DeepLab uses it: Potts model,
 *   E(x) = Σ_i U_i(x_i) + Σ_{i<j} [x_i ≠ x_j] · ( w1·exp(−|p_i−p_j|²/2σα² − |I_i−I_j|²/2σβ²) + w2·exp(−|p_i−p_j|²/2σγ²) )
 * with U = −log p (the network's softmax), solved by mean-field inference where each message
 * pass is a Gaussian filter done on a permutohedral lattice:
 *   Q_i(l) ∝ exp( −U_i(l) + Σ_k w_k · [K̃_k Q(l)]_i )
 *
 * Kernel normalisation: `after` (default) divides each filtered value by the filtered constant,
 * as the authors' original code that DeepLab ships does; `symmetric` uses D^-½ K D^-½ (pydensecrf's
 * default), under which the mean-field free energy provably does not increase.
 *
 * Labels whose probability never exceeds `pruneBelow` anywhere in the image are left out of the
 * inference (their Q stays 0): most frames use a handful of a model's 21+ classes.
 */
import { type CrfWorkspace, WasmMeanField } from './latticeWasm.js';
import { latticeModule } from './wasmEngine.js';
import { PermutohedralLattice } from './permutohedralLattice.js';
import { activeLabels } from './labelPruning.js';
import { type CrfParams, DEEPLAB_VOC_PARAMS } from './crfParams.js';
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
      for (let p = 0; p < n; p++) for (let c = 0; c < channels; c++) input[p * channels + c] = values[p * channels + c]! * this.scale[p]!;
    }
    this.raw.filter(input, channels, out);
    for (let p = 0; p < n; p++) for (let c = 0; c < channels; c++) out[p * channels + c]! *= this.scale[p]!;
    return out;
  }
}

/** Per-pixel features: (x/σ, y/σ) and, with colours, (r/σc, g/σc, b/σc). */
export function pixelFeatures(width: number, height: number, xy: number, rgb?: { image: Uint8Array; sigma: number }): Float32Array {
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

export interface CrfResult {
  /** N×C marginals, HWC (pruned labels are 0). */
  readonly q: Float32Array;
  readonly labels: Uint8Array;
  /** Which labels took part. */
  readonly activeLabels: readonly number[];
}

export interface InferOptions {
  readonly iterations?: number;
  /** Start mean field from this Q (N×C) instead of the unary's softmax (warm start). */
  readonly initialQ?: Float32Array;
  /** Called after each iteration with the current active-label Q (tests, energy tracking). */
  readonly onIteration?: (iteration: number, q: Float32Array, active: readonly number[]) => void;
}

export class DenseCrf {
  readonly points: number;
  /** Milliseconds spent building the lattices. */
  readonly setupMs: number;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly params: CrfParams,
    private readonly kernels: readonly { weight: number; filter: PixelFilter }[],
    setupMs: number,
    /** The WebAssembly mean-field loop, when built and the normalisation is `after`. */
    private readonly engine: WasmMeanField | null = null,
  ) {
    this.points = width * height;
    this.setupMs = setupMs;
  }

  /**
   * Builds both kernels' permutohedral lattices for an image (rgb24, HWC). With a workspace (video),
   * the position-only lattice and the WebAssembly memory are kept from frame to frame.
   */
  static forImage(image: Uint8Array, width: number, height: number, params: CrfParams = DEEPLAB_VOC_PARAMS, workspace?: CrfWorkspace): DenseCrf {
    const started = performance.now();
    const n = width * height;
    // Lattices and the whole loop in WebAssembly SIMD where it was built (same results as TypeScript).
    const wasm = latticeModule();
    if (wasm && params.normalization === 'after' && (params.bilateral.weight !== 0 || params.gaussian.weight !== 0)) {
      const { gaussian, bilateral } = params;
      const engine = workspace
        ? workspace.engineFor(wasm, width, height, gaussian)
        : new WasmMeanField(wasm, n, gaussian.weight !== 0 ? [{ pixels: { width, xy: gaussian.xy }, weight: gaussian.weight }] : []);
      if (bilateral.weight !== 0) engine.addKernel({ pixels: { width, xy: bilateral.xy, image, rgb: bilateral.rgb }, weight: bilateral.weight });
      return new DenseCrf(width, height, params, [], performance.now() - started, engine);
    }
    const bilateralFeatures = pixelFeatures(width, height, params.bilateral.xy, { image, sigma: params.bilateral.rgb });
    const bilateral = PermutohedralLattice.build(bilateralFeatures, n, 5);
    const gaussian = positionLattice(width, height, params.gaussian.xy);
    const kernels = [
      { weight: params.bilateral.weight, filter: new NormalizedFilter(bilateral, n, params.normalization) },
      { weight: params.gaussian.weight, filter: new NormalizedFilter(gaussian, n, params.normalization) },
    ].filter((k) => k.weight !== 0);
    return new DenseCrf(width, height, params, kernels, performance.now() - started);
  }

  /** Mean-field inference from probabilities (N×C, HWC, each pixel summing to 1; or a file of them, checked and normalised). */
  infer(source: ProbabilitySource, classes: number, options: InferOptions = {}): CrfResult {
    const n = this.points;
    const iterations = options.iterations ?? this.params.iterations;
    if (this.engine) return this.engine.infer(source, classes, this.params.pruneBelow, iterations, { initialQ: options.initialQ, onIteration: options.onIteration });
    const probabilities = probabilityArray(source, n, classes);
    const active = activeLabels(probabilities, n, classes, this.params.pruneBelow);
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

  /**
   * The labels only: the same mean field as `infer`, without handing the N×C marginals out of
   * WebAssembly memory (what video and `segment --crf on` need).
   */
  labels(source: ProbabilitySource, classes: number, options: Pick<InferOptions, 'iterations'> = {}): Omit<CrfResult, 'q'> {
    const iterations = options.iterations ?? this.params.iterations;
    if (this.engine) return this.engine.infer(source, classes, this.params.pruneBelow, iterations, { withQ: false });
    const { labels, activeLabels } = this.infer(source, classes, options);
    return { labels, activeLabels };
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
