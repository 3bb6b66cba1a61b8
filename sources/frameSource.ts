import type { Frame } from '../core/frames.js';

/** Something frames are pulled from, one at a time: the next frame is decoded only when asked for. */
export interface FrameSource {
  readonly streamId: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Frame count when known in advance (progress, truncation checks). */
  readonly frameCount: number | null;
  /** Frames handed out so far. */
  readonly framesDecoded: number;
  /** The next frame, or null at the end; rejects with an InputError when the input is damaged. */
  next(): Promise<Frame | null>;
  /** Stops decoding and kills any child process; safe to call twice. */
  close(): void;
}
