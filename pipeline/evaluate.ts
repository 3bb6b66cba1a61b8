/**
 * `deeplab-stream eval`: mean intersection-over-union of a model on a labelled image set, with the
 * PASCAL VOC protocol: one confusion matrix over all pixels of all images, label 255 ignored,
 * IoU = TP / (TP + FP + FN) per class, mIoU the mean over classes that occur in the ground truth
 * or the predictions.
 *
 *   images/NAME.{png,jpg}  +  labels/NAME.png  →  { mIoU, perClass: [{ name, iou, pixels }], images }
 */
import { classMapToVoc } from '../model/classMaps.js';
import { VOC_CLASSES } from '../model/palette.js';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { concatMap, lastValueFrom } from 'rxjs';
import { InputError } from '../core/errors.js';
import type { Frame } from '../core/frames.js';
import { type CrfSettings, crfParamsFor } from '../crf/crfParams.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { InferencePool } from '../model/inferencePool.js';
import type { Device } from '../model/device.js';
import { FrameCredits } from '../sources/frameCredits.js';
import { readLabelPng } from '../io/labelImage.js';
import { type PlanOptions, planFields, planRun, type RunPlan } from './runPlan.js';
import { segmentFrames } from './segmentFrames.js';
import { pullFrames } from '../sources/pullFrames.js';
import { StillImageSource } from '../sources/stillImages.js';

export const IGNORE_LABEL = 255;

/** A model over a labelled image set: what `eval` and `crf-tune` share. */
export interface LabelledRunOptions extends Omit<PlanOptions, 'scales' | 'flip' | 'inputSize'> {
  readonly imagesDir: string;
  readonly labelsDir: string;
  readonly device: Device;
  readonly threads: number;
}

export interface EvalOptions extends LabelledRunOptions {
  readonly inputSize?: readonly [number, number];
  /** Also score the labels after the dense CRF with these parameters. */
  readonly crf?: CrfSettings;
  /** Scores the model's labels as VOC's through this map (model class name → VOC class name; the rest background). */
  readonly classMap?: Record<string, string>;
  readonly onImage?: (done: number, total: number) => void;
  /** One line each: what was worked out rather than read (a class axis measured by one run). */
  readonly onNote?: (message: string) => void;
}

export interface ClassScore {
  readonly name: string;
  /** null when the class occurs in neither the ground truth nor the predictions. */
  readonly iou: number | null;
  /** Ground-truth pixels of this class. */
  readonly pixels: number;
}

export interface Scores {
  readonly mIoU: number;
  readonly pixelAccuracy: number;
  readonly perClass: readonly ClassScore[];
}

export interface EvalSummary extends Scores {
  readonly images: number;
  /** The same after the dense CRF, with `--crf on`. */
  readonly crf?: Scores;
}

/** Accumulates a C×C confusion matrix (rows: ground truth, columns: prediction). */
export class ConfusionMatrix {
  readonly counts: Float64Array;
  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * classes);
  }

  add(truth: Uint8Array, predicted: Uint8Array): void {
    const c = this.classes;
    for (let p = 0; p < truth.length; p++) {
      const t = truth[p]!;
      if (t === IGNORE_LABEL || t >= c) continue; // ignored, or a label the model cannot predict
      this.counts[t * c + predicted[p]!]! += 1;
    }
  }

  scores(names: readonly string[]): Scores {
    const c = this.classes;
    let correct = 0;
    let total = 0;
    const perClass = names.map((name, k) => {
      let row = 0;
      let column = 0;
      for (let j = 0; j < c; j++) {
        row += this.counts[k * c + j]!;
        column += this.counts[j * c + k]!;
      }
      const tp = this.counts[k * c + k]!;
      correct += tp;
      total += row;
      const union = row + column - tp;
      return { name, iou: union > 0 ? tp / union : null, pixels: row };
    });
    const present = perClass.filter((s) => s.iou !== null);
    const mIoU = present.reduce((sum, s) => sum + s.iou!, 0) / Math.max(present.length, 1);
    return { mIoU, pixelAccuracy: total > 0 ? correct / total : 0, perClass };
  }
}

const IMAGE = /\.(png|jpe?g|bmp|webp|ppm)$/i;

export interface LabelledImage {
  readonly image: string;
  readonly label: string;
}

/** One labelled image after the model: the picture, its ground truth, the model's labels (and probabilities when asked). */
export interface InferredImage {
  readonly frame: Frame;
  readonly truth: Uint8Array;
  readonly labels: Uint8Array;
  readonly probabilities?: Float32Array;
}

