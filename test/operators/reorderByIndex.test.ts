import { firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { reorderByIndex } from '../../operators/reorderByIndex.js';

describe('reorderByIndex', () => {
  it('holds an item exactly until every lower index has gone out (marbles)', () => {
    new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(({ cold, expectObservable }) => {
      const values = { a: 0, b: 1, c: 2, d: 3 };
      // 2 waits for 1 and 0; 0 releases itself, 1 releases 1 and 2 in the same frame; 3 goes at once.
      const input = cold('  c 9ms a 9ms b 9ms d |', values);
      const expected = '   - 9ms a 9ms (bc) 6ms d |';
      expectObservable(input.pipe(reorderByIndex((i: number) => i))).toBe(expected, values);
    });
  });

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
