import { EMPTY, catchError, from, mergeMap, type OperatorFunction } from 'rxjs';
import type { BatchInput, BatchResult } from '../model/inferencePool.js';
import type { Frame, PreparedFrame, Segmentation, WindowScores } from '../core/frames.js';

/** What inferBatches needs of an inference back end (the worker pool implements it). */
export interface BatchRunner {
  /** How many batches may run at once. */
  readonly size: number;
  run(batch: BatchInput): Promise<BatchResult>;
}

/**
 * Runs each batch on the inference workers, up to `runner.size` batches at once, and emits one
 * Segmentation per frame. Batches finish in any order: follow with `reorderByIndex` where order
 * matters. The frames' input buffers are transferred to the worker (unusable afterwards).
 *
 *   [PreparedFrame, ...]  →  Segmentation{ frame, labels H×W, classPixels, timings } per frame
 *   (with `withProbabilities`, also `probabilities` N×C for the CRF, at `probabilitiesScale` of the
 *   frame size — the CRF's own, so no full-size volume is made; a function decides per batch,
 *   e.g. only for the streams whose CRF is switched on)
 *
 * Frames of one batch whose model inputs differ (a stream with its own tiles beside one without)
 * run as one request per kind of input.
 *
 * A batch that fails (a worker lost) errors the whole stream — offline nothing may go missing —
 * unless `onBatchError` is given: then it is told, and that batch's frames are skipped (live).
 *
 * @example
 * frames$.pipe(preprocessFrames(plan), batchFrames(4, 20), inferBatches(pool), reorderByIndex((s) => s.frame.index))
 */
export function inferBatches(
  runner: BatchRunner,
  options: {
    withProbabilities?: boolean | ((batch: readonly PreparedFrame[]) => boolean);
    probabilitiesScale?: number;
    probabilitiesPrune?: number;
    onBatchError?: (error: unknown, batch: readonly PreparedFrame[]) => void;
    /** The classes a stream shows (its own `classes-shown`); undefined: the model's. */
    shownClassesOf?: (streamId: string) => readonly number[] | undefined;
    /** Live tiles: the scores of the windows a frame ran, to be reused by later frames, and what a window cost. */
    onFreshWindows?: (frame: Frame, windows: readonly WindowScores[], msPerWindow: number) => void;
  } = {},
): OperatorFunction<readonly PreparedFrame[], Segmentation> {
  const sizes = (p: PreparedFrame) => p.inputs.map((i) => `${i.width}x${i.height}`).join();
  /** The batch as groups of frames with the same model inputs, in their order. */
  const groups = (batch: readonly PreparedFrame[]): (readonly PreparedFrame[])[] => {
    const bySizes = new Map<string, PreparedFrame[]>();
    for (const p of batch) bySizes.set(sizes(p), [...(bySizes.get(sizes(p)) ?? []), p]);
    return [...bySizes.values()];
  };
  // Read once: while a lost worker is being replaced the pool has no slots, and a concurrency of 0
  // read then would hold a batch for ever. A batch's groups run side by side (the pool queues them).
  const concurrency = Math.max(1, runner.size);
  return mergeMap(
    (mixed: readonly PreparedFrame[]) =>
      from(groups(mixed)).pipe(
        mergeMap((batch) => {
          const sentAt = performance.now();
          const { withProbabilities } = options;
          const request: BatchInput = {
            frames: batch.map((p) => {
              const shownClasses = options.shownClassesOf?.(p.frame.streamId);
              return {
                inputs: p.inputs,
                width: p.frame.width,
                height: p.frame.height,
                ...(shownClasses ? { shownClasses } : {}),
                ...(p.refresh ? { reused: p.refresh.reused, keepWindows: p.refresh.keep } : {}),
              };
            }),
            ...((typeof withProbabilities === 'function' ? withProbabilities(batch) : withProbabilities)
              ? {
                  withProbabilities: true,
                  probabilitiesScale: options.probabilitiesScale ?? 1,
                  probabilitiesPrune: options.probabilitiesPrune ?? 0,
                }
              : {}),
          };
          return from(
            runner.run(request).then((result) => {
              const inferredAt = performance.now();
              const inputs = batch.reduce((n, p) => n + p.inputs.length, 0);
              return batch.map((prepared, i): Segmentation => {
                const { windows } = result.frames[i]!;
                if (windows && options.onFreshWindows)
                  options.onFreshWindows(prepared.frame, windows, inputs > 0 ? result.inferMs / inputs : 0);
                const { refresh } = prepared;
                return {
                  frame: prepared.frame,
                  inferredAt,
                  labels: result.frames[i]!.labels,
                  classPixels: result.frames[i]!.classPixels,
                  ...(result.frames[i]!.probabilities ? { probabilities: result.frames[i]!.probabilities } : {}),
                  ...(refresh
                    ? {
                        scoresAge: {
                          oldestMs: refresh.oldestMs,
                          windowsRun: prepared.inputs.length,
                          windows: refresh.windows,
                        },
                      }
                    : {}),
                  timings: {
                    decode: prepared.frame.decodeMs,
                    preprocess: prepared.preprocessMs,
                    queue: sentAt - prepared.preparedAt,
                    infer: result.inferMs / batch.length,
                    postprocess: result.postprocessMs / batch.length,
                    crf: 0,
                    write: 0,
                  },
                };
              });
            }),
          ).pipe(
            mergeMap((segmentations) => segmentations),
            catchError((error: unknown) => {
              if (!options.onBatchError) throw error;
              options.onBatchError(error, batch);
              return EMPTY;
            }),
          );
        }),
      ),
    concurrency,
  );
}
