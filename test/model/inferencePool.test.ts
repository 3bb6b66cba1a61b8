import { readFileSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { deeplabLikeCase } from '../../bench/crfCases.js';
import { CrfRunner } from '../../crf/crfRunner.js';
import { DEEPLAB_VOC_PARAMS } from '../../crf/crfParams.js';
import { describeModel, IMAGENET_NORMALIZATION } from '../../model/descriptor.js';
import { InferencePool } from '../../model/inferencePool.js';
import { preprocessRgb } from '../../model/preprocess.js';
import { WorkerLostError } from '../../core/errors.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/**
 * The pool's own threads, to stop one. An inference worker is told to exit between two runs (its
 * own close message, sent behind the pool's back): terminating one inside onnxruntime's native run
 * would abort the whole process, test runner and all.
 */
const threadsOf = (owner: InferencePool | CrfRunner) =>
  (owner as unknown as { workers: { workers: Worker[] } }).workers.workers;

const [W, H, IW, IH] = [320, 240, 321, 241];
const batch = () => {
  const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 7) & 255);
  return {
    frames: [
      {
        inputs: [
          {
            data: preprocessRgb(rgb, W, H, IW, IH, 'NCHW', IMAGENET_NORMALIZATION),
            width: IW,
            height: IH,
            flipped: false,
          },
        ],
        width: W,
        height: H,
      },
    ],
  };
};

describe('InferencePool when a worker stops', () => {
  it('fails only the batches that worker held (WorkerLostError), says so, and goes on with a replacement', async () => {
    const modelPath = writeModel(tmp.dir, { classes: 5 });
    const lost: string[] = [];
    const pool = await InferencePool.forModel(
      describeModel(readFileSync(modelPath)),
      { workers: 1, threads: 1, modelPath, device: { kind: 'cpu' } },
      { onWorkerLost: (reason) => lost.push(reason) },
    );
    try {
      // The worker finishes a batch, then exits while the next one waits in its queue: that one is lost.
      expect((await pool.run(batch())).frames[0]!.labels.length).toBe(W * H);
      threadsOf(pool)[0]!.postMessage({ type: 'close' });
      const second = pool.run(batch()).then(
        () => null,
        (error: unknown) => error,
      );
      const error = await second;
      expect(error).toBeInstanceOf(WorkerLostError);
      expect((error as Error).message).toBe(
        'an inference worker stopped (exited with code 0); the 1 frame it held was lost',
      );
      expect(lost).toEqual(['exited with code 0']);
      const after = await pool.run(batch());
      expect(after.frames[0]!.labels.length).toBe(W * H);
      expect(pool.replacements).toBe(1);
      expect(pool.workerCount).toBe(1);
    } finally {
      await pool.close();
    }
  });
});

describe('CrfRunner when a worker stops', () => {
  it('fails the frame it held, replaces the worker, and refines the next frames', async () => {
    const lost: string[] = [];
    const runner = CrfRunner.start(1, 1, (reason) => lost.push(reason));
    const scene = deeplabLikeCase(160, 120, 4, 3, 6);
    const job = () => ({
      image: scene.image,
      width: 160,
      height: 120,
      probabilities: scene.probabilities.slice(),
      classes: 4,
      params: DEEPLAB_VOC_PARAMS,
    });
    try {
      const first = await runner.run(job());
      const inFlight = [runner.run(job()), runner.run(job())];
      await threadsOf(runner)[0]!.terminate();
      const settled = await Promise.allSettled(inFlight);
      const failures = settled
        .filter((s): s is PromiseRejectedResult => s.status === 'rejected')
        .map((s) => s.reason as Error);
      expect(failures.length).toBeGreaterThanOrEqual(1);
      for (const failure of failures) expect(failure).toBeInstanceOf(WorkerLostError);
      expect(lost).toEqual(['exited with code 1']);
      const after = await runner.run(job());
      expect(Buffer.compare(Buffer.from(after.labels), Buffer.from(first.labels))).toBe(0);
      expect(runner.replacements).toBe(1);
    } finally {
      await runner.close();
    }
  });
});
