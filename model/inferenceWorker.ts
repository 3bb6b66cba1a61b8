/**
 * One inference worker: owns one onnxruntime session, runs batches, and turns the scores into
 * label maps at frame resolution here, so the 20+ MB score tensors never cross threads and the
 * main thread's event loop never waits on a model.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { isUserError } from '../pipeline/errors.js';
import type { BatchRequest, FrameLabels, WorkerInit, WorkerReply } from './inferenceProtocol.js';
import { labelsFromMask, labelsFromScores } from './postprocess.js';
import { openSession } from './session.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

function batchTensor(request: BatchRequest): ort.Tensor {
  const { frames, inputWidth: w, inputHeight: h } = request;
  const per = 3 * w * h;
  const data = frames.length === 1 ? frames[0]!.input : new Float32Array(per * frames.length);
  if (frames.length > 1) frames.forEach((f, i) => data.set(f.input, i * per));
  const dims = init.inputLayout === 'NCHW' ? [frames.length, 3, h, w] : [frames.length, h, w, 3];
  return new ort.Tensor('float32', data, dims);
}

async function main(): Promise<void> {
  let opened;
  try {
    opened = await openSession(init.modelPath, { device: init.device, threads: init.threads }, init.modelPath);
  } catch (error) {
    post({ type: 'init-error', errorName: isUserError(error) ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) });
    return;
  }
  const { session } = opened;
  post({ type: 'ready', provider: opened.provider, ...(opened.fallbackReason ? { fallbackReason: opened.fallbackReason } : {}) });

  port.on('message', async (request: BatchRequest) => {
    try {
      const t0 = performance.now();
      const outputs = await session.run({ [init.inputName]: batchTensor(request) });
      const t1 = performance.now();
      const scores = outputs[init.outputName]!;
      const dims = scores.dims.map(Number);
      const data = scores.data as Float32Array;
      const [classes, sh, sw] = init.outputLayout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
      const perFrame = classes * sh * sw;
      const frames: FrameLabels[] = request.frames.map((f, i) =>
        init.outputKind === 'mask'
          ? labelsFromMask(data, i * perFrame, sh, sw, init.maskThreshold, f.width, f.height)
          : labelsFromScores({ data, offset: i * perFrame, classes, height: sh, width: sw, layout: init.outputLayout }, f.width, f.height),
      );
      const postprocessMs = performance.now() - t1;
      post(
        { type: 'result', id: request.id, frames, inferMs: t1 - t0, postprocessMs, outputDims: dims },
        frames.flatMap((f) => [f.labels.buffer as ArrayBuffer, f.classPixels.buffer as ArrayBuffer]),
      );
    } catch (error) {
      post({ type: 'run-error', id: request.id, message: error instanceof Error ? error.message.split('\n')[0]! : String(error) });
    }
  });
}

void main();
