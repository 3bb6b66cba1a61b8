/**
 * A segmentation model ready to run: its descriptor (read from the graph, the sidecar and the
 * overrides), a pool of inference workers, and how to prepare frames for it — what a custom
 * pipeline needs to put `preprocessFrames` and `inferBatches` to work.
 *
 * @example
 * const model = await openModel('deeplabv3-voc'); // a catalogue name (fetched once), a file, or defaultModelPath()
 * frames$.pipe(preprocessFrames(model.preprocess), batchFrames(1, 20), inferBatches(model.pool));
 * await model.close();
 */
import type { ModelDescriptor } from '../model/descriptor.js';
import { InferencePool, type InferencePoolEvents } from '../model/inferencePool.js';
import type { ModelOverrides } from '../model/modelOverrides.js';
import { parseDevice, type Device } from '../model/device.js';
import type { PreprocessOptions } from '../operators/preprocessFrames.js';
import { type ResolveModelOptions, resolveModel } from './resolveModel.js';
import { planRun } from './runPlan.js';

export interface OpenModelOptions {
  /** `auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`. */
  readonly device?: string;
  /** Inference worker threads (default 1) and intra-op threads in each (default 1). */
  readonly workers?: number;
  readonly threads?: number;
  /** Model input [width, height] for models with a dynamic size (default: the frame's longer side at 513). */
  readonly inputSize?: readonly [number, number];
  /** What the graph cannot say: normalisation, class names. */
  readonly overrides?: ModelOverrides;
  readonly events?: InferencePoolEvents;
  /** How a catalogue model is fetched the first time (progress, mirror, cancellation). */
  readonly fetch?: ResolveModelOptions;
}

export interface SegmentationModel {
  readonly path: string;
  readonly descriptor: ModelDescriptor;
  /** What was worked out rather than read from the graph (a class axis measured by one run). */
  readonly notes: readonly string[];
  /** Where it runs: 'cpu' or 'cuda'. */
  readonly provider: string;
  readonly pool: InferencePool;
  /** The options for `preprocessFrames`: the model's layout, normalisation and input size per frame size. */
  readonly preprocess: PreprocessOptions;
  /** Stops the workers. */
  close(): Promise<void>;
}

export async function openModel(model: string, options: OpenModelOptions = {}): Promise<SegmentationModel> {
  const path = await resolveModel(model, options.fetch);
  const plan = await planRun({
    modelPath: path,
    ...(options.overrides ? { modelOverrides: options.overrides } : {}),
    ...(options.inputSize ? { inputSize: options.inputSize } : {}),
  });
  const device: Device = parseDevice(options.device ?? 'auto');
  const pool = await InferencePool.forModel(
    plan.descriptor,
    { modelPath: path, device, workers: options.workers ?? 1, threads: options.threads ?? 1 },
    options.events,
  );
  return {
    path,
    descriptor: plan.descriptor,
    notes: plan.notes,
    provider: pool.provider,
    pool,
    preprocess: plan.preprocess,
    close: () => pool.close(),
  };
}
