/** `import`: a TFLite segmentation model converted to ONNX. */
import type { Command } from 'commander';
import { reportFailure, type SetExitCode } from '../failure.js';

export function registerImport(program: Command, setExitCode: SetExitCode): void {
  program
    .command('import')
    .description('convert a TFLite segmentation model to ONNX (float, float16, and quantized uint8/int8 run in int8)')
    .argument('<model.tflite>', 'TFLite flatbuffer')
    .requiredOption('-o, --output <model.onnx>', 'where to write the ONNX model')
    .option(
      '--tflite-arithmetic',
      "TFLite's own arithmetic: quantized operators bit for bit, float sums in its kernels' order — labels as TFLite's interpreter gives them, 6–20× slower (for checking)",
    )
    .option('--json', 'print a JSON summary on stdout')
    .action(async (input: string, flags: { output: string; json?: boolean; tfliteArithmetic?: boolean }) => {
      try {
        const { importModelFile } = await import('../../pipeline/importModel.js');
        const summary = importModelFile(input, flags.output, { tfliteArithmetic: flags.tfliteArithmetic === true });
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stderr.write(`${input} → ${flags.output} (${summary.operators} operators, ${summary.ms} ms)\n`);
      } catch (error) {
        setExitCode(reportFailure(error, false));
      }
    });
}
