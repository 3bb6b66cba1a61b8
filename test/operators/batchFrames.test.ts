import { Subject, firstValueFrom, from, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { batchFrames } from '../../operators/batchFrames.js';

describe('batchFrames', () => {
  it('groups by count, keeps order and flushes the partial tail on completion', async () => {
    const batches = await firstValueFrom(from([1, 2, 3, 4, 5, 6, 7]).pipe(batchFrames(3, 1000), toArray()));
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('emits a partial batch when the wait runs out, and never an empty one', async () => {
    const input = new Subject<number>();
    const seen: number[][] = [];
    const done = new Promise<void>((resolve) =>
      input.pipe(batchFrames(4, 30)).subscribe({ next: (b) => seen.push(b), complete: resolve }),
    );
    input.next(1);
    input.next(2);
    await new Promise((r) => setTimeout(r, 120));
    expect(seen).toEqual([[1, 2]]);
    input.next(3);
    input.complete();
    await done;
    expect(seen).toEqual([[1, 2], [3]]);
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => batchFrames(0, 10)).toThrow(/positive integer/);
  });
});
