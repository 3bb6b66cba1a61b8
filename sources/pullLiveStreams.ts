/**
 * Several live streams as one Observable, fair to each: whenever the pipeline has room (a credit),
 * the next stream in round-robin order that has a frame waiting gives it up. A stream that is
 * always ready cannot starve a slower one, and every stream's newest frame is the one inferred.
 * Streams added to the set while it runs join the round; removed ones leave it.
 *
 *   pullLiveStreams(LiveStreamSet, credits): Observable<Frame>  — frames of all streams, each
 *   stream's in increasing index; completes when the set is finished; unsubscribing closes it.
 *
 * @example
 *   pullLiveStreams(new LiveStreamSet([camera, file]), new FrameCredits(4)).pipe(segmentFrames(plan, pool))
 */
import { Observable } from 'rxjs';
import type { FrameCredits } from './frameCredits.js';
import type { Frame } from '../core/frames.js';
import type { LiveStreamSet } from './liveStreamSet.js';

export function pullLiveStreams(set: LiveStreamSet, credits: FrameCredits): Observable<Frame> {
  return new Observable<Frame>((subscriber) => {
    let stopped = false;
    let wake: (() => void) | null = null;
    const onFrame = () => {
      const resume = wake;
      wake = null;
      resume?.();
    };
    set.on('frame', onFrame);
    let cursor = 0;
    const nextFrame = (): Frame | null => {
      const streams = set.streams;
      for (let tried = 0; tried < streams.length; tried++) {
        const stream = streams[cursor % streams.length]!;
        cursor = (cursor + 1) % streams.length;
        const frame = stream.take();
        if (frame) return frame;
      }
      return null;
    };
    void (async () => {
      for (;;) {
        await credits.acquire();
        let frame = nextFrame();
        while (!frame && !stopped && !set.finished) {
          await new Promise<void>((resolve) => (wake = resolve));
          frame = nextFrame();
        }
        if (stopped) return;
        if (!frame) break;
        subscriber.next(frame);
      }
      subscriber.complete();
    })();
    return () => {
      stopped = true;
      onFrame();
      credits.cancel();
      set.off('frame', onFrame);
      set.close();
    };
  });
}