/**
 * The model over every labelled image once, in order, through the same chain as a video; each
 * result is handed to `onImage` (awaited) and the next image is pulled only then, a few in flight.
 * A label map whose size differs from its image is an input error.
 */
export async function inferLabelledImages(
  plan: RunPlan,
  pool: InferencePool,
  items: readonly LabelledImage[],
  withProbabilities: boolean,
  onImage: (result: InferredImage, index: number) => Promise<void>,
): Promise<void> {
  const credits = new FrameCredits(pool.size + 1);
  const scored$ = pullFrames(new StillImageSource(items.map((i) => i.image)), credits).pipe(
    segmentFrames(plan, pool, { batchWaitMs: 0, order: { kind: 'lossless' }, withProbabilities }),
    concatMap(async ({ frame, labels, probabilities }) => {
      const item = items[frame.index]!;
      const truth = readLabelPng(item.label);
      if (truth.width !== frame.width || truth.height !== frame.height) {
        throw new InputError(
          `${item.label} is ${truth.width}x${truth.height} but ${item.image} is ${frame.width}x${frame.height}`,
        );
      }
      await onImage({ frame, truth: truth.labels, labels, ...(probabilities ? { probabilities } : {}) }, frame.index);
      credits.release();
    }),
  );
  await lastValueFrom(scored$, { defaultValue: undefined });
}

/** The images of a labelled set with their label maps (same base name, .png); every one checked to exist. */
export function labelledImages(imagesDir: string, labelsDir: string): LabelledImage[] {
  for (const [flag, dir] of [
    ['--images', imagesDir],
    ['--labels', labelsDir],
  ] as const) {
    if (!existsSync(dir)) throw new InputError(`${flag} ${dir} does not exist`);
  }
  const found = readdirSync(imagesDir)
    .filter((f) => IMAGE.test(f))
    .sort()
    .map((f) => ({ image: path.join(imagesDir, f), label: path.join(labelsDir, `${f.replace(/\.[^.]+$/, '')}.png`) }));
  if (found.length === 0) throw new InputError(`--images ${imagesDir} holds no images (png, jpg, bmp, webp, ppm)`);
  const missing = found.find((p) => !existsSync(p.label));
  if (missing) throw new InputError(`no label map for ${missing.image}: expected ${missing.label}`);
  return found;
}

export async function evaluate(options: EvalOptions): Promise<EvalSummary> {
  const items = labelledImages(options.imagesDir, options.labelsDir);
  // Every check of flags against the model before the workers start; from here every path closes them.
  const plan = await planRun({ ...planFields(options), crf: Boolean(options.crf) });
  const d = plan.descriptor;
  for (const note of plan.notes) options.onNote?.(note);
  const crfChoice = options.crf ? crfParamsFor(options.crf, d.crf) : null;
  if (crfChoice) options.onNote?.(crfChoice.description);
  const crfParams = crfChoice?.params;
  // Through a class map the truth is VOC's and the model's labels are mapped onto it.
  const toVoc = options.classMap ? classMapToVoc(options.classMap, d.classNames) : null;
  const names: readonly string[] = toVoc ? VOC_CLASSES : d.classNames;
  const mapped = (labels: Uint8Array) => (toVoc ? labels.map((l) => toVoc[l]!) : labels);
  const confusion = new ConfusionMatrix(names.length);
  const crfConfusion = options.crf ? new ConfusionMatrix(names.length) : null;
  const pool = await InferencePool.forModel(d, {
    workers: 1,
    threads: options.threads,
    modelPath: options.modelPath,
    device: options.device,
  });
  const crf = options.crf ? CrfRunner.start() : null;
  try {
    await inferLabelledImages(
      plan,
      pool,
      items,
      Boolean(crf),
      async ({ frame, truth, labels, probabilities }, index) => {
        confusion.add(truth, mapped(labels));
        if (crf && crfConfusion && probabilities) {
          const refined = await crf.run({
            image: frame.rgb,
            width: frame.width,
            height: frame.height,
            probabilities,
            classes: d.classes,
            params: crfParams!,
          });
          crfConfusion.add(truth, mapped(refined.labels));
        }
        options.onImage?.(index + 1, items.length);
      },
    );
  } finally {
    await pool.close();
    await crf?.close();
  }
  return {
    images: items.length,
    ...confusion.scores(names),
    ...(crfConfusion ? { crf: crfConfusion.scores(names) } : {}),
  };
}
