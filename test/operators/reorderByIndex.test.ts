import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { reorderByIndex } from '../../operators/reorderByIndex.js';

describe('reorderByIndex', () => {
  it('restores index order', async () => {
    const out = await firstValueFrom(
      from([2, 0, 1, 5, 4, 3, 6]).pipe(
        reorderByIndex((i: number) => i),
        toArray(),
      ),
    );
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('fails instead of dropping items when a gap is never filled', async () => {
    await expect(lastValueFrom(from([0, 2, 3]).pipe(reorderByIndex((i: number) => i)))).rejects.toThrow(
      /waiting for index 1/,
    );
  });

  it('fails on a duplicate index', async () => {
    await expect(lastValueFrom(from([0, 1, 1]).pipe(reorderByIndex((i: number) => i)))).rejects.toThrow(/seen twice/);
  });
});
