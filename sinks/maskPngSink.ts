/**
 * One 8-bit greyscale PNG per frame whose pixel values are the class indices
 * (`DIR/frame_000000.png`, ...). Written into a partial directory and moved into DIR when the run
 * completes. Compression runs on libuv's thread pool (pngjs packs through zlib's async API).
 */
import { createWriteStream, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PNG } from 'pngjs';
import { OutputError } from '../core/errors.js';
import type { Segmentation } from '../core/frames.js';
import {
  commitPartial,
  commitPartialFiles,
  createPartialDirectory,
  discardPartial,
  ioReason,
} from '../io/partialFile.js';
import type { SegmentationSink } from '../core/sink.js';

export function maskFileName(index: number): string {
  return `frame_${String(index).padStart(6, '0')}.png`;
}

/** The partial directory for `--masks DIR`; refused where DIR already holds masks (they would mix). */
export function openMasksDirectory(dir: string): string {
  if (existsSync(dir) && readdirSync(dir).some((f) => /^frame_\d+\.png$/.test(f))) {
    throw new OutputError(`--masks ${dir} already holds frame_*.png files: choose an empty directory or remove them`);
  }
  return createPartialDirectory(dir, '--masks directory');
}

/** The partial directory's masks into DIR (made, or added to where it exists). */
export function commitMasks(partialDir: string, dir: string): void {
  if (existsSync(dir)) commitPartialFiles(partialDir, dir, 'masks');
  else commitPartial(partialDir, dir, 'masks');
}

export class MaskPngSink implements SegmentationSink {
  readonly name = 'masks';
  private readonly partialDir: string;

  constructor(private readonly dir: string) {
    this.partialDir = openMasksDirectory(dir);
  }

  async write({ frame, labels }: Segmentation): Promise<void> {
    // One filter for every row (Sub: label runs become zeros); pngjs's default tries all five per row on the main thread, 10× slower.
    const png = new PNG({
      width: frame.width,
      height: frame.height,
      colorType: 0,
      inputColorType: 0,
      inputHasAlpha: false,
      bitDepth: 8,
      filterType: 1,
    });
    png.data = Buffer.from(labels.buffer, labels.byteOffset, labels.byteLength);
    await pipeline(png.pack(), createWriteStream(path.join(this.partialDir, maskFileName(frame.index)))).catch(
      (error: unknown) => {
        throw new OutputError(`cannot write --masks ${this.dir} (${ioReason(error)})`);
      },
    );
  }

  /** Every PNG is written by the time its write() resolved. */
  async flush(): Promise<void> {}

  commit(): void {
    commitMasks(this.partialDir, this.dir);
  }

  async abort(): Promise<void> {
    discardPartial(this.partialDir);
  }
}
