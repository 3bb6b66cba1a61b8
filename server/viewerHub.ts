/**
 * The connected viewers. Each frame message is encoded once and offered to every viewer subscribed
 * to its stream; no viewer can slow the pipeline, another viewer, or the process down:
 *
 * - every byte queued for a viewer counts against its cap: a viewer whose socket already holds
 *   `maxBufferedBytes` unsent (`ws.bufferedAmount`) gets nothing more until the socket drains;
 *   frames meanwhile wait in its own queue of `maxQueuedFrames`, where a new frame pushes out the
 *   oldest (counted in `dropped`); of the text replies only the latest stream list waits, pongs and
 *   error replies are dropped;
 * - every control message is checked (`viewerProtocol.ts`); a malformed one is answered with an
 *   error and counted (`rejected`), and a viewer that sends `maxBadMessages` of them between two
 *   heartbeats is closed with 1008 (policy violation);
 * - every `heartbeatMs` each viewer is pinged with a fresh payload; one that has not echoed the
 *   previous ping's payload is closed (dead, stuck, or sending pongs of its own to look alive);
 * - an error in one viewer's handler closes that viewer (1011), never the hub.
 *
 *   publish(streamId, bytes) ─▶ per viewer: [queue ≤ maxQueuedFrames] ─(bufferedAmount < max)─▶ ws.send
 *   events: 'control' (a valid ClientMessage), 'rejected' (a malformed one), 'connected' / 'disconnected'
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { parseClientMessage } from './viewerProtocol.js';
import type { ClientMessage, ServerMessage } from './wireFormat.js';

export interface ViewerHubOptions {
  readonly maxQueuedFrames?: number;
  readonly maxBufferedBytes?: number;
  readonly heartbeatMs?: number;
  /** Malformed control messages a viewer may send between two heartbeats before it is closed. */
  readonly maxBadMessages?: number;
  /** The first message a viewer gets (the streams, the classes). */
  readonly hello: () => ServerMessage;
}

export interface ViewerHubEvents {
  control: [message: ClientMessage];
  /** A control message that was refused (and why); the viewer got an error reply. */
  rejected: [reason: string];
  connected: [viewers: number];
  disconnected: [viewers: number];
  /** Frames a viewer lost because it was too slow. */
  dropped: [streamId: string, count: number];
}

/** WebSocket close codes the hub uses (RFC 6455 §7.4.1). */
export const CLOSE_CODES = { goingAway: 1001, policyViolation: 1008, internalError: 1011 } as const;

interface Viewer {
  readonly socket: WebSocket;
  subscribed: ReadonlySet<string> | '*';
  paused: boolean;
  /** The payload of the last ping; null once the viewer echoed it. */
  awaitedPong: Buffer | null;
  readonly queue: { streamId: string; bytes: Buffer }[];
  /** The latest stream list, waiting for room in the socket (an older one is replaced). */
  pendingText: string | null;
  badMessages: number;
  dropped: number;
}

export class ViewerHub extends EventEmitter<ViewerHubEvents> {
  private readonly viewers = new Set<Viewer>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly maxQueuedFrames: number;
  private readonly maxBufferedBytes: number;
  private readonly maxBadMessages: number;
  /** Frames all viewers together lost to slowness. */
  dropped = 0;

  constructor(private readonly options: ViewerHubOptions) {
    super();
    this.maxQueuedFrames = options.maxQueuedFrames ?? 2;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
    this.maxBadMessages = options.maxBadMessages ?? 10;
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

  /** Everything held for viewers: unsent socket bytes plus the frames and text in their queues. */
  get pendingBytes(): number {
    let total = this.bufferedBytes;
    for (const viewer of this.viewers) {
      for (const { bytes } of viewer.queue) total += bytes.length;
      total += viewer.pendingText?.length ?? 0;
    }
    return total;
  }

  add(socket: WebSocket): void {
    const viewer: Viewer = {
      socket,
      subscribed: '*',
      paused: false,
      awaitedPong: null,
      queue: [],
      pendingText: null,
      badMessages: 0,
      dropped: 0,
    };
    this.viewers.add(viewer);
    socket.on('pong', (data) => {
      if (viewer.awaitedPong?.equals(data)) viewer.awaitedPong = null;
    });
    socket.on('message', (data, isBinary) => this.guarded(viewer, () => this.onMessage(viewer, data, isBinary)));
    socket.on('close', () => {
      viewer.queue.length = 0;
      if (this.viewers.delete(viewer)) this.emit('disconnected', this.viewers.size);
    });
    // ws closes the socket itself after a protocol error (1002, 1009 too big …): nothing to add.
    socket.on('error', () => {});
    this.sendText(viewer, JSON.stringify(this.options.hello()), 'keep');
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
      this.guarded(viewer, () => this.pump(viewer));
    }
  }

