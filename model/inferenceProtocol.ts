/** Messages between the main thread and an inference worker (structured clone; buffers transferred). */
import type { ErrorEnvelope } from '../core/errors.js';
import type { ModelInput, WindowScores } from '../core/frames.js';
import type { Device } from './device.js';
import type { Layout } from './preprocess.js';

export interface WorkerInit {
  readonly modelPath: string;
  readonly device: Device;
  readonly threads: number;
  readonly inputName: string;
  readonly outputName: string;
  readonly inputLayout: Layout;
  readonly outputLayout: Layout;
  readonly outputKind: 'scores' | 'mask' | 'labels';
  readonly maskThreshold: number;
  readonly inputType: 'float32' | 'uint8';
  /** Label classes (an argmaxed output must stay below this). */
  readonly classes: number;
  /** The graph takes any batch size: inputs of one size (a frame's windows, a batch's frames) go in one run. */
  readonly dynamicBatch: boolean;
  /** The scores align corners with the model input (ModelDescriptor.scoresAlignCorners). */
  readonly scoresAlignCorners?: boolean;
  /** The classes the argmax runs over (ModelDescriptor.shownClasses); absent: all. */
  readonly shownClasses?: readonly number[];
}

/**
 * A frame to segment: its inputs (one, or one per scale and flip, as DeepLab's multi-scale
 * inference; every frame of a batch has the same list of sizes) and the size to upsample back to.
 */
export interface FrameInputs {
  readonly inputs: readonly ModelInput[];
  readonly width: number;
  readonly height: number;
  /** This frame's stream shows only these classes (and background); absent: the model's `shownClasses`. */
  readonly shownClasses?: readonly number[];
  /** Tiles at the camera's rate: the windows not run this frame, their cached scores blended with the fresh ones. */
  readonly reused?: readonly WindowScores[];
  /** Send the fresh windows' scores back (to be cached). */
  readonly keepWindows?: boolean;
}

export interface BatchRequest {
  readonly type: 'run';
  readonly id: number;
  readonly frames: readonly FrameInputs[];
  /** Also return per-pixel probabilities (HWC) for the CRF, at `probabilitiesScale` of the frame size (`crfSize`; default 1). */
  readonly withProbabilities?: boolean;
  readonly probabilitiesScale?: number;
  /** The CRF's pruning threshold: labels that never come near it are left at 0 (not computed). */
  readonly probabilitiesPrune?: number;
}

/** Finish the current run, release the session, exit. */
export interface CloseRequest {
  readonly type: 'close';
}

export interface FrameLabels {
  readonly labels: Uint8Array;
  readonly classPixels: Uint32Array;
  /** N×C probabilities at frame size, when asked for. */
  readonly probabilities?: Float32Array;
  /** The fresh windows' scores (copies), when `keepWindows`. */
  readonly windows?: readonly WindowScores[];
}

export type WorkerReply =
  | { readonly type: 'ready'; readonly provider: 'cpu' | 'cuda'; readonly fallbackReason?: string }
  | { readonly type: 'init-error'; readonly error: ErrorEnvelope }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly ok: true;
      readonly frames: readonly FrameLabels[];
      readonly inferMs: number;
      readonly postprocessMs: number;
      /** The inputs' buffers, done with, for the next inputs (model/inputBuffers.ts). */
      readonly inputBuffers: readonly ArrayBuffer[];
    }
  | { readonly type: 'run-error'; readonly id: number; readonly ok: false; readonly error: ErrorEnvelope };
