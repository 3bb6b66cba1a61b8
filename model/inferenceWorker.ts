/**
 * One inference worker: owns one onnxruntime session, runs batches, and turns the scores into
 * label maps at frame resolution here, so the 20+ MB score tensors never cross threads and the
 * main thread's event loop never waits on a model.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isUserError, ModelError, toErrorEnvelope } from '../core/errors.js';
import type { ModelInput } from '../core/frames.js';
import type { BatchRequest, CloseRequest, FrameLabels, WorkerInit, WorkerReply } from './inferenceProtocol.js';
import { crfSize } from '../crf/reducedResolution.js';
import { averageScores, onInputGrid } from './multiScale.js';
import { blendWindows } from './tiles.js';
import { labelsFromScores, keepClasses, probabilitiesFromScores, type ScoreMap } from './postprocess.js';
import { labelsFromIndices, labelsFromMask } from './labelOutputs.js';
import { openSession } from './session.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

/** Where one frame's k-th input went: which run's output, and its place in that run's batch. */
interface Placed {
  readonly output: number;
  readonly index: number;
}

/**
 * The runs a batch needs: inputs of one size share a run — every window of every frame at once
 * where the graph takes any batch size; otherwise one run per input position, all frames together.
 */
function planRuns(request: BatchRequest): { runs: ModelInput[][]; placed: Placed[][] } {
  const runs: ModelInput[][] = [];
  const placed: Placed[][] = request.frames.map(() => []);
  const bySize = new Map<string, number>();
  const perInput = request.frames[0]!.inputs.length;
  for (let k = 0; k < perInput; k++) {
    request.frames.forEach((frame, i) => {
      const input = frame.inputs[k]!;
      const key = init.dynamicBatch ? `${input.width}x${input.height}` : `k${k}`;
      let run = bySize.get(key);
      if (run === undefined) bySize.set(key, (run = runs.push([]) - 1));
      placed[i]![k] = { output: run, index: runs[run]!.push(input) - 1 };
    });
  }
  return { runs, placed };
}

/** One tensor of inputs that share a size. */
function batchTensor(inputs: readonly ModelInput[]): ort.Tensor {
  const first = inputs[0]!;
  const per = 3 * first.width * first.height;
  const n = inputs.length;
  const dims = init.inputLayout === 'NCHW' ? [n, 3, first.height, first.width] : [n, first.height, first.width, 3];
  if (init.inputType === 'uint8') {
    const data = n === 1 ? (first.data as Uint8Array) : new Uint8Array(per * n);
    if (n > 1) inputs.forEach((input, i) => data.set(input.data, i * per));
    return new ort.Tensor('uint8', data, dims);
  }
  const data = n === 1 ? (first.data as Float32Array) : new Float32Array(per * n);
  if (n > 1) inputs.forEach((input, i) => data.set(input.data, i * per));
  return new ort.Tensor('float32', data, dims);
}

/** Frame i's labels from an argmaxed output ([N,H,W] or with a singleton channel axis). */
function indexLabels(output: ort.Tensor, i: number, width: number, height: number): FrameLabels {
  const dims = output.dims.map(Number);
  const [h, w] =
    dims.length === 3
      ? [dims[1]!, dims[2]!]
      : init.outputLayout === 'NCHW'
        ? [dims[2]!, dims[3]!]
        : [dims[1]!, dims[2]!];
  return labelsFromIndices(output.data as ArrayLike<number | bigint>, i * h * w, h, w, init.classes, width, height);
}

/** Frame i's scores in one output tensor, for a run on `input` (its size: the geometry of aligned scores). */
function scoreMap(output: ort.Tensor, i: number, input: { readonly width: number; readonly height: number }): ScoreMap {
  const dims = output.dims.map(Number);
  // A 3-D float output is a one-channel mask without its channel axis.
  const [classes, height, width] =
    dims.length === 3
      ? [1, dims[1]!, dims[2]!]
      : init.outputLayout === 'NCHW'
        ? [dims[1]!, dims[2]!, dims[3]!]
        : [dims[3]!, dims[1]!, dims[2]!];
  return {
    data: output.data as Float32Array,
    offset: i * classes * height * width,
    classes,
    height,
    width,
    layout: init.outputLayout,
    ...(init.scoresAlignCorners ? { alignedTo: { width: input.width, height: input.height } } : {}),
  };
}

/** One input's scores on their own (a batch output's view copied), to keep past this batch. */
function copyOf(scores: ScoreMap): ScoreMap {
  const size = scores.classes * scores.height * scores.width;
  return { ...scores, data: scores.data.slice(scores.offset, scores.offset + size), offset: 0 };
}

