/**
 * The segmenting half of a live run, wherever its frames go: live streams in, segmentations out to
 * one sink — the viewers of this server (`serve`), or the cluster's subjects (`worker --nats`).
 *
 *   LiveStream × N (latest-wins slots) ─pullLiveStreams(credits, round robin)─▶ preprocessFrames
 *     ─▶ batchFrames (across streams) ─▶ inferBatches (shared workers) ─▶ dropStaleFrames
 *     ─▶ refineWithCrf (per stream, switchable) ─▶ writeToSinks([sink]) ─▶ onPublished
 *
 * Credits bound the frames in flight to what the workers can run at once (plus one waiting for a
 * single worker), so a frame is taken from its stream only when it can be inferred at once: latency
 * stays at about one frame's processing, and when inference is behind the streams drop their
 * oldest frames (counted).
 */
import { tap } from 'rxjs';
import type { Segmentation } from '../core/frames.js';
import type { SegmentationSink } from '../core/sink.js';
import { CrfRunner } from '../crf/crfRunner.js';
import type { CrfParams } from '../crf/crfParams.js';
import { InferencePool } from '../model/inferencePool.js';
import type { Device } from '../model/device.js';
import { WindowRefresh, type WindowRefreshOptions } from '../model/windowRefresh.js';
import { writeToSinks } from '../operators/writeToSinks.js';
import type { DropPlace } from '../server/metrics.js';
import { FrameCredits } from '../sources/frameCredits.js';
import type { RunPlan } from './runPlan.js';
import { segmentFrames } from './segmentFrames.js';
import type { LiveStreamSet } from '../sources/liveStreamSet.js';
import { pullLiveStreams } from '../sources/pullLiveStreams.js';

export interface LivePipelineOptions {
  readonly plan: RunPlan;
  readonly device: Device;
  readonly workers: number;
  readonly threadsPerWorker: number;
  readonly batchSize: number;
  readonly batchWaitMs: number;
  /** The CRF for the streams `enabledFor` says (switchable per stream); none where the model has no scores. */
  readonly crf: {
    readonly params: CrfParams;
    readonly enabledFor: (streamId: string) => boolean;
    readonly warmStart?: { readonly iterations: number; readonly sceneCut: number };
    readonly workers?: number;
  };
  readonly sink: SegmentationSink;
  /** The model inputs of a stream's frames where it has its own windows (`tiles` per stream). */
  readonly inputsOf?: (streamId: string) => RunPlan['preprocess']['inputsFor'] | undefined;
  /** The classes a stream shows where it has its own list (class indices, background among them). */
  readonly shownClassesOf?: (streamId: string) => readonly number[] | undefined;
  /** Tiled streams run only the windows whose picture changed, within these bounds (`--tile-max-age`, `--tile-budget`). */
  readonly windowRefresh?: WindowRefreshOptions;
  readonly onPublished: (segmentation: Segmentation) => void;
  readonly onDropped: (streamId: string, place: DropPlace, count: number) => void;
  readonly log: (line: string) => void;
}

export interface LivePipeline {
  readonly provider: string;
  readonly fallbackReason: string | undefined;
  /** Rejects if the pipeline fails (no workers left); resolves when every stream has ended. */
  readonly finished: Promise<void>;
  close(): Promise<void>;
}

/**
 * The live CRF's resolution when not given: half for a two-label model (it keeps a camera's rate at
 * half), a quarter above — the CRF's cost grows with the labels in play.
 */
export function liveCrfScale(classes: number): number {
  return classes <= 2 ? 0.5 : 0.25;
}

/** Starts the workers, then the streams. */
export async function startLivePipeline(streams: LiveStreamSet, o: LivePipelineOptions): Promise<LivePipeline> {
  const { plan, batchSize, log } = o;
  const { descriptor, crfAvailable } = plan;
  // A worker that stops is replaced: the frames it held are dropped (counted), the streams go on.
  const pool = await InferencePool.forModel(
    descriptor,
    { workers: o.workers, modelPath: plan.modelPath, device: o.device, threads: o.threadsPerWorker },
    { onWorkerLost: (reason) => log(`an inference worker stopped (${reason}); starting a new one`) },
  );
  const crfRunner = crfAvailable
    ? CrfRunner.start(o.crf.workers, undefined, (reason) =>
        log(`a CRF worker stopped (${reason}); starting a new one, its streams start cold`),
      )
    : null;
  // One worker gets one batch waiting (or it would idle while the next is prepared); with two or
  // more, one batch each: a worker's idle moment is covered by the others, and a waiting frame
  // only ages (the latency grows, the frame rate does not).
  const credits = new FrameCredits(batchSize * (pool.workerCount > 1 ? pool.workerCount : 2));
  /** The same trouble of a stream is told once, not once per frame. */
  const told = new Set<string>();
  const logOnce = (line: string) => {
    if (told.has(line)) return;
    told.add(line);
    log(line);
  };
  const windowRefresh = o.windowRefresh
    ? new WindowRefresh({
        workers: pool.workerCount,
        // A stream that keeps every frame (a file without --realtime) is shown as `segment` makes it.
        appliesTo: (id) => streams.get(id)?.input.latestWins !== false,
        ...o.windowRefresh,
      })
    : undefined;
  if (windowRefresh) streams.on('removed', (id) => windowRefresh.forget(id));
  const run$ = pullLiveStreams(streams, credits).pipe(
    segmentFrames(plan, pool, {
      ...(windowRefresh ? { windowRefresh } : {}),
      batchWaitMs: o.batchWaitMs,
      withProbabilities: (batch) => crfAvailable && batch.some((p) => o.crf.enabledFor(p.frame.streamId)),
      ...(o.shownClassesOf ? { shownClassesOf: o.shownClassesOf } : {}),
      ...(o.inputsOf ? { inputsOf: o.inputsOf } : {}),
      onBatchError: (error, batch) => {
        if (pool.failed) throw pool.failed; // no workers left: the run cannot go on
        for (const { frame } of batch) {
          o.onDropped(frame.streamId, 'error', 1);
          credits.release();
        }
        log(
          `dropped ${batch.length} frame${batch.length === 1 ? '' : 's'}: ${error instanceof Error ? error.message : String(error)}`,
        );
      },
      order: {
        kind: 'latest',
        onStale: (stale) => {
          o.onDropped(stale.frame.streamId, 'stale', 1);
          credits.release();
        },
      },
      ...(crfRunner
        ? {
            crf: {
              backend: crfRunner,
              options: {
                params: o.crf.params,
                classes: descriptor.classes,
                enabledFor: o.crf.enabledFor,
                ...(o.crf.warmStart ? { warmStart: o.crf.warmStart } : {}),
                onError: (error: unknown, { frame }: Segmentation) =>
                  logOnce(
                    `stream ${frame.streamId}: frames shown without the CRF (${error instanceof Error ? error.message : String(error)})`,
                  ),
              },
            },
          }
        : {}),
    }),
    writeToSinks([o.sink]),
    tap((segmentation) => {
      credits.release();
      o.onPublished(segmentation);
    }),
  );
  const ending: { resolve?: () => void; reject?: (error: unknown) => void } = {};
  const finished = new Promise<void>((resolve, reject) => Object.assign(ending, { resolve, reject }));
  const subscription = run$.subscribe({
    error: (error: unknown) => ending.reject!(error),
    complete: () => ending.resolve!(),
  });
  streams.start();
  return {
    provider: pool.provider,
    fallbackReason: pool.fallbackReason,
    finished,
    close: async () => {
      subscription.unsubscribe();
      streams.close();
      await pool.close();
      await crfRunner?.close();
    },
  };
}
