import { defer, filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Segmentation } from '../core/frames.js';

/**
 * Live: several workers finish frames out of order, and a frame older than one already shown would
 * make the picture jump back. Passes each stream's segmentations only in increasing frame index;
 * an older one is dropped and handed to `onStale` (to count it and return its credit).
 *
 *   (stream a: 4, 6, 5, 7)  →  (a: 4, 6, 7)   onStale(a:5)
 *
 * The newest index per stream belongs to one subscription: a resubscription (retry, restart)
 * starts afresh, as RxJS's own stateful operators do.
 *
 * @example
 * segmentations$.pipe(dropStaleFrames((stale) => credits.release()))
 */
export function dropStaleFrames(onStale: (segmentation: Segmentation) => void): MonoTypeOperatorFunction<Segmentation> {
  return (source) =>
    defer(() => {
      const newest = new Map<string, number>();
      return source.pipe(
        filter((segmentation) => {
          const { streamId, index } = segmentation.frame;
          if (index <= (newest.get(streamId) ?? -1)) {
            onStale(segmentation);
            return false;
          }
          newest.set(streamId, index);
          return true;
        }),
      );
    });
}
