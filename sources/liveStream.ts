/**
 * One input of `serve`, decoded continuously into a one-frame slot that the pipeline takes from.
 *
 * Latest-wins inputs (cameras, rtsp, testsrc, files with --realtime) keep decoding whatever the
 * pipeline does: a new frame replaces an untaken one, which is counted in `dropped` — memory stays at
 * one frame and latency never builds up. Lossless inputs (files) decode the next frame only after
 * the slot was taken. Inputs that reconnect (rtsp, http, cameras) reopen after an error or an end,
 * waiting 0.5 s, 1 s, 2 s … up to `maxBackoffMs`, and report each outage as a status change; one
 * that stays connected but sends no frame for `stallMs` (a hung server, a frozen camera) is an
 * outage too.
 *
 *   LiveInput ─ffmpeg / GStreamer─▶ [slot: latest Frame] ─take()─▶ pullLiveStreams
 *   events: 'status' (connecting | live | outage | ended | failed, with a message), 'frame', 'dropped'
 */
import { EventEmitter } from 'node:events';
import { isUserError, SourceError } from '../core/errors.js';
import type { Frame } from '../core/frames.js';
import type { FrameSource } from './frameSource.js';
import { redactSecrets } from '../core/redact.js';
import type { LiveInput } from './liveInputs.js';

export type LiveStreamStatus = 'connecting' | 'live' | 'outage' | 'ended' | 'failed';

export interface LiveStreamEvents {
  status: [status: LiveStreamStatus, message: string | undefined];
  /** A frame is waiting in the slot. */
  frame: [];
  /** A newer frame replaced one the pipeline had not taken. */
  dropped: [];
}

export interface LiveStreamOptions {
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /**
   * Reconnecting inputs: a source that is connected but sends no frame for this long (at least five
   * frame intervals) is an outage, and is reopened. Default 5 s.
   */
  readonly stallMs?: number;
}

export class LiveStream extends EventEmitter<LiveStreamEvents> {
  private slot: Frame | null = null;
  private slotTaken: (() => void) | null = null;
  private source: FrameSource | null = null;
  private closed = false;
  private wakeBackoff: (() => void) | null = null;
  /** Frames numbered across reconnects, so a stream's indices only grow. */
  private nextIndex = 0;
  status: LiveStreamStatus = 'connecting';
  statusMessage: string | undefined;
  width = 0;
  height = 0;
  fps = 0;
  /** Frames replaced in the slot before the pipeline took them (latest-wins). */
  dropped = 0;
  framesIn = 0;
  outages = 0;

  constructor(
    readonly input: LiveInput,
    private readonly options: LiveStreamOptions = {},
  ) {
    super();
  }

  get id(): string {
    return this.input.id;
  }

  /** True once the stream will produce no more frames (ended, failed or closed). */
  get finished(): boolean {
    return this.closed || this.status === 'ended' || this.status === 'failed';
  }

  start(): this {
    void this.pump();
    return this;
  }

  /** The waiting frame, if any; the slot is empty afterwards. */
  take(): Frame | null {
    const frame = this.slot;
    this.slot = null;
    const taken = this.slotTaken;
    this.slotTaken = null;
    taken?.();
    return frame;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.source?.close();
    this.slot = null;
    this.slotTaken?.();
    this.wakeBackoff?.();
    this.emit('frame');
  }

  /** The source's next frame; for reconnecting inputs, a SourceError when it stalls. */
  private async nextFrame(source: FrameSource): Promise<Frame | null> {
    const next = source.next();
    if (!this.input.reconnects) return next;
    next.catch(() => {}); // when it stalled, the source is closed and this outcome is not wanted
    const stallMs = Math.max(this.options.stallMs ?? 5000, this.fps > 0 ? 5000 / this.fps : 0);
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SourceError(
              `no frame for ${(stallMs / 1000).toFixed(1)} s: the source stalled (connected, but sending nothing)`,
            ),
          ),
        stallMs,
      );
    });
    try {
      return await Promise.race([next, stalled]);
    } finally {
      clearTimeout(timer);
    }
  }

  private setStatus(status: LiveStreamStatus, rawMessage?: string): void {
    // ffmpeg's reasons may quote the URL, password and all: shown in the viewer, /healthz and logs.
    const message = rawMessage === undefined ? undefined : redactSecrets(rawMessage);
    if (status === this.status && message === this.statusMessage) return;
    this.status = status;
    this.statusMessage = message;
    this.emit('status', status, message);
  }

  private async pump(): Promise<void> {
    const { initialBackoffMs = 500, maxBackoffMs = 10_000 } = this.options;
    let backoffMs = initialBackoffMs;
    while (!this.closed) {
      let problem: string;
      try {
        const opened = await this.input.open();
        if (this.closed) {
          opened.release();
          return;
        }
        this.width = opened.width;
        this.height = opened.height;
        this.fps = opened.fps;
        this.source = opened.decoder(this.id);
        for (;;) {
          if (!this.input.latestWins && this.slot) await new Promise<void>((resolve) => (this.slotTaken = resolve));
          const frame = await this.nextFrame(this.source);
          if (this.closed) return;
          if (!frame) break;
          if (this.status !== 'live') this.setStatus('live', undefined);
          backoffMs = initialBackoffMs;
          if (this.slot) {
            this.dropped += 1;
            this.emit('dropped');
          }
          this.slot = { ...frame, streamId: this.id, index: this.nextIndex++ };
          this.framesIn += 1;
          this.emit('frame');
        }
        problem = 'the stream ended';
      } catch (error) {
        if (this.closed) return;
        problem = isUserError(error)
          ? error.message
          : `internal error: ${error instanceof Error ? error.message : String(error)}`;
        if (!this.input.reconnects || !isUserError(error)) {
          this.setStatus('failed', problem);
          this.emit('frame');
          return;
        }
      } finally {
        this.source?.close();
        this.source = null;
      }
      if (this.closed) return;
      if (!this.input.reconnects) {
        this.setStatus('ended', undefined);
        this.emit('frame');
        return;
      }
      this.outages += 1;
      this.setStatus('outage', `${problem}; retrying in ${(backoffMs / 1000).toFixed(1)} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs);
        this.wakeBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeBackoff = null;
      backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
    }
  }
}
