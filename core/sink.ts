import type { Segmentation } from './frames.js';

/**
 * Where segmentations go. `write` resolves when the sink can take the next one (backpressure);
 * `flush` completes the output under its partial name (it may fail: an encoder's last error);
 * `commit` moves it to its final name — called only once every sink has flushed, so one sink's
 * failure never leaves the others' output looking complete; `abort` removes whatever was written.
 */
export interface SegmentationSink {
  readonly name: string;
  write(segmentation: Segmentation): Promise<void>;
  flush(): Promise<void>;
  commit(): void;
  abort(): Promise<void>;
}

/** Flushes every sink, then commits them all; on any failure aborts all and rethrows. */
export async function finishSinks(sinks: readonly SegmentationSink[]): Promise<void> {
  try {
    for (const sink of sinks) await sink.flush();
    for (const sink of sinks) sink.commit();
  } catch (error) {
    await Promise.all(sinks.map((sink) => sink.abort()));
    throw error;
  }
}
