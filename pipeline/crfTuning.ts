/**
 * `deeplab-stream crf-tune`: the CRF kernels that suit a model, searched on labelled images as the
 * DeepLab paper did. The model runs once per image (its probabilities kept); then every parameter
 * set of the search (`crf/tuneSearch.ts`) runs the CRF over all images — on every core, one
 * CRF worker each — and is scored by mIoU (VOC protocol). The best goes into the model's sidecar
 * (`M.json`, key `crf`, the rest kept) unless `write` is false; an interrupted search writes nothing.
 *
 *   images/ + labels/ + model → { best: { kernels, mIoU }, baseline mIoU, VOC set's mIoU, tried: [...] }
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { CancelledError, ModelError } from '../core/errors.js';
import type { Frame } from '../core/frames.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { type CrfKernels, type CrfParams, DEEPLAB_VOC_PARAMS } from '../crf/crfParams.js';
import { type KernelTrial, searchKernels } from '../crf/tuneSearch.js';
import { InferencePool } from '../model/inferencePool.js';
import { parseOverrides } from '../model/modelOverrides.js';
import { ConfusionMatrix, inferLabelledImages, labelledImages, type LabelledRunOptions } from './evaluate.js';
import { planFields, planRun } from './runPlan.js';
import { writeFileAtomically } from '../io/partialFile.js';

/** `tiles`: tune as the model will be run. */
export interface CrfTuneOptions extends LabelledRunOptions {
  readonly iterations: number;
  /** Write the best kernels into the model's sidecar (default true). */
  readonly write?: boolean;
  readonly signal?: AbortSignal;
  readonly onImage?: (done: number, total: number) => void;
  readonly onTrial?: (trial: KernelTrial & { readonly mIoU: number }, done: number, total: number) => void;
  readonly onNote?: (message: string) => void;
}

export interface CrfTuneSummary {
  readonly images: number;
  /** mIoU without the CRF, and with DeepLab's VOC kernels. */
  readonly baseline: number;
  readonly vocKernels: number;
  readonly best: { readonly kernels: CrfKernels; readonly mIoU: number };
  readonly tried: readonly {
    readonly kernels: CrfKernels;
    readonly mIoU: number;
    readonly stage: KernelTrial['stage'];
  }[];
  /** Where the best kernels were written, or null. */
  readonly sidecar: string | null;
  readonly seconds: number;
}

interface Kept {
  readonly frame: Frame;
  readonly truth: Uint8Array;
  readonly probabilities: Float32Array;
}

/** `model.json` with `crf` set to the kernels, everything else in it kept (and still valid). */
export function writeSidecarKernels(modelPath: string, kernels: CrfKernels): string {
  const file = `${modelPath}.json`;
  let current: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ModelError(
        `${file} is not valid JSON (${(error as Error).message}): fix or remove it, or pass --no-write`,
      );
    }
  }
  const next = { ...current, crf: kernels };
  parseOverrides(next, file); // refuses to write a sidecar the next run could not read
  writeFileAtomically(file, Buffer.from(`${JSON.stringify(next, null, 2)}\n`), 'the model sidecar');
  return file;
}

export async function crfTune(options: CrfTuneOptions): Promise<CrfTuneSummary> {
  const started = performance.now();
  const items = labelledImages(options.imagesDir, options.labelsDir);
  const plan = await planRun({ ...planFields(options), crf: true });
  const d = plan.descriptor;
  for (const note of plan.notes) options.onNote?.(note);
  const kept: Kept[] = [];
  const plain = new ConfusionMatrix(d.classes);
  const pool = await InferencePool.forModel(d, {
    workers: 1,
    threads: options.threads,
    modelPath: options.modelPath,
    device: options.device,
  });
  try {
    await inferLabelledImages(plan, pool, items, true, async ({ frame, truth, labels, probabilities }, index) => {
      options.signal?.throwIfAborted();
      plain.add(truth, labels);
      kept.push({ frame, truth, probabilities: probabilities! });
      options.onImage?.(index + 1, items.length);
    });
  } finally {
    await pool.close();
  }
  // One CRF worker per core, one thread each: images side by side.
  const crf = CrfRunner.start(os.availableParallelism(), 1);
  try {
    const mIoU = async (kernels: CrfKernels): Promise<number> => {
      const params: CrfParams = { ...DEEPLAB_VOC_PARAMS, ...kernels, iterations: options.iterations };
      const confusion = new ConfusionMatrix(d.classes);
      await Promise.all(
        kept.map(async ({ frame, truth, probabilities }) => {
          // The worker takes the buffer it is given: each run gets its own copy.
          const refined = await crf.run({
            image: frame.rgb,
            width: frame.width,
            height: frame.height,
            probabilities: probabilities.slice(),
            classes: d.classes,
            params,
          });
          confusion.add(truth, refined.labels);
        }),
      );
      if (options.signal?.aborted) throw new CancelledError('interrupted: nothing written');
      return confusion.scores(d.classNames).mIoU;
    };
    const vocKernels = await mIoU(DEEPLAB_VOC_PARAMS);
    const { best, tried } = await searchKernels(mIoU, {
      ...(options.signal ? { signal: options.signal } : {}),
      onTrial: (trial, done, total) => options.onTrial?.({ ...trial, mIoU: trial.score }, done, total),
    });
    const sidecar = options.write === false ? null : writeSidecarKernels(options.modelPath, best.kernels);
    return {
      images: items.length,
      baseline: plain.scores(d.classNames).mIoU,
      vocKernels,
      best: { kernels: best.kernels, mIoU: best.score },
      tried: tried.map((t) => ({ kernels: t.kernels, mIoU: t.score, stage: t.stage })),
      sidecar,
      seconds: Math.round((performance.now() - started) / 100) / 10,
    };
  } catch (error) {
    if (options.signal?.aborted) throw new CancelledError('interrupted: nothing written');
    throw error;
  } finally {
    await crf.close();
  }
}
