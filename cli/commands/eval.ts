/** `eval`: the mean IoU of a model on labelled images (VOC protocol), with and without the CRF. */
import os from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import { parseClassMap } from '../../model/classMaps.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import type { ModelOverrides } from '../../model/modelOverrides.js';
import type { Device } from '../../model/device.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import { resolveModelFlag } from '../modelFlag.js';
import type { TileGrid } from '../../model/tiles.js';
import {
  planFlags,
  type CrfFlags,
  crfKernelOptions,
  crfParams,
  crfSwitch,
  modelOptions,
  modelOverridesFrom,
  positiveInt,
  scaleFraction,
} from '../flags.js';

/** A class map, or commander's one-line error. */
function classMapFlag(value: string): Record<string, string> {
  try {
    return parseClassMap(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^--class-map takes /, 'takes '));
  }
}

export function registerEval(program: Command, setExitCode: SetExitCode): void {
  const command = program
    .command('eval')
    .description('mean IoU of a model on labelled images (PASCAL VOC protocol: label 255 ignored)')
    .requiredOption('--images <dir>', 'images (png, jpg, ...)')
    .requiredOption(
      '--labels <dir>',
      'label maps with the same base names, .png (palette or greyscale; pixel = class)',
    );
  modelOptions(command)
    .option('--threads <n>', 'intra-op threads', positiveInt('--threads'), Math.max(1, os.availableParallelism()))
    .optionsGroup('CRF:')
    .addOption(
      crfSwitch("also score the labels after the dense CRF (the model's tuned kernels, else DeepLab's VOC set)"),
    )
    .option('--crf-iters <n>', 'CRF mean-field iterations', positiveInt('--crf-iters'), DEEPLAB_VOC_PARAMS.iterations)
    .option(
      '--crf-scale <s>',
      'run the CRF at this fraction of the resolution, Q upsampled',
      scaleFraction('--crf-scale'),
      1,
    );
  crfKernelOptions(command)
    .optionsGroup('Options:')
    .option(
      '--class-map <map>',
      'score a model of another label set on VOC labels: cityscapes, ade20k (built-in maps to VOC) or pairs such as person=person,rider=person; its other classes count as background',
      classMapFlag,
    )
    .option('--json', 'print the result as one JSON object')
    .action(
      async (
        flags: CrfFlags & {
          classMap?: Record<string, string>;
          images: string;
          labels: string;
          model?: string;
          tfliteArithmetic?: boolean;
          device: Device;
          threads: number;
          inputSize?: [number, number];
          tiles?: TileGrid;
          tileOverlap?: number;
          classesShown?: string[];
          normalize?: ModelOverrides['normalize'];
          classes?: ModelOverrides['classes'];
          crf: boolean;
          json?: boolean;
        },
      ) => {
        const [{ evaluate }, { createProgress }] = await Promise.all([
          import('../../pipeline/evaluate.js'),
          import('../progress.js'),
        ]);
        const progress = createProgress(Boolean(process.stderr.isTTY) && !flags.json, 'eval', 'images');
        try {
          const summary = await evaluate({
            onImage: (done, total) => {
              if (done === 1) progress.start(total);
              progress.update(done);
            },
            onNote: (message) => process.stderr.write(`note: ${message}\n`),
            imagesDir: flags.images,
            labelsDir: flags.labels,
            modelPath: await resolveModelFlag(flags.model, flags.json, flags.tfliteArithmetic),
            device: flags.device,
            threads: flags.threads,
            ...(flags.inputSize ? { inputSize: flags.inputSize } : {}),
            ...planFlags(flags),
            modelOverrides: modelOverridesFrom(flags),
            ...(flags.crf ? { crf: crfParams(flags) } : {}),
            ...(flags.classMap ? { classMap: flags.classMap } : {}),
          });
          progress.stop();
          if (flags.json) {
            process.stdout.write(`${JSON.stringify(summary)}\n`);
            return;
          }
          const pct = (v: number | null) => (v === null ? '     -' : `${(v * 100).toFixed(2).padStart(6)}`);
          const crf = summary.crf;
          const rows = summary.perClass.map(
            (c, i) =>
              `${c.name.padEnd(16)} ${pct(c.iou)}${crf ? `  ${pct(crf.perClass[i]!.iou)}` : ''}  ${String(c.pixels).padStart(10)}`,
          );
          const tail = crf ? `\nwith CRF: mIoU ${pct(crf.mIoU)} %  pixel accuracy ${pct(crf.pixelAccuracy)} %\n` : '';
          process.stdout.write(
            `class            IoU %${crf ? '  +CRF %' : ''}  GT pixels\n${rows.join('\n')}\n\nmIoU ${pct(summary.mIoU)} %  pixel accuracy ${pct(summary.pixelAccuracy)} %  (${summary.images} images)\n${tail}`,
          );
        } catch (error) {
          progress.stop();
          setExitCode(reportFailure(error, false));
        }
      },
    );
}
