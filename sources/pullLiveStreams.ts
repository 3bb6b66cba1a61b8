/**
 * Several live streams as one Observable, fair to each: whenever the pipeline has room (a credit),
 * the next stream in round-robin order that has a frame waiting gives it up. A stream that is
 * always ready cannot starve a slower one, and every stream's newest frame is the one inferred.
 *
 *   pullLiveStreams([LiveStream, …], credits): Observable<Frame>  — frames of all streams, each
 *   stream's in increasing index; completes when every stream has finished; unsubscribing closes them.
 */
import { Observable } from 'rxjs';
import type { FrameCredits } from './frameCredits.js';
import type { Frame } from '../core/frames.js';
import type { LiveStream } from './liveStream.js';

export function pullLiveStreams(streams: readonly LiveStream[], credits: FrameCredits): Observable<Frame> {
  return new Observable<Frame>((subscriber) => {
    let stopped = false;
    let wake: (() => void) | null = null;
    const onFrame = () => {
      const resume = wake;
      wake = null;
      resume?.();
    };
    for (const stream of streams) stream.on('frame', onFrame);
    let cursor = 0;
    const nextFrame = (): Frame | null => {
      for (let tried = 0; tried < streams.length; tried++) {
        const stream = streams[cursor]!;
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
        while (!frame && !stopped && !streams.every((s) => s.finished)) {
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
      for (const stream of streams) {
        stream.off('frame', onFrame);
        stream.close();
      }
    };
  });
}
