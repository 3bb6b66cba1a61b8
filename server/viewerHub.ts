/**
 * The connected viewers. Each frame message is encoded once and offered to every viewer subscribed
 * to its stream; no viewer can slow the pipeline or another viewer down:
 *
 * - a viewer whose socket already holds `maxBufferedBytes` unsent (`ws.bufferedAmount`) gets nothing
 *   more until the socket drains; frames meanwhile wait in its own queue of `maxQueuedFrames`,
 *   where a new frame pushes out the oldest (counted in `dropped`);
 * - every `heartbeatMs` each viewer is pinged; one that has not answered the previous ping is closed
 *   (dead, or so stuck it reads nothing).
 *
 *   publish(streamId, bytes) ─▶ per viewer: [queue ≤ maxQueuedFrames] ─(bufferedAmount < max)─▶ ws.send
 *   events: 'control' (a viewer's ClientMessage), 'connected' / 'disconnected' (viewer count changed)
 */
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import type { ClientMessage, ServerMessage } from './wireFormat.js';

export interface ViewerHubOptions {
  readonly maxQueuedFrames?: number;
  readonly maxBufferedBytes?: number;
  readonly heartbeatMs?: number;
  /** The first message a viewer gets (the streams, the classes). */
  readonly hello: () => ServerMessage;
}

export interface ViewerHubEvents {
  control: [message: ClientMessage];
  connected: [viewers: number];
  disconnected: [viewers: number];
  /** Frames a viewer lost because it was too slow. */
  dropped: [streamId: string, count: number];
}

interface Viewer {
  readonly socket: WebSocket;
  subscribed: ReadonlySet<string> | '*';
  paused: boolean;
  alive: boolean;
  readonly queue: { streamId: string; bytes: Buffer }[];
  dropped: number;
}

export class ViewerHub extends EventEmitter<ViewerHubEvents> {
  private readonly viewers = new Set<Viewer>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxQueuedFrames: number;
  private readonly maxBufferedBytes: number;
  /** Frames all viewers together lost to slowness. */
  dropped = 0;

  constructor(private readonly options: ViewerHubOptions) {
    super();
    this.maxQueuedFrames = options.maxQueuedFrames ?? 2;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
    this.heartbeat = setInterval(() => this.checkAlive(), options.heartbeatMs ?? 15_000).unref();
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Bytes accepted by the sockets but not yet sent, over all viewers. */
  get bufferedBytes(): number {
    let total = 0;
    for (const viewer of this.viewers) total += viewer.socket.bufferedAmount;
    return total;
  }

  /** Everything held for viewers: unsent socket bytes plus the frames in their queues. */
  get pendingBytes(): number {
    let total = this.bufferedBytes;
    for (const viewer of this.viewers) for (const { bytes } of viewer.queue) total += bytes.length;
    return total;
  }

  add(socket: WebSocket): void {
    const viewer: Viewer = { socket, subscribed: '*', paused: false, alive: true, queue: [], dropped: 0 };
    this.viewers.add(viewer);
    socket.on('pong', () => (viewer.alive = true));
    socket.on('message', (data, isBinary) => this.onMessage(viewer, data.toString(), isBinary));
    socket.on('close', () => {
      if (this.viewers.delete(viewer)) this.emit('disconnected', this.viewers.size);
    });
    socket.on('error', () => socket.terminate());
    this.sendJson(viewer, this.options.hello());
    this.emit('connected', this.viewers.size);
  }

  publish(streamId: string, bytes: Buffer): void {
    for (const viewer of this.viewers) {
      if (viewer.paused || (viewer.subscribed !== '*' && !viewer.subscribed.has(streamId))) continue;
      viewer.queue.push({ streamId, bytes });
      if (viewer.queue.length > this.maxQueuedFrames) {
        const lost = viewer.queue.shift()!;
        viewer.dropped += 1;
        this.dropped += 1;
        this.emit('dropped', lost.streamId, 1);
      }
      this.pump(viewer);
    }
  }

  /** A text message to every viewer (stream status changes); small, so not queued. */
  broadcast(message: ServerMessage): void {
    for (const viewer of this.viewers) this.sendJson(viewer, message);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const viewer of this.viewers) viewer.socket.close(1001, 'server shutting down');
  }

  private pump(viewer: Viewer): void {
    const { socket } = viewer;
    while (viewer.queue.length > 0 && socket.readyState === socket.OPEN && socket.bufferedAmount < this.maxBufferedBytes) {
      const { bytes } = viewer.queue.shift()!;
      // The callback runs once ws has handed the bytes to the kernel: room for the next frame.
      socket.send(bytes, { binary: true }, () => this.pump(viewer));
    }
  }

  private sendJson(viewer: Viewer, message: ServerMessage): void {
    if (viewer.socket.readyState === viewer.socket.OPEN) viewer.socket.send(JSON.stringify(message));
  }

  private onMessage(viewer: Viewer, text: string, isBinary: boolean): void {
    let message: ClientMessage;
    try {
      if (isBinary) throw new Error('binary');
      message = JSON.parse(text) as ClientMessage;
    } catch {
      this.sendJson(viewer, { type: 'error', message: 'control messages are JSON text, e.g. {"type":"pause","paused":true}' });
      return;
    }
    switch (message.type) {
      case 'subscribe':
        viewer.subscribed = message.streams === '*' ? '*' : new Set(message.streams);
        viewer.queue.length = 0;
        break;
      case 'pause':
        viewer.paused = Boolean(message.paused);
        if (viewer.paused) viewer.queue.length = 0;
        break;
      case 'ping':
        this.sendJson(viewer, { type: 'pong', t0: message.t0, serverTime: Date.now() });
        break;
      case 'crf':
        this.emit('control', message);
        break;
      default:
        this.sendJson(viewer, { type: 'error', message: `unknown message type ${JSON.stringify((message as { type?: unknown }).type)}` });
    }
  }

  private checkAlive(): void {
    for (const viewer of this.viewers) {
      if (!viewer.alive) {
        viewer.socket.terminate();
        continue;
      }
      viewer.alive = false;
      viewer.socket.ping();
    }
  }
}
