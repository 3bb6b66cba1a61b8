import { describe, expect, it } from 'vitest';
import {
  fromErrorEnvelope,
  isUserError,
  ModelError,
  SourceError,
  toErrorEnvelope,
  UsageError,
} from '../../core/errors.js';

/** What postMessage does to a value: the structured clone. */
const acrossThreads = <T>(value: T): T => structuredClone(value);

describe('error envelopes across a worker boundary', () => {
  it('keeps a user error its class and its one line', () => {
    for (const original of [
      new UsageError('use --crf-scale 0.5'),
      new ModelError('not ONNX'),
      new SourceError('camera:1 is busy'),
    ]) {
      const back = fromErrorEnvelope(acrossThreads(toErrorEnvelope(original)), 'CRF failed');
      expect(back).toBeInstanceOf(original.constructor);
      expect(back.message).toBe(original.message);
      expect(isUserError(back)).toBe(true);
    }
  });

  it('keeps a bug a bug: not a user error, its message with the context, and the stack from the worker', () => {
    let original: Error;
    try {
      JSON.parse('{ not json');
      throw new Error('unreachable');
    } catch (error) {
      original = error as Error;
    }
    const back = fromErrorEnvelope(acrossThreads(toErrorEnvelope(original)), 'CRF failed');
    expect(isUserError(back)).toBe(false);
    expect(back.message).toBe(`CRF failed: ${original.message}`);
    expect(back.stack).toContain('errors.test.ts'); // where it was thrown, on the other side
    expect(toErrorEnvelope('a string').message).toBe('a string');
  });
});
