import { concatMap, defer, map, type OperatorFunction } from 'rxjs';
import type { CrfParams } from '../crf/crfParams.js';
import type { CrfJob, CrfReply } from '../crf/crfProtocol.js';
import type { WarmStartSettings } from '../crf/crfProtocol.js';
import type { Segmentation } from '../core/frames.js';

/** What refineWithCrf needs of a CRF back end (CrfRunner implements it on a worker thread). */
export interface CrfBackend {
  run(job: Omit<CrfJob, 'id'>): Promise<Extract<CrfReply, { ok: true }>>;
}

export interface RefineOptions {
  readonly params: CrfParams;
  readonly classes: number;
  /**
   * Video: the back end starts each frame's mean field from the previous frame's Q (kept per
   * stream where the CRF runs, blended with the new probabilities) and runs `iterations` instead of
   * `params.iterations`. A scene cut — the probabilities changing by more than `sceneCut` (mean
   * total variation per pixel, 0–1) — a restarted stream (index 0) or the CRF switched back on
   * starts cold again.
   */
  readonly warmStart?: WarmStartSettings;
  /** Live: whether a stream's CRF is switched on right now (default: always); off passes frames through. */
  readonly enabledFor?: (streamId: string) => boolean;
  /**
   * Live: a frame the back end failed on (a worker lost) is told here and passes on unrefined, and
   * its stream starts cold; without it the error ends the stream (offline: nothing may be skipped).
   */
  readonly onError?: (error: unknown, segmentation: Segmentation) => void;
}

/**
 * Refines each frame's labels with the dense CRF and emits them in arrival order. Frames are handed
 * to the back end as they arrive, so a back end with several workers refines independent frames side
 * by side; a stream's warm-started frames reach its worker in order (the warm start carries Q from
 * frame to frame). Needs `probabilities` on the segmentations (`inferBatches(pool, { withProbabilities:
 * true })`); drops them once used. The probabilities buffer is transferred to the CRF worker.
 *
 *   Segmentation{ labels, probabilities }  →  Segmentation{ labels refined, classPixels, crf: { warm, activeShare }, timings.crf }
 *
 * What it remembers of each stream belongs to one subscription: a resubscription (retry, restart)
 * starts every stream cold.
 *
 * @example
 * const runner = CrfRunner.start();
 * segmentations$.pipe(refineWithCrf(runner, { params: DEEPLAB_VOC_PARAMS, classes: 21, warmStart: { iterations: 3, sceneCut: 0.3 } }))
 */
export function refineWithCrf(
  backend: CrfBackend,
  options: RefineOptions,
): OperatorFunction<Segmentation, Segmentation> {
  return (source) =>
    defer(() => {
      // Per subscription: a resubscribed pipeline starts every stream cold.
      const refine = refineFrame(backend, options, new Set<string>(), new Set<string>());
      return source.pipe(
        map((segmentation) => {
          const refined = refine(segmentation);
          refined.catch(() => {}); // surfaced in order by concatMap; not an unhandled rejection meanwhile
          return refined;
        }),
        concatMap((refined) => refined),
      );
    });
}

/**
 * One frame through the back end. `restart`: streams whose next refined frame must start cold (the
 * CRF was off in between); `seen`: streams this subscription has refined (a stream's first frame
 * here starts cold, whatever its index).
 */
function refineFrame(backend: CrfBackend, options: RefineOptions, restart: Set<string>, seen: Set<string>) {
  return async (segmentation: Segmentation): Promise<Segmentation> => {
    const { frame, probabilities, ...rest } = segmentation;
    // Switched off, or switched on after this frame was inferred without probabilities: as it came.
    if (options.enabledFor && (!options.enabledFor(frame.streamId) || !probabilities)) {
      restart.add(frame.streamId);
      return { frame, ...rest };
    }
    if (!probabilities) throw new Error('refineWithCrf needs probabilities: run inferBatches with withProbabilities');
    const cold = frame.index === 0 || restart.delete(frame.streamId) || !seen.has(frame.streamId);
    seen.add(frame.streamId);
    const job = {
      image: frame.rgb,
      width: frame.width,
      height: frame.height,
      probabilities,
      classes: options.classes,
      params: options.params,
      ...(options.warmStart ? { warmStart: { ...options.warmStart, streamId: frame.streamId, restart: cold } } : {}),
    };
    let result: Awaited<ReturnType<CrfBackend['run']>>;
    try {
      // The probabilities go to the worker (transferred); the labels stay for a fallback.
      result = await backend.run(job);
    } catch (error) {
      if (!options.onError) throw error;
      options.onError(error, segmentation);
      restart.add(frame.streamId);
      return { frame, ...rest };
    }
    const classPixels = new Uint32Array(options.classes);
    for (const label of result.labels) classPixels[label]! += 1;
    // The CRF's own time; waiting behind other frames shows in the end-to-end latency instead.
    const crf = { warm: result.warm, activeShare: result.activePixels / result.points };
    return {
      frame,
      ...rest,
      labels: result.labels,
      classPixels,
      crf,
      timings: { ...segmentation.timings, crf: result.setupMs + result.inferenceMs },
    };
  };
}