function labels(scores: ScoreMap, width: number, height: number): FrameLabels {
  return init.outputKind === 'mask'
    ? labelsFromMask(scores.data, scores.offset, scores.height, scores.width, init.maskThreshold, width, height)
    : labelsFromScores(scores, width, height);
}

async function main(): Promise<void> {
  let opened;
  try {
    opened = await openSession(init.modelPath, { device: init.device, threads: init.threads }, init.modelPath);
  } catch (error) {
    // A model that cannot load is the user's to fix (a ModelError, unless it says otherwise).
    post({
      type: 'init-error',
      error: toErrorEnvelope(
        isUserError(error) ? error : new ModelError(error instanceof Error ? error.message : String(error)),
      ),
    });
    return;
  }
  const { session } = opened;
  post({
    type: 'ready',
    provider: opened.provider,
    ...(opened.fallbackReason ? { fallbackReason: opened.fallbackReason } : {}),
  });

  port.on('message', async (request: BatchRequest | CloseRequest) => {
    if (request.type === 'close') {
      // session.run is a synchronous native call, so this is never seen inside one (terminating a
      // worker there would abort the process); a batch still being post-processed is dropped.
      await session.release();
      port.close();
      return;
    }
    try {
      const t0 = performance.now();
      const { runs, placed } = planRuns(request);
      const outputs: ort.Tensor[] = [];
      for (const run of runs) {
        // onnxruntime's own errors (shapes, types, kernels) are the model's; ours below are bugs.
        const result = await session.run({ [init.inputName]: batchTensor(run) }).catch((error: unknown) => {
          throw new ModelError(
            `inference failed: ${error instanceof Error ? error.message.split('\n')[0]! : String(error)}`,
          );
        });
        outputs.push(result[init.outputName]!);
      }
      const t1 = performance.now();
      const frames: FrameLabels[] = request.frames.map((f, i) => {
        const at = placed[i]!;
        if (init.outputKind === 'labels') return indexLabels(outputs[at[0]!.output]!, at[0]!.index, f.width, f.height);
        const scores = f.inputs.map((input, k) => scoreMap(outputs[at[k]!.output]!, at[k]!.index, input));
        // A tiled frame's windows (none run when every one is reused).
        const fresh = f.inputs.every((input) => input.window)
          ? f.inputs.map((input, k) => ({ scores: scores[k]!, window: input.window!, input }))
          : null;
        const merged = fresh
          ? // Windows are sampled in their own geometry onto one grid over the frame.
            blendWindows([...fresh, ...(f.reused ?? [])], f.width, f.height)
          : f.inputs.length === 1 && !f.inputs[0]!.flipped
            ? // One map goes straight to the frame in its own geometry.
              scores[0]!
            : // Scales and flips meet on their input grids.
              averageScores(scores.map((s, k) => ({ scores: onInputGrid(s), flipped: f.inputs[k]!.flipped })));
        const shown = f.shownClasses ?? init.shownClasses;
        const combined = shown ? keepClasses(merged, shown) : merged;
        const result = {
          ...labels(combined, f.width, f.height),
          ...(f.keepWindows && fresh ? { windows: fresh.map((w) => ({ ...w, scores: copyOf(w.scores) })) } : {}),
        };
        if (!request.withProbabilities) return result;
        const mask = init.outputKind === 'mask' ? { threshold: init.maskThreshold } : undefined;
        const [pw, ph] = crfSize(f.width, f.height, request.probabilitiesScale ?? 1);
        return {
          ...result,
          probabilities: probabilitiesFromScores(combined, pw, ph, mask, {
            pruneBelow: request.probabilitiesPrune ?? 0,
          }),
        };
      });
      const postprocessMs = performance.now() - t1;
      // Inputs go back to be filled again, but not those of kept windows (the reply carries them).
      const inputBuffers = [
        ...new Set(
          request.frames.flatMap((f) =>
            f.keepWindows ? [] : f.inputs.map((input) => input.data.buffer as ArrayBuffer),
          ),
        ),
      ];
      post({ type: 'result', id: request.id, ok: true, frames, inferMs: t1 - t0, postprocessMs, inputBuffers }, [
        ...inputBuffers,
        ...frames.flatMap((f) => [
          f.labels.buffer as ArrayBuffer,
          f.classPixels.buffer as ArrayBuffer,
          ...(f.probabilities ? [f.probabilities.buffer as ArrayBuffer] : []),
          ...(f.windows ?? []).map((w) => w.scores.data.buffer as ArrayBuffer),
        ]),
      ]);
    } catch (error) {
      post({ type: 'run-error', id: request.id, ok: false, error: toErrorEnvelope(error) });
    }
  });
}

void main();
