/** The data that flows through a run, source → operators → sinks. */

/** A rectangle of a frame, in pixels: one window of sliding-window (tiled) inference. */
export interface FrameWindow {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One model input made from a frame (or a window of it): 3×h×w in the model's layout (float32, or uint8 pixels), maybe mirrored. */
export interface ModelInput {
  readonly data: Float32Array | Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Mirrored left-right (test-time flip): its scores are mirrored back before averaging. */
  readonly flipped: boolean;
  /** Tiled inference: the part of the frame this input shows (its scores are blended with the other windows'). */
  readonly window?: FrameWindow;
}

/** A tensor's axes: classes (or channels) first, or last. */
export type TensorLayout = 'NCHW' | 'NHWC';

/** One input's scores as the model gave them: a view into a batch output, or a copy (offset 0). */
export interface ScoreMap {
  readonly data: Float32Array;
  /** Offset of this frame's scores in `data` (batch outputs share one buffer). */
  readonly offset: number;
  readonly classes: number;
  readonly height: number;
  readonly width: number;
  readonly layout: TensorLayout;
  /** The model input these scores sample with aligned corners (DeepLab's geometry); absent: half-pixel. */
  readonly alignedTo?: { readonly width: number; readonly height: number };
}

/** One window's scores (tiled inference): `input` is the size its pixels were resized to. */
export interface WindowScores {
  readonly scores: ScoreMap;
  readonly window: FrameWindow;
  readonly input: { readonly width: number; readonly height: number };
}

/** One decoded picture: rgb24, HWC, rows not padded. */
export interface Frame {
  readonly streamId: string;
  /** 0-based position in the source; offline runs emit every index exactly once, in order. */
  readonly index: number;
  readonly ptsMs: number;
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
  /** performance.now() when the frame left the decoder. */
  readonly capturedAt: number;
  /** Time spent waiting for the decoder to deliver this frame. */
  readonly decodeMs: number;
}

/** A frame with its model input(s) prepared (resized + normalised, the model's layout). */
export interface PreparedFrame {
  readonly frame: Frame;
  /** One input, or one per scale (and its mirror image) for multi-scale inference. */
  readonly inputs: readonly ModelInput[];
  /** Tiles at the camera's rate: `inputs` are the windows that run; the others reuse these scores. */
  readonly refresh?: {
    readonly reused: readonly WindowScores[];
    /** The frame's windows, run and reused. */
    readonly windows: number;
    /** Age of the oldest reused scores (capture time). */
    readonly oldestMs: number;
    /** The fresh windows' scores are wanted back, to be reused. */
    readonly keep: boolean;
  };
  readonly preprocessMs: number;
  /** performance.now() when preprocessing finished (queue time starts here). */
  readonly preparedAt: number;
}

/** Milliseconds spent per stage for one frame (batch stages are divided over the batch). */
export interface StageTimings {
  decode: number;
  preprocess: number;
  infer: number;
  postprocess: number;
  /** Time a frame waited for a free worker / batch to fill. */
  queue: number;
  /** Dense-CRF refinement (0 when the CRF is off). */
  crf: number;
  /** Time the sinks took to accept the frame (overlay, encoder drain, PNG, JSON). */
  write: number;
}

/** A frame and its label map at frame resolution. */
export interface Segmentation {
  readonly frame: Frame;
  /** performance.now() when the model's result came back. */
  readonly inferredAt: number;
  /** H×W class indices. */
  readonly labels: Uint8Array;
  /** Pixel count per class, length = class count. */
  readonly classPixels: Uint32Array;
  /** N×C class probabilities (HWC), when the CRF needs them: at the CRF's size (`crfSize`), or the frame's. */
  readonly probabilities?: Float32Array;
  /**
   * Set once the dense CRF refined `labels`: whether it started from the stream's previous frame
   * (incremental) or cold, and the share of the pixels it recomputed (1 when cold).
   */
  readonly crf?: { readonly warm: boolean; readonly activeShare: number };
  /** Tiles at the camera's rate: how many of the frame's windows ran, and the oldest scores it is made of. */
  readonly scoresAge?: { readonly oldestMs: number; readonly windowsRun: number; readonly windows: number };
  readonly timings: StageTimings;
}
