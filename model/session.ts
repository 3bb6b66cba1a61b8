/**
 * onnxruntime-node sessions with execution-provider selection: `cpu`, `cuda[:N]`, or `auto`
 * (CUDA, else CPU). onnxruntime rejects session creation when the CUDA provider libraries are
 * missing instead of falling back, so `auto` catches that and retries on CPU, saying why.
 */
import * as ort from 'onnxruntime-node';
import { EnvironmentError, ModelError } from '../core/errors.js';
import { CUDA_HOWTO, type Device } from './device.js';

export interface SessionOptions {
  device: Device;
  /** Intra-op threads for this session. */
  threads: number;
}

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: 'cpu' | 'cuda';
  /** Why `auto` fell back to CPU, when it did. */
  fallbackReason?: string;
}

function baseOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error)
    .split('\n')[0]!
    .trim();
}

async function create(
  model: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, options)
    : ort.InferenceSession.create(model, options);
}

async function createOnCpu(model: string | Uint8Array, threads: number, label: string): Promise<ort.InferenceSession> {
  try {
    return await create(model, { ...baseOptions(threads), executionProviders: ['cpu'] });
  } catch (error) {
    throw new ModelError(`${label} cannot be loaded by onnxruntime: ${firstLine(error)}`);
  }
}

export async function openSession(
  model: string | Uint8Array,
  options: SessionOptions,
  label = 'model',
): Promise<OpenedSession> {
  ort.env.logLevel = 'fatal'; // onnxruntime's own warnings would flood stderr; errors still reach us.
  const { device, threads } = options;
  if (device.kind === 'cpu') return { session: await createOnCpu(model, threads, label), provider: 'cpu' };
  const deviceId = device.kind === 'cuda' ? device.deviceId : 0;
  try {
    const session = await create(model, {
      ...baseOptions(threads),
      executionProviders: [{ name: 'cuda', deviceId }, 'cpu'],
    });
    return { session, provider: 'cuda' };
  } catch (error) {
    const reason = firstLine(error);
    if (device.kind === 'cuda') {
      throw new EnvironmentError(
        `--device cuda:${deviceId} is not available (${reason}); ${CUDA_HOWTO}, or use --device cpu`,
      );
    }
    return { session: await createOnCpu(model, threads, label), provider: 'cpu', fallbackReason: reason };
  }
}
