/**
 * The sink of a live run: encodes each segmentation once (server/wireFormat.ts) and hands the bytes
 * to the ViewerHub, which fans them out. Nothing is written to disk, so flush/commit/abort have
 * nothing to finish or remove.
 */
import type { Segmentation } from '../core/frames.js';
import type { SegmentationSink } from '../core/sink.js';
import type { ViewerHub } from './viewerHub.js';
import { encodeFrameMessage } from './wireFormat.js';

export class ViewerSink implements SegmentationSink {
  readonly name = 'viewers';

  /** `onError`: a frame that could not be encoded is told there and skipped; the stream goes on. */
  constructor(
    private readonly hub: ViewerHub,
    private readonly onError: (error: unknown, segmentation: Segmentation) => void = () => {},
  ) {}

  async write(segmentation: Segmentation): Promise<void> {
    if (this.hub.viewerCount === 0) return; // nobody watching: skip the JPEG
    let bytes: Buffer;
    try {
      bytes = await encodeFrameMessage(segmentation);
    } catch (error) {
      this.onError(error, segmentation);
      return;
    }
    this.hub.publish(segmentation.frame.streamId, bytes);
  }

  async flush(): Promise<void> {}
  commit(): void {}
  async abort(): Promise<void> {}
}
