import { concatMap, type OperatorFunction } from 'rxjs';
import type { Segmentation } from '../core/frames.js';
import type { SegmentationSink } from '../core/sink.js';

/**
 * Hands each segmentation to every sink, one segmentation at a time and in arrival order, and
 * emits it once all sinks have taken it — so a slow sink (an encoder waiting on `drain`) holds
 * the pipeline back instead of queueing frames in memory.
 *
 *   Segmentation  →  (video, masks, JSON lines ...)  →  the Segmentation, after it is written,
 *                                                        with `timings.write` filled in
 *
 * @example
 * const sinks = [new MaskPngSink('masks'), new FrameStatsSink('frames.jsonl', model.descriptor.classNames)];
 * await lastValueFrom(segmentations$.pipe(writeToSinks(sinks), tap(() => credits.release())));
 * await finishSinks(sinks); // complete names only now
 */
export function writeToSinks(sinks: readonly SegmentationSink[]): OperatorFunction<Segmentation, Segmentation> {
  return concatMap(async (segmentation) => {
    const started = performance.now();
    await Promise.all(sinks.map((sink) => sink.write(segmentation)));
    return { ...segmentation, timings: { ...segmentation.timings, write: performance.now() - started } };
  });
}
