import { Observable, type OperatorFunction } from 'rxjs';

/**
 * Restores `index` order after stages that finish out of order. Items are held until every lower
 * index has been emitted; indices must be unique and without gaps from `firstIndex`. Completing
 * with items still held (a gap) is an error, never a silent loss.
 *
 *   2 0 1 4 3  →  0 1 2 3 4
 *
 * @example
 * batches$.pipe(inferBatches(model.pool), reorderByIndex((s) => s.frame.index))
 */
export function reorderByIndex<T>(indexOf: (item: T) => number, firstIndex = 0): OperatorFunction<T, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const held = new Map<number, T>();
      let expected = firstIndex;
      return source.subscribe({
        next(item) {
          const index = indexOf(item);
          if (index < expected || held.has(index)) {
            subscriber.error(new Error(`reorderByIndex: index ${index} seen twice`));
            return;
          }
          held.set(index, item);
          for (let next = held.get(expected); next !== undefined; next = held.get(expected)) {
            held.delete(expected);
            expected += 1;
            subscriber.next(next);
          }
        },
        error: (error) => subscriber.error(error),
        complete() {
          if (held.size > 0)
            subscriber.error(
              new Error(`reorderByIndex: completed waiting for index ${expected} with ${held.size} items held`),
            );
          else subscriber.complete();
        },
      });
    });
}
