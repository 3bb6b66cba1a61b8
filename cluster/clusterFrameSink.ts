/** A live stream's frames and per-frame results, published on the broker by the worker that holds it. */
import type { Segmentation } from '../core/frames.js';
import type { SegmentationSink } from '../core/sink.js';
import { labelsToCocoRle } from '../io/cocoRle.js';
import { encodeFrameMessage, epochMs } from '../server/wireFormat.js';
import type { zoneMeasure } from '../zones/zoneShares.js';
import type { Cluster } from './natsCluster.js';
import { encode, type FrameResult, liveSubject, MAX_MESSAGE_BYTES, resultsSubject } from './protocol.js';

export type ZoneMeasure = ReturnType<typeof zoneMeasure>;

/** Publishes each segmented frame for the server's viewers (while it has any), and its class counts for dashboards. */
export class ClusterFrameSink implements SegmentationSink {
  readonly name = 'cluster';

  constructor(
    private readonly cluster: Cluster,
    private readonly worker: string,
    private readonly classNames: readonly string[],
    /** Whether the server has viewers: the JPEG and the frame message are skipped otherwise. */
    private readonly watched: () => boolean,
    /** The stream's zones, measured on every frame and sent with its result. */
    private readonly zones: () => ZoneMeasure | null,
    /** The frame's labels as COCO RLE in its result. */
    private readonly masksRle: boolean,
    private readonly onLost: (error: unknown) => void,
  ) {}

  async write(segmentation: Segmentation): Promise<void> {
    const { frame } = segmentation;
    if (this.watched())
      this.cluster.connection.publish(liveSubject(frame.streamId), await encodeFrameMessage(segmentation));
    const pixels: Record<string, number> = {};
    segmentation.classPixels.forEach((count, c) => {
      if (count > 0) pixels[this.classNames[c] ?? `class_${c}`] = count;
    });
    const result: FrameResult = {
      stream: frame.streamId,
      index: frame.index,
      capturedAt: epochMs(frame.capturedAt),
      inferredAt: epochMs(segmentation.inferredAt),
      width: frame.width,
      height: frame.height,
      crf: segmentation.crf !== undefined,
      pixels,
      stageMs: Object.fromEntries(
        Object.entries(segmentation.timings).map(([stage, ms]) => [stage, Math.round(ms * 100) / 100]),
      ),
      worker: this.worker,
      ...(segmentation.scoresAge ? { scoresAgeMs: Math.round(segmentation.scoresAge.oldestMs) } : {}),
    };
    if (this.masksRle) {
      const masks = labelsToCocoRle(segmentation.labels, frame.width, frame.height, this.classNames);
      // A label map of noise would not fit a message: that frame's result goes without its masks.
      if (Object.values(masks).reduce((n, m) => n + m.counts.length, 0) < MAX_MESSAGE_BYTES / 2) result.masks = masks;
    }
    const measure = this.zones();
    if (measure) result.zones = measure(segmentation.labels, frame.width, frame.height);
    // A result the broker did not take (it is away for a moment) is lost, not the stream.
    await this.cluster.js
      .publish(resultsSubject(frame.streamId), encode(result))
      .catch((error: unknown) => this.onLost(error));
  }

  async flush(): Promise<void> {}
  commit(): void {}
  async abort(): Promise<void> {}
}
