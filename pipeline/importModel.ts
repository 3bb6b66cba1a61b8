/** `deeplab-stream import`: a TFLite file in, an ONNX file out (written atomically). */
import { type ImportOptions, importTflite } from '../model/tflite/importTflite.js';
import { readTflite } from '../model/tflite/tfliteSchema.js';
import { readInputFile } from '../io/readInputFile.js';
import { writeFileAtomically } from '../io/partialFile.js';

export interface ImportSummary {
  readonly input: string;
  readonly output: string;
  readonly operators: number;
  readonly bytes: number;
  readonly ms: number;
}

export function importModelFile(input: string, output: string, options: ImportOptions = {}): ImportSummary {
  const bytes = readInputFile(input, 'model');
  const started = performance.now();
  const onnx = importTflite(bytes, input, options);
  const ms = Math.round(performance.now() - started);
  writeFileAtomically(output, onnx, 'model');
  return { input, output, operators: readTflite(bytes).subgraphs[0]?.operators.length ?? 0, bytes: onnx.length, ms };
}
