import { filter, type MonoTypeOperatorFunction } from 'rxjs';
import type { Segmentation } from '../pipeline/frames.js';

/**
 * Live: several workers finish frames out of order, and a frame older than one already shown would
 * make the picture jump back. Passes each stream's segmentations only in increasing frame index;
 * an older one is dropped and handed to `onStale` (to count it and return its credit).
 *
 *   (stream a: 4, 6, 5, 7)  →  (a: 4, 6, 7)   onStale(a:5)
 */
export function dropStaleFrames(onStale: (segmentation: Segmentation) => void): MonoTypeOperatorFunction<Segmentation> {
  const newest = new Map<string, number>();
  return filter((segmentation) => {
    const { streamId, index } = segmentation.frame;
    if (index <= (newest.get(streamId) ?? -1)) {
      onStale(segmentation);
      return false;
    }
    newest.set(streamId, index);
    return true;
  });
}
