/**
 * How many classes a model's output has when its graph leaves that axis symbolic (torchvision's
 * DeepLab exports with dynamic sizes declare `['batch', 'Resizeout_dim_1', 'height', 'width']`):
 * one run on a small blank input, on the CPU, at load — before any worker starts — reads it off the
 * output tensor.
 *
 *   probeClassAxis(bytes, error.probe) → { classes: 21, input: [65, 65] }
 */
import * as ort from 'onnxruntime-node';
import { ModelError } from '../core/errors.js';
import type { UnknownClassAxisError } from './descriptor.js';

/** A small input every DeepLab-style model accepts (output stride 8 or 16 divides 64). */
const PROBE_SIZE = 65;

export async function probeClassAxis(
  model: Uint8Array,
  probe: UnknownClassAxisError['probe'],
  label: string,
): Promise<{ classes: number; input: readonly [number, number] }> {
  const width = probe.inputWidth ?? PROBE_SIZE;
  const height = probe.inputHeight ?? PROBE_SIZE;
  const dims = probe.inputLayout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  const count = 3 * width * height;
  ort.env.logLevel = 'fatal';
  let session: ort.InferenceSession | null = null;
  try {
    session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const tensor =
      probe.inputType === 'uint8'
        ? new ort.Tensor('uint8', new Uint8Array(count), dims)
        : new ort.Tensor('float32', new Float32Array(count), dims);
    const output = (await session.run({ [probe.inputName]: tensor }))[probe.outputName];
    const outDims = output?.dims.map(Number) ?? [];
    const classes = outDims.length === 4 ? (probe.inputLayout === 'NCHW' ? outDims[1] : outDims[3]) : undefined;
    if (!classes) throw new Error(`its output had shape [${outDims.join(', ')}]`);
    return { classes, input: [width, height] };
  } catch (error) {
    throw new ModelError(
      `${label}: the graph leaves the class axis of "${probe.outputName}" open, and one run on a ${width}x${height} input could not tell it (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
    );
  } finally {
    await session?.release();
  }
}
