/**
 * `--webhook URL`: every zone event POSTed as JSON, in order, signed, retried — and never in the
 * pipeline's way. Events wait in a bounded queue (the oldest dropped and counted when it is full);
 * one request at a time, each cut after `timeoutMs`; a failure (no answer, or not 2xx) is retried
 * after 0.5 s, 1 s, 2 s … up to `maxBackoffMs`, `attempts` times in all, then dropped (counted, told
 * once per run of failures). A receiver that hangs or answers 500 forever costs its own events only.
 *
 *   POST URL
 *   content-type: application/json
 *   x-deeplab-event: zone.occupied
 *   x-deeplab-signature: sha256=<hex HMAC-SHA256 of the body with --webhook-secret>
 *   {"type":"zone.occupied","stream":"cam",…}
 */
import { createHmac } from 'node:crypto';
import type { ZoneEvent } from '../zones/zoneTracker.js';

export interface WebhookOptions {
  readonly url: string;
  /** Signs each body; absent: no signature header. */
  readonly secret?: string;
  readonly maxQueued?: number;
  readonly attempts?: number;
  readonly timeoutMs?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onDropped: (count: number) => void;
  readonly log: (line: string) => void;
}

/** The signature header's value for a body: what a receiver recomputes with the shared secret. */
export function webhookSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class WebhookSender {
  private readonly queue: ZoneEvent[] = [];
  private sending = false;
  private closed = false;
  private failing = false;
  private readonly abort = new AbortController();
  private wakeBackoff: (() => void) | null = null;
  /** Events delivered (2xx), for tests and the log. */
  delivered = 0;

  constructor(private readonly options: WebhookOptions) {}

  send(event: ZoneEvent): void {
    if (this.closed) return;
    this.queue.push(event);
    if (this.queue.length > (this.options.maxQueued ?? 1000)) {
      this.queue.shift();
      this.options.onDropped(1);
    }
    if (!this.sending) void this.drain();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    this.wakeBackoff?.();
    this.queue.length = 0;
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (!this.closed && this.queue.length > 0) {
      const event = this.queue[0]!;
      const delivered = await this.deliver(event);
      if (this.closed) break;
      this.queue.shift();
      if (delivered) this.delivered += 1;
      else this.options.onDropped(1);
    }
    this.sending = false;
  }

  /** One event, with its retries; false once they are spent. */
  private async deliver(event: ZoneEvent): Promise<boolean> {
    const body = JSON.stringify(event);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-deeplab-event': event.type };
    if (this.options.secret) headers['x-deeplab-signature'] = webhookSignature(body, this.options.secret);
    const attempts = this.options.attempts ?? 6;
    let backoff = this.options.initialBackoffMs ?? 500;
    let reason = '';
    for (let attempt = 1; attempt <= attempts && !this.closed; attempt++) {
      try {
        const response = await fetch(this.options.url, {
          method: 'POST',
          headers,
          body,
          redirect: 'error',
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.options.timeoutMs ?? 5000)]),
        });
        await response.body?.cancel();
        if (response.ok) {
          if (this.failing) this.options.log(`webhook: delivering again`);
          this.failing = false;
          return true;
        }
        reason = `answered ${response.status}`;
      } catch (error) {
        reason = (error as Error).name === 'TimeoutError' ? 'no answer in time' : (error as Error).message;
      }
      if (attempt < attempts) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff);
          this.wakeBackoff = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        backoff = Math.min(backoff * 2, this.options.maxBackoffMs ?? 30_000);
      }
    }
    if (!this.failing && !this.closed)
      this.options.log(
        `webhook: an event was not delivered after ${attempts} tries (${reason}); later ones are still tried`,
      );
    this.failing = true;
    return false;
  }
}
