import { describe, expect, it } from 'vitest';
import { buildDeepLab } from '../helpers/deeplabBuilder.js';
import { openSession } from '../../model/session.js';
import { parseDevice } from '../../model/device.js';
import { EnvironmentError, ModelError, UsageError } from '../../core/errors.js';

const model = buildDeepLab({ variant: 'tiny', classes: 3 });

describe('execution providers', () => {
  it('parses devices', () => {
    expect(parseDevice('auto')).toEqual({ kind: 'auto' });
    expect(parseDevice('cpu')).toEqual({ kind: 'cpu' });
    expect(parseDevice('cuda')).toEqual({ kind: 'cuda', deviceId: 0 });
    expect(parseDevice('cuda:1')).toEqual({ kind: 'cuda', deviceId: 1 });
    expect(() => parseDevice('gpu')).toThrow(UsageError);
  });

  it('auto falls back to CPU with the reason when the CUDA provider is missing (or uses CUDA where it is installed)', async () => {
    const opened = await openSession(model, { device: { kind: 'auto' }, threads: 1 });
    if (opened.provider === 'cpu') expect(opened.fallbackReason).toMatch(/\S/);
    else expect(opened.fallbackReason).toBeUndefined();
    await opened.session.release();
  });

  it('cuda fails with a clear EnvironmentError where the provider is missing', async () => {
    const attempt = openSession(model, { device: { kind: 'cuda', deviceId: 0 }, threads: 1 });
    const outcome = await attempt.then(
      async (opened) => {
        await opened.session.release();
        return 'cuda available';
      },
      (error: unknown) => error,
    );
    if (outcome !== 'cuda available') {
      expect(outcome).toBeInstanceOf(EnvironmentError);
      expect((outcome as Error).message).toMatch(
        /--device cuda:0 is not available .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node/,
      );
    }
  });

  it('reports a model onnxruntime cannot load as a ModelError', async () => {
    const broken = buildDeepLab({ variant: 'tiny' }).slice(0, 2000);
    await expect(openSession(broken, { device: { kind: 'cpu' }, threads: 1 }, 'broken.onnx')).rejects.toThrow(
      ModelError,
    );
  });
});
