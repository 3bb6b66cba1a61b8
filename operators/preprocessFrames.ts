import { map, type OperatorFunction } from 'rxjs';
import type { Frame, PreparedFrame } from '../pipeline/frames.js';
import type { InputSpec } from '../model/descriptor.js';
import { mirrorHorizontally, preprocessRgb, type Layout, type Normalization } from '../model/preprocess.js';

export interface PreprocessOptions {
  readonly layout: Layout;
  readonly normalization: Normalization;
  /** The model inputs to make of a frame of the given size (one, or several scales and flips). */
  readonly inputsFor: (frameWidth: number, frameHeight: number) => readonly InputSpec[];
}

/**
 * Resizes each frame to the model's input size(s) (bilinear, half-pixel), normalises it into the
 * model's layout and mirrors the flipped ones. The frame itself is kept for the sinks.
 *
 *   Frame{ rgb: W×H×3 uint8 }  →  PreparedFrame{ frame, inputs: [{ data: Float32Array 3×h×w, width, height, flipped }] }
 */
export function preprocessFrames(options: PreprocessOptions): OperatorFunction<Frame, PreparedFrame> {
  return map((frame) => {
    const started = performance.now();
    const inputs = options.inputsFor(frame.width, frame.height).map(({ width, height, flipped }) => {
      const data = preprocessRgb(frame.rgb, frame.width, frame.height, width, height, options.layout, options.normalization);
      return { data: flipped ? mirrorHorizontally(data, width, height, options.layout) : data, width, height, flipped };
    });
    const preparedAt = performance.now();
    return { frame, inputs, preprocessMs: preparedAt - started, preparedAt };
  });
}
