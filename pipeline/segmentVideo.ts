/**
 * The offline run: a video, still image or image sequence in; an overlay video, mask PNGs and
 * per-frame JSON lines out. Lossless and ordered: every decoded frame reaches every sink exactly
 * once, in order; at most `credits` frames are in memory at any time.
 *
 *   FfmpegFrameSource ─pullFrames(credits)─▶ preprocessFrames ─▶ batchFrames ─▶ inferBatches (workers)
 *     ─▶ reorderByIndex ─▶ [refineWithCrf (CRF worker)] ─▶ writeToSinks (video, masks, JSON lines) ─▶ credit returned
 */
import { type Observable, tap } from 'rxjs';
import { type CrfSettings, crfParamsFor } from '../crf/crfParams.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { InferencePool } from '../model/inferencePool.js';
import type { Device } from '../model/device.js';
import { writeToSinks } from '../operators/writeToSinks.js';
import { CancelledError, UsageError } from '../core/errors.js';
import { probeInput } from '../io/ffmpeg.js';
import { FrameCredits } from '../sources/frameCredits.js';
import { classAlphas, type OverlayStyle } from '../sinks/overlay.js';
import { RunStats, type StageName } from './runStats.js';
import { FrameStatsSink } from '../sinks/frameStatsSink.js';
import { MaskPngSink } from '../sinks/maskPngSink.js';
import { OverlayVideoSink } from '../sinks/overlayVideoSink.js';
import { finishSinks, type SegmentationSink } from '../core/sink.js';
import { type PlanOptions, planFields, planRun, type RunPlan } from './runPlan.js';
import { segmentFrames } from './segmentFrames.js';
import { pullFrames } from '../sources/pullFrames.js';
import { FfmpegFrameSource } from '../sources/ffmpegFrameSource.js';

export interface SegmentOptions extends PlanOptions {
  readonly input: string;
  readonly outputPath?: string;
  readonly masksDir?: string;
  readonly framesJsonPath?: string;
  /** Each frame's labels as COCO RLE per class in the frames JSON (`--masks-rle`). */
  readonly masksRle?: boolean;
  readonly device: Device;
  /** Frames per inference call. */
  readonly batchSize: number;
  /** How long a partial batch waits for more frames. */
  readonly batchWaitMs?: number;
  readonly workers: number;
  readonly threadsPerWorker: number;
  readonly opacity?: number;
  /** How the overlay draws classes: blended areas (default), 2-px contours, or both. */
  readonly overlayStyle?: OverlayStyle;
  /** A key of the classes in each frame in the overlay's corner (default true). */
  readonly legend?: boolean;
  /** Refine the labels with the dense CRF (on a worker thread), optionally warm-started frame to frame. */
  readonly crf?: {
    readonly params: CrfSettings;
    readonly warmStart?: { readonly iterations: number; readonly sceneCut: number };
    readonly workers?: number;
  };
  /** x264 preset of the overlay video (speed against file size). */
  readonly encoderPreset?: string;
  /** Refuse an input with any decode error (default: a few broken frames are skipped, with a warning). */
  readonly strict?: boolean;
  /**
   * Inference workers to use instead of starting them (a cluster worker's, kept from chunk to chunk):
   * given the run's plan, they are made by `poolFor` once and not closed by the run.
   */
  readonly poolFor?: (plan: RunPlan) => Promise<InferencePool>;
  readonly signal?: AbortSignal;
  /** One line each: what the run tolerated (a slightly damaged input). */
  readonly onWarning?: (message: string) => void;
  /** One line each: what was worked out rather than read (a class axis measured by one run). */
  readonly onNote?: (message: string) => void;
  readonly onStart?: (info: { totalFrames: number | null; provider: string; fallbackReason?: string }) => void;
  readonly onFrame?: (framesOut: number) => void;
}

export interface SegmentSummary {
  readonly input: string;
  readonly framesIn: number;
  readonly framesOut: number;
  readonly fps: number;
  readonly wallMs: number;
  readonly provider: string;
  readonly model: {
    readonly path: string;
    readonly inputName: string;
    readonly layout: string;
    readonly inputShape: readonly number[];
    readonly classes: number;
    readonly scales: readonly number[];
    readonly flip: boolean;
  };
  readonly crf: { readonly iterations: number; readonly warmStartIterations: number | null } | null;
  readonly msPerStage: Record<StageName, number>;
  readonly outputs: { readonly video?: string; readonly masks?: string; readonly framesJson?: string };
}

/** The run's plan from its options: every check of the flags against the model. */
export function planSegmentRun(options: PlanOptions & Pick<SegmentOptions, 'batchSize' | 'crf'>): Promise<RunPlan> {
  return planRun({ ...planFields(options), batchSize: options.batchSize, crf: Boolean(options.crf) });
}

