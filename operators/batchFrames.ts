import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';

/**
 * Groups items into batches of up to `maxSize`, emitting a batch when it is full or `maxWaitMs`
 * after its first item arrived, whichever comes first. A partial batch is flushed on completion;
 * no empty batch is ever emitted; order is kept.
 *
 *   a b c d e | (maxSize 2)  →  [a,b] [c,d] [e] |
 *
 * The wait runs on `scheduler` (RxJS's async one: marble tests run it on virtual time).
 *
 * @example
 * prepared$.pipe(batchFrames(4, 20), inferBatches(model.pool)) // up to 4 frames per run, none waits over 20 ms
 */
export function batchFrames<T>(
  maxSize: number,
  maxWaitMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<T, T[]> {
  if (!Number.isInteger(maxSize) || maxSize < 1)
    throw new RangeError(`batch size must be a positive integer, got ${maxSize}`);
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let batch: T[] = [];
      let timer: Subscription | null = null;
      const flush = () => {
        timer?.unsubscribe();
        timer = null;
        if (batch.length === 0) return;
        const full = batch;
        batch = [];
        subscriber.next(full);
      };
      const subscription = source.subscribe({
        next(item) {
          batch.push(item);
          if (batch.length >= maxSize) flush();
          else if (!timer) timer = scheduler.schedule(flush, maxWaitMs);
        },
        error(error) {
          timer?.unsubscribe();
          subscriber.error(error);
        },
        complete() {
          flush();
          subscriber.complete();
        },
      });
      return () => {
        timer?.unsubscribe();
        subscription.unsubscribe();
      };
    });
}
