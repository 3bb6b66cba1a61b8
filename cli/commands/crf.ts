/** `crf`: the dense CRF on saved probabilities (.npy) and an image, from Python or the shell. */
import os from 'node:os';
import type { Command } from 'commander';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { WARM_START_ITERATIONS } from '../../crf/crfProtocol.js';
import { UsageError } from '../../core/errors.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import { nonNegative, positiveInt, scaleFraction, sigma } from '../flags.js';

export function registerCrf(program: Command, setExitCode: SetExitCode): void {
  program
    .command('crf')
    .description(
      'refine probabilities with the fully connected CRF (DeepLab VOC defaults: 10 iterations, w1 4, σα 121, σβ 5, w2 3, σγ 3)',
    )
    .option('--image <img>', 'PNG or binary PPM (a printf pattern with --frames)')
    .option('--probs <p.npy>', 'float32 probabilities H×W×C in C order (C×H×W with --chw)')
    .option('--out <labels.png>', '8-bit greyscale label map to write')
    .option(
      '--stdin',
      'serve requests instead: one JSON object per line on stdin ({"image", "probs", "out", "q_out"?, "chw"?}), one JSON answer per line on stdout; the threads stay warm between images',
    )
    .option('--q-out <q.npy>', 'also write the marginals Q (float32 H×W×C)')
    .option('--chw', 'the .npy is C×H×W')
    .option('--iters <n>', 'mean-field iterations', positiveInt('--iters'), DEEPLAB_VOC_PARAMS.iterations)
    .option('--pos-w <w>', 'smoothness kernel weight w2', nonNegative('--pos-w'), DEEPLAB_VOC_PARAMS.gaussian.weight)
    .option('--pos-xy <σ>', 'smoothness kernel σγ (pixels)', sigma('--pos-xy'), DEEPLAB_VOC_PARAMS.gaussian.xy)
    .option('--bi-w <w>', 'appearance kernel weight w1', nonNegative('--bi-w'), DEEPLAB_VOC_PARAMS.bilateral.weight)
    .option('--bi-xy <σ>', 'appearance kernel σα (pixels)', sigma('--bi-xy'), DEEPLAB_VOC_PARAMS.bilateral.xy)
    .option('--bi-rgb <σ>', 'appearance kernel σβ (colour, 0–255)', sigma('--bi-rgb'), DEEPLAB_VOC_PARAMS.bilateral.rgb)
    .option('--scale <s>', 'run at this fraction of the resolution, Q upsampled', scaleFraction('--scale'), 1)
    .option('--frames <n>', 'frames in a sequence (paths are printf patterns, from 0)', positiveInt('--frames'))
    .option('--warm-start', 'in a sequence, start each frame from the previous Q blended with its unary')
    .option(
      '--warm-iters <n>',
      'iterations of a warm-started frame',
      positiveInt('--warm-iters'),
      WARM_START_ITERATIONS,
    )
    .option(
      '--threads <n>',
      'cores for each frame (2: a helper thread runs half of every step; frames under 65k pixels use one)',
      positiveInt('--threads'),
      Math.min(2, os.availableParallelism()),
    )
    .option('--json', 'print { "ms_setup", "ms_inference", "ms_total" } on stdout')
    .action(
      async (flags: {
        image?: string;
        probs?: string;
        out?: string;
        stdin?: boolean;
        qOut?: string;
        chw?: boolean;
        iters: number;
        posW: number;
        posXy: number;
        biW: number;
        biXy: number;
        biRgb: number;
        scale: number;
        frames?: number;
        warmStart?: boolean;
        warmIters: number;
        threads: number;
        json?: boolean;
      }) => {
        try {
          const params = {
            ...DEEPLAB_VOC_PARAMS,
            iterations: flags.iters,
            scale: flags.scale,
            gaussian: { weight: flags.posW, xy: flags.posXy },
            bilateral: { weight: flags.biW, xy: flags.biXy, rgb: flags.biRgb },
          };
          if (flags.stdin) {
            if (flags.image || flags.probs || flags.out || flags.qOut || flags.frames || flags.warmStart)
              throw new UsageError(
                '--stdin takes the images from its requests: leave out --image, --probs, --out, --q-out, --frames and --warm-start',
              );
            const { requestLines, runCrfService } = await import('../../pipeline/crfService.js');
            const { failed } = await runCrfService({
              params,
              threads: flags.threads,
              requests: requestLines(process.stdin),
              reply: (answer) => process.stdout.write(`${JSON.stringify(answer)}\n`),
            });
            if (failed > 0) setExitCode(2);
            return;
          }
          if (!flags.image || !flags.probs || !flags.out)
            throw new UsageError(
              'crf needs --image, --probs and --out (or --stdin, to take them one request per line)',
            );
          const { runCrfCommand } = await import('../../pipeline/crfOnImages.js');
          const summary = await runCrfCommand({
            image: flags.image,
            probs: flags.probs,
            out: flags.out,
            ...(flags.qOut ? { qOut: flags.qOut } : {}),
            chw: Boolean(flags.chw),
            params,
            ...(flags.frames ? { frames: flags.frames } : {}),
            warmStart: Boolean(flags.warmStart),
            warmIterations: flags.warmIters,
            threads: flags.threads,
          });
          if (flags.json)
            process.stdout.write(
              `${JSON.stringify({ ms_setup: summary.ms_setup, ms_inference: summary.ms_inference, ms_total: summary.ms_total, frames: summary.frames })}\n`,
            );
          else
            process.stderr.write(
              `${summary.frames} frame(s): setup ${summary.ms_setup} ms, inference ${summary.ms_inference} ms, total ${summary.ms_total} ms → ${flags.out}\n`,
            );
        } catch (error) {
          setExitCode(reportFailure(error, false));
        }
      },
    );
}
