/**
 * `GET /api/events`: zone events as Server-Sent Events, to any number of readers (up to a cap).
 * A reader that does not keep up costs only its own events: once its socket holds more than
 * `maxBufferedBytes` unsent, its next events are dropped (counted) until it drains — the pipeline
 * and the other readers never wait for it. A comment line every `heartbeatMs` keeps proxies from
 * closing an idle stream.
 *
 *   id: 7
 *   event: zone.occupied
 *   data: {"type":"zone.occupied","stream":"cam","zone":"crossing",…}
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ZoneEvent } from '../zones/zoneTracker.js';

export interface EventStreamOptions {
  readonly maxReaders?: number;
  readonly maxBufferedBytes?: number;
  readonly heartbeatMs?: number;
  /** Events a slow reader missed. */
  readonly onDropped: (count: number) => void;
}

export class EventStream {
  private readonly readers = new Set<ServerResponse>();
  private nextId = 1;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly options: EventStreamOptions) {
    this.heartbeat = setInterval(() => {
      for (const reader of this.readers) reader.write(': keep-alive\n\n');
    }, options.heartbeatMs ?? 15_000).unref();
  }

  get readerCount(): number {
    return this.readers.size;
  }

  /** Takes the request over; false (answered 503) when there are readers enough. */
  add(request: IncomingMessage, response: ServerResponse): boolean {
    if (this.readers.size >= (this.options.maxReaders ?? 64)) {
      response
        .writeHead(503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify({ error: 'too many event readers: close one' })}\n`);
      return false;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    response.write(': deeplab-stream zone events\n\n');
    this.readers.add(response);
    const forget = () => this.readers.delete(response);
    request.on('close', forget);
    response.on('error', forget);
    return true;
  }

  publish(event: ZoneEvent): void {
    if (this.readers.size === 0) return;
    const text = `id: ${this.nextId++}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
    const cap = this.options.maxBufferedBytes ?? 256 * 1024;
    let dropped = 0;
    for (const reader of this.readers) {
      if (reader.writableLength > cap) dropped += 1;
      else reader.write(text);
    }
    if (dropped > 0) this.options.onDropped(dropped);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const reader of this.readers) reader.end();
    this.readers.clear();
  }
}