  /** The stream list to every viewer; a viewer with no room gets the latest one when it drains. */
  broadcast(message: ServerMessage): void {
    const text = JSON.stringify(message);
    for (const viewer of this.viewers) this.sendText(viewer, text, 'latest');
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const viewer of this.viewers) viewer.socket.close(CLOSE_CODES.goingAway, 'server shutting down');
  }

  private hasRoom(viewer: Viewer, bytes: number): boolean {
    const { socket } = viewer;
    return socket.readyState === socket.OPEN && socket.bufferedAmount + bytes <= this.maxBufferedBytes;
  }

  private pump(viewer: Viewer): void {
    const { socket } = viewer;
    if (viewer.pendingText !== null && this.hasRoom(viewer, viewer.pendingText.length)) {
      const text = viewer.pendingText;
      viewer.pendingText = null;
      socket.send(text);
    }
    // A frame goes out while the socket holds less than the cap, so one frame larger than the cap still passes.
    while (viewer.queue.length > 0 && this.hasRoom(viewer, 0)) {
      const { bytes } = viewer.queue.shift()!;
      // The callback runs once ws has handed the bytes to the kernel: room for the next frame.
      socket.send(bytes, { binary: true }, () => this.guarded(viewer, () => this.pump(viewer)));
    }
  }

  /**
   * A text message within the viewer's cap. Without room: 'keep' (hello) and 'latest' (the stream
   * list) wait as the one pending text, 'drop' (pongs, error replies) is dropped.
   */
  private sendText(viewer: Viewer, text: string, whenFull: 'keep' | 'latest' | 'drop'): void {
    if (viewer.pendingText === null && this.hasRoom(viewer, text.length)) {
      viewer.socket.send(text);
      return;
    }
    if (whenFull === 'drop' || viewer.socket.readyState !== viewer.socket.OPEN) return;
    viewer.pendingText = text;
  }

  private onMessage(viewer: Viewer, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const parsed = parseClientMessage(data, isBinary);
    if (!parsed.ok) {
      this.emit('rejected', parsed.reason);
      viewer.badMessages += 1;
      if (viewer.badMessages >= this.maxBadMessages) {
        viewer.socket.close(CLOSE_CODES.policyViolation, 'too many malformed control messages');
        return;
      }
      this.sendText(viewer, JSON.stringify({ type: 'error', message: parsed.reason } satisfies ServerMessage), 'drop');
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'subscribe':
        viewer.subscribed = message.streams === '*' ? '*' : new Set(message.streams);
        viewer.queue.length = 0;
        break;
      case 'pause':
        viewer.paused = message.paused;
        if (viewer.paused) viewer.queue.length = 0;
        break;
      case 'ping':
        this.sendText(
          viewer,
          JSON.stringify({ type: 'pong', t0: message.t0, serverTime: Date.now() } satisfies ServerMessage),
          'drop',
        );
        break;
      case 'crf':
        this.emit('control', message);
        break;
    }
  }

  /** Runs one viewer's handler: whatever it throws closes that viewer only. */
  private guarded(viewer: Viewer, handler: () => void): void {
    try {
      handler();
    } catch {
      viewer.queue.length = 0;
      viewer.socket.close(CLOSE_CODES.internalError, 'internal error');
    }
  }

  private checkAlive(): void {
    for (const viewer of this.viewers) {
      viewer.badMessages = 0;
      if (viewer.awaitedPong) {
        viewer.socket.terminate();
        continue;
      }
      viewer.awaitedPong = randomBytes(8);
      viewer.socket.ping(viewer.awaitedPong);
    }
  }
}
