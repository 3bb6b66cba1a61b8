import { map, type OperatorFunction } from 'rxjs';
import type { Frame, PreparedFrame, WindowScores } from '../core/frames.js';
import type { InputSpec } from '../model/descriptor.js';
import { prepareModelInput, type Layout, type Normalization } from '../model/preprocess.js';

export interface PreprocessOptions {
  readonly layout: Layout;
  readonly normalization: Normalization;
  /** uint8 models get raw resized pixels (no normalisation). */
  readonly inputType?: 'float32' | 'uint8';
  /** The model inputs to make of a frame of the given size (one, or several scales, flips or windows). */
  readonly inputsFor: (frameWidth: number, frameHeight: number, streamId: string) => readonly InputSpec[];
  /**
   * Live tiles: which of a frame's windows run; the others' cached scores are reused
   * (model/windowRefresh.ts). Absent: every window runs.
   */
  readonly chooseWindows?: (
    frame: Frame,
    windows: readonly InputSpec[],
  ) => {
    readonly run: readonly InputSpec[];
    readonly reused: readonly WindowScores[];
    readonly oldestMs: number;
    readonly keep: boolean;
  };
}

/**
 * Resizes each frame to the model's input size(s) (bilinear, half-pixel), normalises it into the
 * model's layout and mirrors the flipped ones. The frame itself is kept for the sinks.
 *
 *   Frame{ rgb: W×H×3 uint8 }  →  PreparedFrame{ frame, inputs: [{ data: Float32Array 3×h×w, width, height, flipped }] }
 *
 * @example
 * frames$.pipe(preprocessFrames(model.preprocess)) // model from openModel(…)
 */
export function preprocessFrames(options: PreprocessOptions): OperatorFunction<Frame, PreparedFrame> {
  return map((frame) => {
    const started = performance.now();
    const specs = options.inputsFor(frame.width, frame.height, frame.streamId);
    const tiled = specs.length > 1 && specs.every((spec) => spec.window);
    const choice = tiled && options.chooseWindows ? options.chooseWindows(frame, specs) : null;
    const inputs = (choice?.run ?? specs).map((spec) =>
      prepareModelInput(
        frame.rgb,
        frame.width,
        frame.height,
        spec,
        options.layout,
        options.normalization,
        options.inputType ?? 'float32',
      ),
    );
    const preparedAt = performance.now();
    return {
      frame,
      inputs,
      ...(choice
        ? {
            refresh: { reused: choice.reused, windows: specs.length, oldestMs: choice.oldestMs, keep: choice.keep },
          }
        : {}),
      preprocessMs: preparedAt - started,
      preparedAt,
    };
  });
}
