/** Messages between the main thread and a CRF worker (buffers transferred). */
import type { CrfParams } from './denseCrf.js';

export interface CrfJob {
  readonly id: number;
  readonly image: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** N×C probabilities, HWC. */
  readonly probabilities: Float32Array;
  readonly classes: number;
  readonly params: CrfParams;
  readonly initialQ?: Float32Array;
}

export type CrfReply =
  | { readonly id: number; readonly ok: true; readonly q: Float32Array; readonly labels: Uint8Array; readonly setupMs: number; readonly inferenceMs: number; readonly activeLabels: readonly number[] }
  | { readonly id: number; readonly ok: false; readonly message: string };
