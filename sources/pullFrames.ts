/**
 * A pulled source as an Observable: each frame is read only after a credit is taken, so the
 * Observable emits no faster than the end of the pipeline hands credits back.
 *
 *   pullFrames(source, credits): Observable<Frame>   — completes at the end of the input,
 *   errors with the source's InputError; unsubscribing closes the source (kills ffmpeg).
 */
import { Observable } from 'rxjs';
import type { FrameCredits } from './frameCredits.js';
import type { Frame } from '../core/frames.js';
import type { FrameSource } from './frameSource.js';

export function pullFrames(source: FrameSource, credits: FrameCredits): Observable<Frame> {
  return new Observable<Frame>((subscriber) => {
    let stopped = false;
    void (async () => {
      try {
        for (;;) {
          await credits.acquire();
          if (stopped) return;
          const frame = await source.next();
          if (stopped) return;
          if (!frame) break;
          subscriber.next(frame);
        }
        subscriber.complete();
      } catch (error) {
        if (!stopped) subscriber.error(error);
      }
    })();
    return () => {
      stopped = true;
      credits.cancel();
      source.close();
    };
  });
}
