/**
 * The live streams of one pipeline, which may change while it runs: a server adds and removes
 * streams over its API. The set tells its reader when any stream has a frame waiting, and whether
 * it is over: a set that was not kept open ends once every stream in it has finished (`serve
 * a.mp4` exits when the file ends); one kept open (a server that takes streams over its API)
 * waits for more.
 *
 *   const set = new LiveStreamSet([a, b]);  set.start();
 *   set.add(c);  set.remove('a');  set.on('frame', wake);  set.streams → [b, c]
 */
import { EventEmitter } from 'node:events';
import type { LiveStream } from './liveStream.js';

export interface LiveStreamSetEvents {
  /** A stream has a frame waiting, or the set changed (a reader waiting for frames looks again). */
  frame: [];
  /** A stream left the set (what was kept for it can go). */
  removed: [id: string];
}

export class LiveStreamSet extends EventEmitter<LiveStreamSetEvents> {
  private list: LiveStream[] = [];
  private started = false;
  private closed = false;
  private readonly onFrame = () => this.emit('frame');

  constructor(
    streams: readonly LiveStream[] = [],
    private keptOpen = false,
  ) {
    super();
    for (const stream of streams) this.add(stream);
  }

  get streams(): readonly LiveStream[] {
    return this.list;
  }

  get(id: string): LiveStream | undefined {
    return this.list.find((s) => s.id === id);
  }

  /** No frame will come any more: closed, or not kept open and every stream finished. */
  get finished(): boolean {
    return this.closed || (!this.keptOpen && this.list.every((s) => s.finished));
  }

  /** From now on the set waits for streams even when none is left running. */
  keepOpen(): void {
    this.keptOpen = true;
  }

  add(stream: LiveStream): void {
    if (this.closed) {
      stream.close();
      return;
    }
    this.list.push(stream);
    stream.on('frame', this.onFrame);
    if (this.started) stream.start();
    this.emit('frame');
  }

  /** Closes and forgets the stream; false when there is none by that id. */
  remove(id: string): boolean {
    const stream = this.get(id);
    if (!stream) return false;
    this.list = this.list.filter((s) => s !== stream);
    stream.off('frame', this.onFrame);
    stream.close();
    this.emit('frame');
    this.emit('removed', id);
    return true;
  }

  start(): void {
    this.started = true;
    for (const stream of this.list) stream.start();
  }

  close(): void {
    this.closed = true;
    for (const stream of this.list) {
      stream.off('frame', this.onFrame);
      stream.close();
    }
    this.emit('frame');
  }
}
