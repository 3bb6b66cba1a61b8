/**
 * The CRF's engines, and the one place that chooses among them. Every engine runs the same mean
 * field (denseCrf.ts's model) and gives the same labels:
 *
 *   native one-image   crf/native/oneImage.c     a whole `crf` image in the addon, no worker booted (AVX2; ≤ 24 labels in play)
 *   WebAssembly        latticeWasm.ts, videoMeanField.ts over wasm/*.as.ts, with the addon's AVX2
 *                      kernels swapped in where it was built (crfNative.ts): every frame and image otherwise
 *   reference          referenceMeanField.ts     TypeScript: `symmetric` normalisation, which only it runs, and the tests' reference
 *
 * Environment switches (core/settings.ts): DEEPLAB_STREAM_CRF_NATIVE=0 (no addon kernels),
 * DEEPLAB_STREAM_CRF_NATIVE_IMAGE=0 (no one-image path), DEEPLAB_STREAM_CRF_WASM=0 (the reference engine).
 */
import type { CrfParams } from './crfParams.js';
import type { ProbabilitySource } from './probabilities.js';
import { latticeModule } from './wasmModule.js';

export interface CrfResult {
  /** N×C marginals, HWC (pruned labels are 0). */
  readonly q: Float32Array;
  readonly labels: Uint8Array;
  /** Which labels took part. */
  readonly activeLabels: readonly number[];
}

export interface MeanFieldOptions {
  /** Start mean field from this Q (N×C) instead of the unary's softmax (warm start). */
  readonly initialQ?: Float32Array | undefined;
  /** Called after each iteration with the current active-label Q (tests, energy tracking). */
  readonly onIteration?: ((iteration: number, q: Float32Array, active: readonly number[]) => void) | undefined;
}

/** Mean field over one image's kernels, from the network's probabilities. */
export interface MeanFieldEngine {
  infer(
    source: ProbabilitySource,
    classes: number,
    pruneBelow: number,
    iterations: number,
    options?: MeanFieldOptions,
  ): CrfResult;
}

/**
 * The WebAssembly module for a CRF with these parameters, or null when the reference engine runs it:
 * the module is not built (or switched off), the normalisation is `symmetric`, or no kernel has weight.
 */
export function wasmModuleFor(params: CrfParams): WebAssembly.Module | null {
  if (params.normalization !== 'after' || (params.bilateral.weight === 0 && params.gaussian.weight === 0)) return null;
  return latticeModule();
}

/** The same choice for a video stream's incremental engine (videoMeanField.ts): null → a one-image engine per frame. */
export function videoModuleFor(params: CrfParams): WebAssembly.Module | null {
  return params.normalization === 'after' ? latticeModule() : null;
}

export { nativeImageCrf as oneImageOnNative } from './crfNative.js';
