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
import type { CrfParams } from './crfParams.js';
import { DEEPLAB_VOC_PARAMS } from './crfParams.js';
import { type CrfResult, type MeanFieldEngine, wasmModuleFor } from './engines.js';
import type { CrfWorkspace } from './crfWorkspace.js';
import { WasmMeanField } from './latticeWasm.js';
import type { ProbabilitySource } from './probabilities.js';
import { ReferenceMeanField } from './referenceMeanField.js';

export type { CrfResult } from './engines.js';

export interface InferOptions {
  readonly iterations?: number;
  /** Start mean field from this Q (N×C) instead of the unary's softmax (warm start). */
  readonly initialQ?: Float32Array;
  /** Called after each iteration with the current active-label Q (tests, energy tracking). */
  readonly onIteration?: (iteration: number, q: Float32Array, active: readonly number[]) => void;
}

/** One image's CRF on the engine engines.ts picks for its parameters. */
export class DenseCrf {
  readonly points: number;

  constructor(
    readonly width: number,
    readonly height: number,
    readonly params: CrfParams,
    private readonly engine: MeanFieldEngine,
    /** Milliseconds spent building the lattices. */
    readonly setupMs = 0,
  ) {
    this.points = width * height;
  }

  /**
   * Builds both kernels' permutohedral lattices for an image (rgb24, HWC). With a workspace (video),
   * the position-only lattice and the WebAssembly memory are kept from frame to frame.
   */
  static forImage(
    image: Uint8Array,
    width: number,
    height: number,
    params: CrfParams = DEEPLAB_VOC_PARAMS,
    workspace?: CrfWorkspace,
  ): DenseCrf {
    const started = performance.now();
    const wasm = wasmModuleFor(params);
    if (!wasm)
      return new DenseCrf(
        width,
        height,
        params,
        ReferenceMeanField.forImage(image, width, height, params),
        performance.now() - started,
      );
    const { gaussian, bilateral } = params;
    const engine = workspace
      ? workspace.engineFor(wasm, width, height, gaussian)
      : new WasmMeanField(
          wasm,
          width * height,
          gaussian.weight !== 0 ? [{ pixels: { width, xy: gaussian.xy }, weight: gaussian.weight }] : [],
        );
    if (bilateral.weight !== 0)
      engine.addKernel({ pixels: { width, xy: bilateral.xy, image, rgb: bilateral.rgb }, weight: bilateral.weight });
    return new DenseCrf(width, height, params, engine, performance.now() - started);
  }

  /** Mean-field inference from probabilities (N×C, HWC, each pixel summing to 1; or a file of them, checked and normalised). */
  infer(source: ProbabilitySource, classes: number, options: InferOptions = {}): CrfResult {
    return this.engine.infer(source, classes, this.params.pruneBelow, options.iterations ?? this.params.iterations, {
      initialQ: options.initialQ,
      onIteration: options.onIteration,
    });
  }

  /**
   * The labels only: the same mean field as `infer`, without handing the N×C marginals out of
   * WebAssembly memory (what video and `segment --crf on` need).
   */
  labels(
    source: ProbabilitySource,
    classes: number,
    options: Pick<InferOptions, 'iterations'> = {},
  ): Omit<CrfResult, 'q'> {
    const iterations = options.iterations ?? this.params.iterations;
    if (this.engine instanceof WasmMeanField)
      return this.engine.infer(source, classes, this.params.pruneBelow, iterations, { withQ: false });
    const { labels, activeLabels } = this.engine.infer(source, classes, this.params.pruneBelow, iterations);
    return { labels, activeLabels };
  }
}
