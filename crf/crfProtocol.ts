/** Messages between the main thread and a CRF worker (buffers transferred). */
import type { ErrorEnvelope } from '../core/errors.js';
import type { CrfParams } from './crfParams.js';
import type { ProbabilitySource } from './probabilities.js';

export interface CrfJob {
  readonly id: number;
  readonly image: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** N×C probabilities, HWC; or a file of them the worker reads itself (checked and normalised there). */
  readonly probabilities: ProbabilitySource;
  readonly classes: number;
  readonly params: CrfParams;
  /**
   * Video: the worker keeps each stream's previous frame and warm-starts from it unless the scene
   * cut or `restart` (a new stream, the CRF switched back on) says to start cold.
   */
  readonly warmStart?: WarmStartSettings & { readonly streamId: string; readonly restart: boolean };
  /** Send the marginals Q back (N×C at full size); only the labels otherwise. */
  readonly wantQ?: boolean;
}

export type CrfReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly q?: Float32Array;
      readonly labels: Uint8Array;
      readonly setupMs: number;
      readonly inferenceMs: number;
      readonly activeLabels: readonly number[];
      readonly iterations: number;
      readonly warm: boolean;
      /** Pixels the mean field recomputed, of `points` (the pixels at the CRF's scale). */
      readonly activePixels: number;
      readonly points: number;
    }
  /** `kind`: 'input' when the job itself cannot run (the caller's mistake: one line), else a bug with its stack. */
  | { readonly id: number; readonly ok: false; readonly error: ErrorEnvelope };

/**
 * Iterations of a warm-started frame by default. A warm frame starts from the previous frame's Q, so
 * each frame adds an iteration to what earlier frames converged: more iterations per frame bring
 * the labels no closer to a cold frame's (docs/benchmark-history.md, the warm start on real footage).
 */
export const WARM_START_ITERATIONS = 1;

export interface WarmStartSettings {
  /** Iterations of a warm-started frame (instead of the parameters' cold count). */
  readonly iterations: number;
  /** Mean total variation between consecutive probability maps (0–1) above which a frame starts cold. */
  readonly sceneCut: number;
  /** Incremental engine: a pixel whose probabilities moved by more than this total variation is recomputed (default 0.1). */
  readonly tv?: number;
  /**
   * Incremental engine: a pixel whose colour moved by more than this many levels (in a channel) from
   * the colour it was embedded with is re-embedded in the lattice (default: σβ, the appearance
   * kernel's colour σ, rounded, or 3× the frame-to-frame camera noise where that is larger — a still
   * pixel of a noisy camera then keeps its lattice position; within it a pixel keeps its place).
   */
  readonly rgb?: number;
  /** Incremental engine: a pixel whose largest Q is below this is recomputed on every warm frame (default 0.9). */
  readonly sure?: number;
}
