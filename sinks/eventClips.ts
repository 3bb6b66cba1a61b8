/**
 * `serve --clips DIR`: a ClipRing per stream, a clip per `zone.occupied` event, and the folder kept
 * under `--clips-max-gb` (the oldest clips removed first). Clips are named after their event
 * (`<stream>-<zone>-<UTC time>.mp4`, letters, digits, `.`, `_`, `-` only) and served by the server
 * at `/api/clips/<name>`.
 *
 *   clips.push(segmentation)                   every published frame
 *   clips.clipFor(stream, zone, capturedAt)    → the clip's name (written some seconds later)
 */
import { mkdirSync, promises as fs, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Segmentation } from '../core/frames.js';
import { CLIP_NAME } from '../zones/zoneEvent.js';
import { ClipRing, type ClipRingOptions } from './clipRing.js';

export interface EventClipsOptions {
  readonly dir: string;
  readonly preSeconds: number;
  readonly postSeconds: number;
  readonly maxBytes: number;
  readonly overlay?: ClipRingOptions['overlay'];
  readonly log: (line: string) => void;
}

export class EventClips {
  private readonly rings = new Map<string, ClipRing>();
  private readonly ringsDir: string;
  /** Clips asked for and not yet written: their names, and when they should be ready (epoch ms). */
  private readonly recording = new Map<string, number>();

  constructor(private readonly o: EventClipsOptions) {
    mkdirSync(o.dir, { recursive: true });
    this.ringsDir = path.join(o.dir, `.rings-${process.pid}`);
    // A dead server's rings are of no use to anyone.
    for (const entry of readdirSync(o.dir))
      if (entry.startsWith('.rings-')) rmSync(path.join(o.dir, entry), { recursive: true, force: true });
  }

  push(segmentation: Segmentation): void {
    const stream = segmentation.frame.streamId;
    let ring = this.rings.get(stream);
    if (!ring) {
      ring = new ClipRing({
        ringDir: path.join(this.ringsDir, encodeURIComponent(stream)),
        clipsDir: this.o.dir,
        preSeconds: this.o.preSeconds,
        postSeconds: this.o.postSeconds,
        ...(this.o.overlay ? { overlay: this.o.overlay } : {}),
        log: (line) => this.o.log(`stream ${stream}: ${line}`),
      });
      this.rings.set(stream, ring);
    }
    ring.push(segmentation);
  }

  /** Starts a clip of the stream around the frame captured at `capturedAt` (performance.now() ms); its name, or undefined when there is no ring. */
  clipFor(stream: string, zone: string, capturedAt: number, atIso: string): string | undefined {
    const ring = this.rings.get(stream);
    if (!ring) return undefined;
    const stamp = atIso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const base = `${stream}-${zone}`.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 150);
    let name = `${base}-${stamp}.mp4`;
    for (let n = 2; this.recording.has(name); n++) name = `${base}-${stamp}-${n}.mp4`;
    this.recording.set(name, Date.now() + (this.o.postSeconds + 2) * 1000);
    void ring.clip(capturedAt, name).then(async (file) => {
      this.recording.delete(name);
      if (file) await this.keepUnderCap();
    });
    return name;
  }

  /** When a clip asked for is expected (epoch ms), or undefined when none of that name is being recorded. */
  readyAt(name: string): number | undefined {
    return this.recording.get(name);
  }

  async removeStream(stream: string): Promise<void> {
    const ring = this.rings.get(stream);
    this.rings.delete(stream);
    await ring?.close();
  }

  async close(): Promise<void> {
    await Promise.all([...this.rings.values()].map((r) => r.close()));
    this.rings.clear();
    rmSync(this.ringsDir, { recursive: true, force: true });
  }

  /** Oldest clips removed first until the folder is under the cap. */
  private async keepUnderCap(): Promise<void> {
    const clips = [];
    for (const entry of await fs.readdir(this.o.dir)) {
      if (!CLIP_NAME.test(entry)) continue;
      const stat = await fs.stat(path.join(this.o.dir, entry)).catch(() => null);
      if (stat?.isFile()) clips.push({ file: path.join(this.o.dir, entry), bytes: stat.size, at: stat.mtimeMs });
    }
    let total = clips.reduce((n, c) => n + c.bytes, 0);
    for (const clip of clips.sort((a, b) => a.at - b.at)) {
      if (total <= this.o.maxBytes) break;
      await fs.rm(clip.file, { force: true });
      total -= clip.bytes;
      this.o.log(`clips: removed ${path.basename(clip.file)}, the oldest, to stay under --clips-max-gb`);
    }
  }
}
