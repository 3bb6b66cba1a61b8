/** `crf-tune`: search the CRF kernels that suit a model on labelled images; the best into its sidecar. */
import os from 'node:os';
import type { Command } from 'commander';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import type { ModelOverrides } from '../../model/modelOverrides.js';
import { CLASS_SET_NAMES } from '../../model/palette.js';
import type { Device } from '../../model/device.js';
import type { TileGrid } from '../../model/tiles.js';
import type { CrfTuneSummary } from '../../pipeline/crfTuning.js';
import type { Progress } from '../progress.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import {
  classesFlag,
  deviceOption,
  modelOverridesFrom,
  normalizeFlag,
  positiveInt,
  planFlags,
  tileOverlap,
  tilesFlag,
} from '../flags.js';
import { resolveModelFlag } from '../modelFlag.js';

interface CrfTuneFlags {
  images: string;
  labels: string;
  model?: string;
  device: Device;
  threads: number;
  crfIters: number;
  normalize?: ModelOverrides['normalize'];
  classes?: ModelOverrides['classes'];
  tiles?: TileGrid;
  tileOverlap?: number;
  write: boolean;
  json?: boolean;
}

const pct = (v: number) => `${(v * 100).toFixed(2)}`;

function printTable(summary: CrfTuneSummary): void {
  const rows = [...summary.tried].sort((a, b) => b.mIoU - a.mIoU);
  const line = (r: CrfTuneSummary['tried'][number]) =>
    `${String(r.kernels.bilateral.weight).padStart(4)} ${String(r.kernels.bilateral.xy).padStart(6)} ${String(r.kernels.bilateral.rgb).padStart(5)}  ${pct(r.mIoU).padStart(6)}  ${r.stage}`;
  const shown = rows.slice(0, 12);
  process.stdout.write(
    `  w1     σα    σβ   mIoU %  stage   (w2 3, σγ 3; ${rows.length} sets tried, best first${rows.length > shown.length ? `, ${shown.length} shown; --json lists all` : ''})\n`,
  );
  process.stdout.write(`${shown.map(line).join('\n')}\n\n`);
  const { bilateral: b, gaussian: g } = summary.best.kernels;
  process.stdout.write(
    `best: w1 ${b.weight} σα ${b.xy} σβ ${b.rgb}, w2 ${g.weight} σγ ${g.xy}: mIoU ${pct(summary.best.mIoU)} % (no CRF ${pct(summary.baseline)} %, DeepLab's VOC kernels ${pct(summary.vocKernels)} %; ${summary.images} images, ${summary.seconds} s)\n`,
  );
  process.stdout.write(
    summary.sidecar
      ? `written to ${summary.sidecar} (key crf): segment, serve and eval use it with --crf on\n`
      : 'not written (--no-write)\n',
  );
}

export function registerCrfTune(program: Command, setExitCode: SetExitCode): void {
  program
    .command('crf-tune')
    .description(
      "search the dense CRF's kernels (w1, σα, σβ; coarse to fine, as the DeepLab paper) for a model on labelled images, and write the best into its sidecar",
    )
    .requiredOption('--images <dir>', 'images (png, jpg, ...)')
    .requiredOption(
      '--labels <dir>',
      'label maps with the same base names, .png (palette or greyscale; pixel = class, 255 ignored)',
    )
    .option('--model <name|path>', 'a catalogue model by name or an ONNX file (default: the embedded default model)')
    .addOption(deviceOption())
    .option(
      '--threads <n>',
      'intra-op threads of the model',
      positiveInt('--threads'),
      Math.max(1, os.availableParallelism()),
    )
    .option('--crf-iters <n>', 'mean-field iterations', positiveInt('--crf-iters'), DEEPLAB_VOC_PARAMS.iterations)
    .option('--normalize <how>', 'input normalisation (default: from the graph)', normalizeFlag)
    .option('--classes <set>', `class names: ${CLASS_SET_NAMES.join(' | ')} | names.txt`, classesFlag)
    .option('--tiles <grid>', 'sliding-window inference, as the model will run: auto or COLSxROWS', tilesFlag)
    .option('--tile-overlap <f>', 'share of a window its neighbours overlap (default: 0.25)', tileOverlap)
    .option('--no-write', 'only report; leave the sidecar alone')
    .option('--json', 'print the result (every set tried) as one JSON object')
    .action(async (flags: CrfTuneFlags) => {
      const controller = new AbortController();
      const onSignal = () => (controller.signal.aborted ? process.exit(130) : controller.abort());
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const tty = Boolean(process.stderr.isTTY) && !flags.json;
      const [{ crfTune }, { createProgress }] = await Promise.all([
        import('../../pipeline/crfTuning.js'),
        import('../progress.js'),
      ]);
      let progress: Progress = createProgress(tty, 'infer', 'images');
      try {
        const modelPath = await resolveModelFlag(flags.model, flags.json);
        const summary = await crfTune({
          imagesDir: flags.images,
          labelsDir: flags.labels,
          modelPath,
          modelOverrides: modelOverridesFrom(flags),
          device: flags.device,
          threads: flags.threads,
          iterations: flags.crfIters,
          ...planFlags(flags),
          write: flags.write,
          signal: controller.signal,
          onNote: (message) => process.stderr.write(`note: ${message}\n`),
          onImage: (done, total) => {
            if (done === 1) progress.start(total);
            progress.update(done);
          },
          onTrial: (_trial, done, total) => {
            if (done === 1) {
              progress.stop();
              progress = createProgress(tty, 'crf-tune', 'parameter sets');
              progress.start(total);
            }
            progress.update(done);
          },
        });
        progress.stop();
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else printTable(summary);
      } catch (error) {
        progress.stop();
        setExitCode(reportFailure(error, false));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
