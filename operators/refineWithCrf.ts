import { concatMap, type OperatorFunction } from 'rxjs';
import type { CrfParams } from '../model/crf/denseCrf.js';
import type { CrfJob, CrfReply } from '../model/crf/crfProtocol.js';
import type { Segmentation } from '../pipeline/frames.js';

/** What refineWithCrf needs of a CRF back end (CrfRunner implements it on a worker thread). */
export interface CrfBackend {
  run(job: Omit<CrfJob, 'id'>): Promise<Extract<CrfReply, { ok: true }>>;
}

export interface RefineOptions {
  readonly params: CrfParams;
  readonly classes: number;
  /**
   * Video: start each frame's mean field from the previous frame's Q blended with its own
   * probabilities (`warmStartQ`) and run `iterations` instead of `params.iterations`. A scene cut — the
   * probabilities changing by more than `sceneCut` (mean total variation per pixel, 0–1) — or a
   * restarted stream (index 0) starts cold again.
   */
  readonly warmStart?: { readonly iterations: number; readonly sceneCut: number };
  /** Live: whether a stream's CRF is switched on right now (default: always); off passes frames through. */
  readonly enabledFor?: (streamId: string) => boolean;
}

/**
 * Where a pixel's probabilities did not change, its previous Q (already converged) is the best
 * start; where they did — something moved — only the new probabilities are. Per pixel:
 *   Q0 = w·Q_prev + (1 − w)·p,  w = exp(−TV(p_prev, p) / 0.1)
 */
export function warmStartQ(previousQ: Float32Array, previousP: Float32Array, p: Float32Array, classes: number): Float32Array {
  const q0 = new Float32Array(p.length);
  for (let i = 0; i < p.length; i += classes) {
    let tv = 0;
    for (let c = 0; c < classes; c++) tv += Math.abs(p[i + c]! - previousP[i + c]!);
    const w = Math.exp(-tv / 2 / 0.1);
    for (let c = 0; c < classes; c++) q0[i + c] = w * previousQ[i + c]! + (1 - w) * p[i + c]!;
  }
  return q0;
}

/** Mean over pixels of ½ Σ_c |a − b|: 0 for equal maps, 1 for disjoint ones. */
export function meanTotalVariation(a: Float32Array, b: Float32Array, classes: number): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / 2 / (a.length / classes);
}

/**
 * Refines each frame's labels with the dense CRF, one frame at a time and in order (the warm
 * start carries Q from frame to frame of a stream). Needs `probabilities` on the segmentations
 * (`inferBatches(pool, { withProbabilities: true })`); drops them once used.
 *
 *   Segmentation{ labels, probabilities }  →  Segmentation{ labels refined, classPixels, refinedByCrf, timings.crf }
 */
export function refineWithCrf(backend: CrfBackend, options: RefineOptions): OperatorFunction<Segmentation, Segmentation> {
  const previous = new Map<string, { q: Float32Array; probabilities: Float32Array }>();
  return concatMap(async (segmentation) => {
    const { frame, probabilities } = segmentation;
    // Switched off, or switched on after this frame was inferred without probabilities: as it came.
    if (options.enabledFor && (!options.enabledFor(frame.streamId) || !probabilities)) {
      previous.delete(frame.streamId); // switched back on later, it starts cold
      const { probabilities: _unused, ...rest } = segmentation;
      return rest;
    }
    if (!probabilities) throw new Error('refineWithCrf needs probabilities: run inferBatches with withProbabilities');
    const last = previous.get(frame.streamId);
    const warm =
      options.warmStart && last && frame.index > 0 && last.probabilities.length === probabilities.length && meanTotalVariation(last.probabilities, probabilities, options.classes) <= options.warmStart.sceneCut;
    const initialQ = warm ? warmStartQ(last.q, last.probabilities, probabilities, options.classes) : undefined;
    const params = warm ? { ...options.params, iterations: options.warmStart!.iterations } : options.params;
    const started = performance.now();
    const result = await backend.run({
      image: frame.rgb,
      width: frame.width,
      height: frame.height,
      probabilities: options.warmStart ? probabilities.slice() : probabilities, // kept for the next frame's scene-cut test
      classes: options.classes,
      params,
      ...(initialQ ? { initialQ } : {}),
    });
    if (options.warmStart) previous.set(frame.streamId, { q: result.q, probabilities });
    const classPixels = new Uint32Array(options.classes);
    for (const label of result.labels) classPixels[label]! += 1;
    const { probabilities: _used, ...rest } = segmentation;
    return { ...rest, labels: result.labels, classPixels, refinedByCrf: true, timings: { ...segmentation.timings, crf: performance.now() - started } };
  });
}
