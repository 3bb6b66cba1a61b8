import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { dropStaleFrames } from '../../operators/dropStaleFrames.js';
import type { Segmentation } from '../../pipeline/frames.js';

const seg = (streamId: string, index: number) => ({ frame: { streamId, index } }) as unknown as Segmentation;

describe('dropStaleFrames', () => {
  it('passes each stream in increasing index and hands older frames to onStale', async () => {
    const stale: string[] = [];
    const input = [seg('a', 4), seg('b', 1), seg('a', 6), seg('a', 5), seg('b', 0), seg('a', 7), seg('a', 7)];
    const out = await lastValueFrom(from(input).pipe(dropStaleFrames((s) => stale.push(`${s.frame.streamId}:${s.frame.index}`)), toArray()));
    expect(out.map((s) => `${s.frame.streamId}:${s.frame.index}`)).toEqual(['a:4', 'b:1', 'a:6', 'a:7']);
    expect(stale).toEqual(['a:5', 'b:0', 'a:7']);
  });
});
