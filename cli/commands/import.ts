/** `import`: a TFLite segmentation model converted to ONNX. */
import type { Command } from 'commander';
import { reportFailure, type SetExitCode } from '../failure.js';

export function registerImport(program: Command, setExitCode: SetExitCode): void {
  program
    .command('import')
    .description('convert a TFLite segmentation model to ONNX (float32 and float16 weights)')
    .argument('<model.tflite>', 'TFLite flatbuffer')
    .requiredOption('-o, --output <model.onnx>', 'where to write the ONNX model')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (input: string, flags: { output: string; json?: boolean }) => {
      try {
        const { importModelFile } = await import('../../pipeline/importModel.js');
        const summary = importModelFile(input, flags.output);
        if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
        else process.stderr.write(`${input} → ${flags.output} (${summary.operators} operators, ${summary.ms} ms)\n`);
      } catch (error) {
        setExitCode(reportFailure(error, false));
      }
    });
}