export async function segmentVideo(options: SegmentOptions): Promise<SegmentSummary> {
  const { batchSize, workers, batchWaitMs = 20, opacity = 0.55, signal } = options;
  if (!options.outputPath && !options.masksDir && !options.framesJsonPath)
    throw new UsageError('nothing to write: give -o, --masks or --frames-json');
  const info = await probeInput(options.input);
  // Every check of flags against the model before any worker starts.
  const plan = await planSegmentRun(options);
  const { descriptor, scales } = plan;
  for (const note of plan.notes) options.onNote?.(note);
  const crfChoice = options.crf ? crfParamsFor(options.crf.params, descriptor.crf) : null;
  if (crfChoice) options.onNote?.(crfChoice.description);
  const crfParams = crfChoice?.params;
  const [inputWidth, inputHeight] = plan.inputSizeFor(info.width, info.height);

  const sinks: SegmentationSink[] = [];
  let pool: InferencePool | null = null;
  const crfRunner = options.crf ? CrfRunner.start(options.crf.workers) : null;
  try {
    if (options.outputPath) {
      sinks.push(
        new OverlayVideoSink({
          outputPath: options.outputPath,
          width: info.width,
          height: info.height,
          fps: info.fps,
          frameCount: info.frameCount,
          palette: descriptor.palette,
          alphas: classAlphas(descriptor.classNames, opacity),
          style: options.overlayStyle ?? 'fill',
          ...(options.legend === false ? {} : { legend: descriptor.classNames }),
          ...(options.encoderPreset ? { preset: options.encoderPreset } : {}),
          ...(info.variableFrameRate ? { variableFrameRate: true } : {}),
        }),
      );
    }
    if (options.masksDir) sinks.push(new MaskPngSink(options.masksDir));
    if (options.framesJsonPath)
      sinks.push(new FrameStatsSink(options.framesJsonPath, descriptor.classNames, Boolean(options.masksRle)));

    pool = options.poolFor
      ? await options.poolFor(plan)
      : await InferencePool.forModel(descriptor, {
          workers,
          modelPath: options.modelPath,
          device: options.device,
          threads: options.threadsPerWorker,
        });
    if (signal?.aborted) throw new CancelledError();
    options.onStart?.({
      totalFrames: info.frameCount,
      provider: pool.provider,
      ...(pool.fallbackReason ? { fallbackReason: pool.fallbackReason } : {}),
    });

    // Enough credits for every batch slot of the pool to be full while the next batch fills.
    const credits = new FrameCredits(batchSize * (pool.size + 1) + 2);
    const source = new FfmpegFrameSource(info, 'file', {
      // Pixels are read only by the preprocessing unless an overlay is drawn or a CRF guided.
      ...(!options.outputPath && !crfRunner ? { recycleFrames: { alive: credits.limit } } : {}),
      ...(options.strict ? { strict: true } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
    const stats = new RunStats();
    const run$ = pullFrames(source, credits).pipe(
      segmentFrames(plan, pool, {
        batchWaitMs,
        order: { kind: 'lossless' },
        withProbabilities: Boolean(crfRunner),
        ...(crfRunner && options.crf
          ? {
              crf: {
                backend: crfRunner,
                options: {
                  params: crfParams!,
                  classes: descriptor.classes,
                  ...(options.crf.warmStart ? { warmStart: options.crf.warmStart } : {}),
                },
              },
            }
          : {}),
      }),
      writeToSinks(sinks),
      tap((segmentation) => {
        stats.add(segmentation.timings);
        credits.release();
        options.onFrame?.(stats.framesOut);
      }),
    );
    await runToCompletion(run$, signal);
    const framesIn = source.framesDecoded;
    if (framesIn !== stats.framesOut) throw new Error(`lost frames: decoded ${framesIn}, wrote ${stats.framesOut}`);
    await finishSinks(sinks);
    return {
      input: options.input,
      framesIn,
      framesOut: stats.framesOut,
      fps: Math.round(stats.fps * 100) / 100,
      wallMs: Math.round(stats.elapsedMs),
      provider: pool.provider,
      model: {
        path: options.modelPath,
        inputName: descriptor.inputName,
        layout: descriptor.inputLayout,
        inputShape:
          descriptor.inputLayout === 'NCHW'
            ? [batchSize, 3, inputHeight, inputWidth]
            : [batchSize, inputHeight, inputWidth, 3],
        classes: descriptor.classes,
        scales,
        flip: options.flip ?? false,
      },
      crf: crfParams
        ? { iterations: crfParams.iterations, warmStartIterations: options.crf?.warmStart?.iterations ?? null }
        : null,
      msPerStage: stats.meanMsPerStage(),
      outputs: {
        ...(options.outputPath ? { video: options.outputPath } : {}),
        ...(options.masksDir ? { masks: options.masksDir } : {}),
        ...(options.framesJsonPath ? { framesJson: options.framesJsonPath } : {}),
      },
    };
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.abort()));
    throw error;
  } finally {
    if (!options.poolFor) await pool?.close();
    await crfRunner?.close();
  }
}

/** Subscribes and resolves at completion; on abort, unsubscribes (which kills the decoder) and rejects. */
function runToCompletion(run$: Observable<unknown>, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(new CancelledError());
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      subscription.unsubscribe();
      reject(new CancelledError());
    };
    const subscription = run$.subscribe({
      error: (error: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      },
      complete: () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
