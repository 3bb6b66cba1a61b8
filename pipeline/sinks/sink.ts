import type { Segmentation } from '../frames.js';

/**
 * Where segmentations go. `write` resolves when the sink can take the next one (backpressure);
 * `finish` makes the output complete and visible under its final name; `abort` removes whatever
 * was written, so a failed or cancelled run never leaves output that looks complete.
 */
export interface SegmentationSink {
  readonly name: string;
  write(segmentation: Segmentation): Promise<void>;
  finish(): Promise<void>;
  abort(): Promise<void>;
}
