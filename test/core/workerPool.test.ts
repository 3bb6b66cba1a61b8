import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { UsageError, WorkerLostError } from '../../core/errors.js';
import { WorkerPool } from '../../core/workerPool.js';

/** A real worker thread: doubles `x`, answers `fail` with a user error's envelope, exits on `exit`. */
const ECHO = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (job) => {
  if (job.exit !== undefined) process.exit(job.exit);
  if (job.fail) parentPort.postMessage({ id: job.id, ok: false, error: { kind: 'UsageError', message: 'use --crf-scale 0.5' } });
  else parentPort.postMessage({ id: job.id, ok: true, value: job.x * 2 });
});`;
const startEcho = () => new Worker(ECHO, { eval: true });

describe('WorkerPool', () => {
  it('answers jobs by id, keeps an error its kind, and replaces a worker that stops, failing only its jobs', async () => {
    const lost: string[] = [];
    const pool = new WorkerPool([startEcho()], {
      label: 'echo',
      start: async () => startEcho(),
      maxReplacements: 1,
      onWorkerLost: (reason) => lost.push(reason),
    });
    try {
      const first = pool.workers[0]!;
      expect(await Promise.all([1, 2, 3].map((x) => pool.send<{ value: number }>(first, { x }, [], 'x')))).toEqual(
        [1, 2, 3].map((x) => expect.objectContaining({ value: x * 2 })),
      );
      await expect(pool.send(first, { fail: true }, [], 'x')).rejects.toThrow(UsageError);
      await expect(pool.send(first, { exit: 3 }, [], 'the job it held was')).rejects.toThrow(
        new WorkerLostError('an echo worker stopped (exited with code 3); the job it held was lost'),
      );
      expect(lost).toEqual(['exited with code 3']);
      await expect(pool.send(first, { x: 1 }, [], 'the job')).rejects.toThrow(/had stopped; the job lost/);
      await expect.poll(() => pool.workers.length).toBe(1);
      const replacement = pool.workers[0]!;
      expect(replacement).not.toBe(first);
      expect(await pool.send<{ value: number }>(replacement, { x: 21 }, [], 'x')).toMatchObject({ value: 42 });
      // Past maxReplacements the pool gives up, and says so on every later job.
      await expect(pool.send(replacement, { exit: 4 }, [], 'x')).rejects.toThrow(WorkerLostError);
      expect(pool.failed?.message).toMatch(
        /echo workers keep stopping \(1 replaced; the last: exited with code 4\); giving up/,
      );
      await expect(pool.send(replacement, { x: 1 }, [], 'x')).rejects.toBe(pool.failed);
    } finally {
      await pool.close((worker) => worker.terminate().then(() => {}));
    }
  });
});
