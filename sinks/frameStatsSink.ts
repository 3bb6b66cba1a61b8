/**
 * JSON lines, one per frame: `{"index":0,"ptsMs":0,"width":640,"height":360,"pixels":{"person":1234,...}}`
 * (classes with no pixels are left out), with `masksRle` also `"masks": {"person": {"size": [h, w],
 * "counts": "…"}, …}` (COCO RLE, io/cocoRle.ts). Written to a partial file, renamed when complete.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { OutputError } from '../core/errors.js';
import type { Segmentation } from '../core/frames.js';
import { commitPartial, createPartialFile, discardPartial, ioReason } from '../io/partialFile.js';
import type { SegmentationSink } from '../core/sink.js';
import { labelsToCocoRle } from '../io/cocoRle.js';

export class FrameStatsSink implements SegmentationSink {
  readonly name = 'frames-json';
  private readonly partial: string;
  private readonly stream: WriteStream;
  private failure: OutputError | null = null;

  constructor(
    private readonly filePath: string,
    private readonly classNames: readonly string[],
    private readonly masksRle = false,
  ) {
    this.partial = createPartialFile(filePath, '--frames-json file');
    this.stream = createWriteStream(this.partial);
    this.stream.on(
      'error',
      (error) => (this.failure ??= new OutputError(`cannot write --frames-json ${filePath} (${ioReason(error)})`)),
    );
  }

  async write({ frame, classPixels, labels }: Segmentation): Promise<void> {
    if (this.failure) throw this.failure;
    const pixels: Record<string, number> = {};
    classPixels.forEach((count, c) => {
      if (count > 0) pixels[this.classNames[c] ?? `class_${c}`] = count;
    });
    const line = JSON.stringify({
      index: frame.index,
      ptsMs: Math.round(frame.ptsMs * 1000) / 1000,
      width: frame.width,
      height: frame.height,
      pixels,
      ...(this.masksRle ? { masks: labelsToCocoRle(labels, frame.width, frame.height, this.classNames) } : {}),
    });
    if (!this.stream.write(`${line}\n`)) await this.drained();
  }

  /** Resolves on 'drain'; rejects when the stream fails instead (a full disk never drains). */
  private drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        this.stream.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.stream.off('drain', onDrain);
        reject(this.failure ?? new OutputError(`cannot write --frames-json ${this.filePath}: the file was closed`));
      };
      this.stream.once('drain', onDrain);
      this.stream.once('close', onClose);
    });
  }

  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) =>
      this.stream.end((error?: Error | null) =>
        error
          ? reject(this.failure ?? new OutputError(`cannot write --frames-json ${this.filePath} (${ioReason(error)})`))
          : resolve(),
      ),
    );
  }

  commit(): void {
    commitPartial(this.partial, this.filePath, '--frames-json file');
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    discardPartial(this.partial);
  }
}
