/** `--device`: its values, and the one short line printed when `auto` falls back to the CPU. */
import { describe, expect, it } from 'vitest';
import { cpuFallbackNote, parseDevice } from '../../model/device.js';

describe('device', () => {
  it('reads the --device values', () => {
    expect(parseDevice('auto')).toEqual({ kind: 'auto' });
    expect(parseDevice('cuda:1')).toMatchObject({ kind: 'cuda', deviceId: 1 });
  });

  it('says in one short line why it runs on the CPU, and where the way to a GPU is written', () => {
    const missing = cpuFallbackNote('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
    expect(missing).toBe('note: running on CPU: no CUDA provider installed (README "CUDA")');
    expect(missing.length).toBeLessThanOrEqual(80);
    const other = cpuFallbackNote(`CUDA failure 100: no CUDA-capable device is detected\n${'details '.repeat(40)}`);
    expect(other.split('\n')).toHaveLength(1);
    expect(other).toMatch(/^note: running on CPU: CUDA failed: CUDA failure 100: no CUDA-capable device is detected/);
  });
});
