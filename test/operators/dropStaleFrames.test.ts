import { from, lastValueFrom, Subject, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { dropStaleFrames } from '../../operators/dropStaleFrames.js';
import type { Segmentation } from '../../core/frames.js';

const seg = (streamId: string, index: number) => ({ frame: { streamId, index } }) as unknown as Segmentation;

describe('dropStaleFrames', () => {
  it('drops a frame that finishes after a newer one of its stream, at the moment it arrives (marbles)', () => {
    const stale: string[] = [];
    new TestScheduler((actual, expected) => expect(actual).toEqual(expected)).run(({ hot, expectObservable }) => {
      const frames = { p: seg('a', 4), q: seg('a', 6), r: seg('a', 5), s: seg('b', 1), t: seg('a', 7) };
      const input = hot('  p 4ms q 4ms r 4ms s 4ms t |', frames);
      const expected = '   p 4ms q 4ms - 4ms s 4ms t |';
      const onStale = (x: Segmentation) => stale.push(`${x.frame.streamId}:${x.frame.index}`);
      expectObservable(input.pipe(dropStaleFrames(onStale))).toBe(expected, frames);
    });
    // run() flushed the virtual time: the stale frame was handed over when it arrived.
    expect(stale).toEqual(['a:5']);
  });

  it('passes each stream in increasing index and hands older frames to onStale', async () => {
    const stale: string[] = [];
    const input = [seg('a', 4), seg('b', 1), seg('a', 6), seg('a', 5), seg('b', 0), seg('a', 7), seg('a', 7)];
    const out = await lastValueFrom(
      from(input).pipe(
        dropStaleFrames((s) => stale.push(`${s.frame.streamId}:${s.frame.index}`)),
        toArray(),
      ),
    );
    expect(out.map((s) => `${s.frame.streamId}:${s.frame.index}`)).toEqual(['a:4', 'b:1', 'a:6', 'a:7']);
    expect(stale).toEqual(['a:5', 'b:0', 'a:7']);
  });

  it('keeps the newest index per subscription: a resubscription (a restarted stream) starts afresh', async () => {
    const stale: string[] = [];
    const restarted = from([seg('a', 0), seg('a', 1)]).pipe(
      dropStaleFrames((s) => stale.push(`${s.frame.streamId}:${s.frame.index}`)),
      toArray(),
    );
    expect((await lastValueFrom(restarted)).length).toBe(2);
    expect((await lastValueFrom(restarted)).length).toBe(2);
    expect(stale).toEqual([]);
    // Two subscriptions at once do not share state either.
    const subject = new Subject<Segmentation>();
    const piped = subject.pipe(dropStaleFrames(() => {}));
    const seen: number[][] = [[], []];
    piped.subscribe((s) => seen[0]!.push(s.frame.index));
    subject.next(seg('a', 5));
    piped.subscribe((s) => seen[1]!.push(s.frame.index));
    subject.next(seg('a', 3));
    expect(seen).toEqual([[5], [3]]);
  });
});
