import { firstValueFrom, from, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { batchFrames } from '../../operators/batchFrames.js';

describe('batchFrames', () => {
  it('groups by count, keeps order and flushes the partial tail on completion', async () => {
    const batches = await firstValueFrom(from([1, 2, 3, 4, 5, 6, 7]).pipe(batchFrames(3, 1000), toArray()));
    expect(batches).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('emits a partial batch when the wait runs out, and never an empty one (marbles, virtual time)', () => {
    new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(({ hot, expectObservable }) => {
      // a, b arrive; 30 ms after a the pair goes; c alone waits its 30 ms; d e f g fill a batch at once.
      const input = hot('  a b 50ms c 40ms (defg) h |');
      // x at 30 ms (a + 30), y at 82 (c + 30), z at 93 (full at once), h when the input completes at 100.
      expectObservable(input.pipe(batchFrames(4, 30))).toBe('30ms x 51ms y 10ms z 6ms (h|)', {
        x: ['a', 'b'],
        y: ['c'],
        z: ['d', 'e', 'f', 'g'],
        h: ['h'],
      });
    });
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => batchFrames(0, 10)).toThrow(/positive integer/);
  });
});
