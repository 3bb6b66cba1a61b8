import { map, type OperatorFunction } from 'rxjs';
import type { Frame, PreparedFrame } from '../pipeline/frames.js';
import { preprocessRgb, type Layout, type Normalization } from '../model/preprocess.js';

export interface PreprocessOptions {
  readonly layout: Layout;
  readonly normalization: Normalization;
  /** Model input size [width, height] for a frame of the given size. */
  readonly inputSizeFor: (frameWidth: number, frameHeight: number) => readonly [number, number];
}

/**
 * Resizes each frame to the model's input size (bilinear, half-pixel) and normalises it into the
 * model's layout. The frame itself is kept for the sinks.
 *
 *   Frame{ rgb: W×H×3 uint8 }  →  PreparedFrame{ frame, input: Float32Array 3×h×w, inputWidth, inputHeight }
 */
export function preprocessFrames(options: PreprocessOptions): OperatorFunction<Frame, PreparedFrame> {
  return map((frame) => {
    const started = performance.now();
    const [inputWidth, inputHeight] = options.inputSizeFor(frame.width, frame.height);
    const input = preprocessRgb(frame.rgb, frame.width, frame.height, inputWidth, inputHeight, options.layout, options.normalization);
    const preparedAt = performance.now();
    return { frame, input, inputWidth, inputHeight, preprocessMs: preparedAt - started, preparedAt };
  });
}
