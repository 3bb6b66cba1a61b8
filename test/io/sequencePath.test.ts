import { describe, expect, it } from 'vitest';
import { formatSequencePath, isSequencePattern } from '../../io/sequencePath.js';

describe('formatSequencePath', () => {
  it('formats %d, %5d, %05d and %% as C printf does', () => {
    expect(formatSequencePath('frame_%05d.png', 42)).toBe('frame_00042.png');
    expect(formatSequencePath('frame_%5d.png', 42)).toBe('frame_   42.png');
    expect(formatSequencePath('frame_%d.png', 42)).toBe('frame_42.png');
    expect(formatSequencePath('frame_%02d.png', 1234)).toBe('frame_1234.png');
    expect(formatSequencePath('100%%_%03d.png', 7)).toBe('100%_007.png');
    expect(formatSequencePath('dir/%04d/x_%04d.npy', 3)).toBe('dir/0003/x_0003.npy');
    expect(isSequencePattern('a/frame_%05d.png')).toBe(true);
    expect(isSequencePattern('a/frame.png')).toBe(false);
  });
});
