/**
 * Where a model runs: `cpu`, `cuda[:N]`, or `auto` (CUDA, else CPU). Apart from session.ts so that
 * the command line can check `--device` without loading onnxruntime.
 */
import { UsageError } from '../core/errors.js';

export type Device = { kind: 'auto' } | { kind: 'cpu' } | { kind: 'cuda'; deviceId: number };

/** The one line `--device auto` prints when it falls back to the CPU: why, shortly, and where the way to a GPU is written. */
export function cpuFallbackNote(reason: string): string {
  const why = /failed to load shared library/i.test(reason)
    ? 'no CUDA provider installed'
    : `CUDA failed: ${reason.split('\n')[0]!.slice(0, 80)}`;
  return `note: running on CPU: ${why} (README "CUDA")`;
}

export const CUDA_HOWTO =
  'to use an NVIDIA GPU, fetch onnxruntime-node\'s CUDA provider: `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` (needs CUDA 12 and cuDNN 9; README "CUDA")';

export function parseDevice(text: string): Device {
  if (text === 'auto' || text === 'cpu') return { kind: text };
  const match = /^cuda(?::(\d+))?$/.exec(text);
  if (match) return { kind: 'cuda', deviceId: Number(match[1] ?? 0) };
  throw new UsageError(`--device ${text} is not one of auto, cpu, cuda, cuda:N`);
}
