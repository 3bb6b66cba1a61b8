/** Messages between the main thread and an inference worker (structured clone; buffers transferred). */
import type { Device } from './session.js';
import type { Layout } from './preprocess.js';

export interface WorkerInit {
  readonly modelPath: string;
  readonly device: Device;
  readonly threads: number;
  readonly inputName: string;
  readonly outputName: string;
  readonly inputLayout: Layout;
  readonly outputLayout: Layout;
  readonly outputKind: 'scores' | 'mask';
  readonly maskThreshold: number;
}

export interface BatchRequest {
  readonly type: 'run';
  readonly id: number;
  /** Model input size shared by the batch. */
  readonly inputWidth: number;
  readonly inputHeight: number;
  /** One prepared input per frame, 3×h×w float32 each, and the frame size to upsample back to. */
  readonly frames: readonly { input: Float32Array; width: number; height: number }[];
}

export interface FrameLabels {
  readonly labels: Uint8Array;
  readonly classPixels: Uint32Array;
}

export type WorkerReply =
  | { readonly type: 'ready'; readonly provider: 'cpu' | 'cuda'; readonly fallbackReason?: string }
  | { readonly type: 'init-error'; readonly errorName: string; readonly message: string }
  | { readonly type: 'result'; readonly id: number; readonly frames: readonly FrameLabels[]; readonly inferMs: number; readonly postprocessMs: number; readonly outputDims: readonly number[] }
  | { readonly type: 'run-error'; readonly id: number; readonly message: string };
