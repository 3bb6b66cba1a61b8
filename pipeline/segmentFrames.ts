/**
 * The one operator chain every run shares — segment, serve, and the scale-out worker next:
 *
 *   Frame ─▶ preprocessFrames ─▶ batchFrames ─▶ inferBatches ─▶ reorderByIndex (offline: every frame, in order)
 *                                                            └▶ dropStaleFrames (live: never an older frame after a newer one)
 *         ─▶ [refineWithCrf] ─▶ Segmentation
 *
 * @example
 * const plan = planRun({ modelPath, batchSize: 2 });
 * frames$.pipe(segmentFrames(plan, pool, { batchWaitMs: 20, order: { kind: 'lossless' } }), writeToSinks(sinks))
 */
import { identity, type OperatorFunction, pipe } from 'rxjs';
import type { Frame, PreparedFrame, Segmentation, WindowScores } from '../core/frames.js';
import { batchFrames } from '../operators/batchFrames.js';
import { dropStaleFrames } from '../operators/dropStaleFrames.js';
import { type BatchRunner, inferBatches } from '../operators/inferBatches.js';
import { preprocessFrames, type PreprocessOptions } from '../operators/preprocessFrames.js';
import { type CrfBackend, refineWithCrf, type RefineOptions } from '../operators/refineWithCrf.js';
import { reorderByIndex } from '../operators/reorderByIndex.js';
import type { WindowRefresh } from '../model/windowRefresh.js';
import type { RunPlan } from './runPlan.js';

export interface SegmentFramesOptions {
  /** How long a partial batch waits for more frames. */
  readonly batchWaitMs: number;
  /** Offline: lossless, in index order. Live: the newest of each stream; older ones go to `onStale`. */
  readonly order:
    { readonly kind: 'lossless' } | { readonly kind: 'latest'; readonly onStale: (segmentation: Segmentation) => void };
  /** Keep per-pixel probabilities for the CRF: always, or per batch (the streams whose CRF is on). */
  readonly withProbabilities?: boolean | ((batch: readonly PreparedFrame[]) => boolean);
  /** Live: a batch whose worker was lost is told here and skipped (offline it ends the run). */
  readonly onBatchError?: (error: unknown, batch: readonly PreparedFrame[]) => void;
  /** Refine with the dense CRF on this back end. */
  readonly crf?: { readonly backend: CrfBackend; readonly options: RefineOptions };
  /** Live: the model inputs of a stream's frames, where it has its own windows (`tiles` per stream). */
  readonly inputsOf?: (streamId: string) => PreprocessOptions['inputsFor'] | undefined;
  /** Live: the classes a stream shows, where it has its own (`classesShown` per stream). */
  readonly shownClassesOf?: (streamId: string) => readonly number[] | undefined;
  /** Live tiles at the camera's rate: a frame runs only the windows this chooses and reuses the rest. */
  readonly windowRefresh?: WindowRefresh;
}

export function segmentFrames(
  plan: RunPlan,
  runner: BatchRunner,
  options: SegmentFramesOptions,
): OperatorFunction<Frame, Segmentation> {
  const { order, windowRefresh } = options;
  return pipe(
    preprocessFrames({
      ...plan.preprocess,
      ...(options.inputsOf
        ? {
            inputsFor: (width: number, height: number, streamId: string) =>
              (options.inputsOf!(streamId) ?? plan.preprocess.inputsFor)(width, height, streamId),
          }
        : {}),
      ...(windowRefresh ? { chooseWindows: windowRefresh.choose.bind(windowRefresh) } : {}),
    }),
    batchFrames(plan.batchSize, options.batchWaitMs),
    inferBatches(runner, {
      ...(options.withProbabilities !== undefined ? { withProbabilities: options.withProbabilities } : {}),
      ...(options.shownClassesOf ? { shownClassesOf: options.shownClassesOf } : {}),
      // The CRF's resolution: the probabilities are made at its size, never at the frame's.
      ...(options.crf
        ? {
            probabilitiesScale: options.crf.options.params.scale,
            probabilitiesPrune: options.crf.options.params.pruneBelow,
          }
        : {}),
      ...(options.onBatchError ? { onBatchError: options.onBatchError } : {}),
      ...(windowRefresh
        ? {
            onFreshWindows: (frame: Frame, windows: readonly WindowScores[], msPerWindow: number) => {
              windowRefresh.store(frame.streamId, frame.capturedAt, windows);
              if (windows.length > 0) windowRefresh.noteCost(msPerWindow);
            },
          }
        : {}),
    }),
    order.kind === 'lossless' ? reorderByIndex((s: Segmentation) => s.frame.index) : dropStaleFrames(order.onStale),
    options.crf ? refineWithCrf(options.crf.backend, options.crf.options) : identity,
  );
}
