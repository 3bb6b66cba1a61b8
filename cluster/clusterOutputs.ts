/**
 * A cluster run's outputs on the client (`segment --nats`): the overlay video, masks and frame
 * lines, each under a partial name, filled chunk by chunk in order as the workers' results arrive,
 * and renamed into place only when every chunk is in (the chunks' videos joined by ffmpeg).
 */
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runFfmpeg } from '../io/ffmpeg.js';
import { commitPartial, createPartialFile, discardPartial, ioReason } from '../io/partialFile.js';
import { commitMasks, maskFileName, openMasksDirectory } from '../sinks/maskPngSink.js';
import { ClusterError, OutputError } from '../core/errors.js';
import { unbundle } from './maskBundle.js';
import type { Cluster } from './natsCluster.js';
import type { ChunkDone } from './protocol.js';

/** Where a run's outputs go (any of them). */
export interface ClusterOutputPaths {
  readonly outputPath?: string | undefined;
  readonly masksDir?: string | undefined;
  readonly framesJsonPath?: string | undefined;
}

/** The run's outputs under their partial names, filled chunk by chunk in order. */
export class ClusterOutputs {
  readonly paths: { readonly video?: string; readonly masks?: string; readonly framesJson?: string };
  private readonly framesPartial: string | null;
  private readonly masksPartial: string | null;
  private readonly videoPartial: string | null;
  private readonly videoChunks: string[] = [];

  constructor(private readonly o: ClusterOutputPaths) {
    this.paths = {
      ...(o.outputPath ? { video: o.outputPath } : {}),
      ...(o.masksDir ? { masks: o.masksDir } : {}),
      ...(o.framesJsonPath ? { framesJson: o.framesJsonPath } : {}),
    };
    this.framesPartial = o.framesJsonPath ? createPartialFile(o.framesJsonPath, '--frames-json file') : null;
    this.masksPartial = o.masksDir ? openMasksDirectory(o.masksDir) : null;
    this.videoPartial = o.outputPath ? createPartialFile(o.outputPath, 'output video') : null;
  }

  /** One chunk's results at frame `offset` and `offsetSeconds` into the input; returns its frame count. */
  async append(
    cluster: Cluster,
    done: Extract<ChunkDone, { ok: true }>,
    offset: number,
    offsetSeconds: number,
  ): Promise<number> {
    const lines = new TextDecoder()
      .decode(await cluster.getBytes(done.objects.frames))
      .split('\n')
      .filter(Boolean);
    if (lines.length !== done.frames)
      throw new ClusterError(
        `worker ${done.worker} sent ${lines.length} frame lines for chunk ${done.chunk + 1} but said ${done.frames}`,
      );
    if (this.framesPartial) {
      const renumbered = lines.map((line, i) => {
        let frame: { index?: unknown; ptsMs?: unknown };
        try {
          frame = JSON.parse(line) as typeof frame;
        } catch {
          throw new ClusterError(
            `worker ${done.worker} sent chunk ${done.chunk + 1}'s frame lines malformed (not JSON)`,
          );
        }
        if (frame.index !== i || typeof frame.ptsMs !== 'number')
          throw new ClusterError(
            `worker ${done.worker} sent chunk ${done.chunk + 1}'s frames out of order or without times`,
          );
        return JSON.stringify({
          ...frame,
          index: offset + i,
          ptsMs: Math.round((offsetSeconds * 1000 + frame.ptsMs) * 1000) / 1000,
        });
      });
      this.write(
        () => appendFileSync(this.framesPartial!, renumbered.map((l) => `${l}\n`).join('')),
        '--frames-json file',
        this.o.framesJsonPath!,
      );
    }
    if (this.masksPartial) {
      if (!done.objects.masks)
        throw new ClusterError(`worker ${done.worker} sent no masks for chunk ${done.chunk + 1}`);
      let masks: Uint8Array[];
      try {
        masks = unbundle(await cluster.getBytes(done.objects.masks));
      } catch (error) {
        if (error instanceof ClusterError) throw error;
        throw new ClusterError(
          `worker ${done.worker} sent chunk ${done.chunk + 1}'s masks malformed (${(error as Error).message})`,
        );
      }
      if (masks.length !== done.frames)
        throw new ClusterError(
          `worker ${done.worker} sent ${masks.length} masks for chunk ${done.chunk + 1}'s ${done.frames} frames`,
        );
      this.write(
        () => masks.forEach((png, i) => writeFileSync(path.join(this.masksPartial!, maskFileName(offset + i)), png)),
        '--masks',
        this.o.masksDir!,
      );
    }
    if (this.videoPartial) {
      if (!done.objects.video)
        throw new ClusterError(`worker ${done.worker} sent no video for chunk ${done.chunk + 1}`);
      const file = path.join(
        path.dirname(this.videoPartial),
        `.${path.basename(this.videoPartial)}.chunk-${done.chunk}.mp4`,
      );
      this.videoChunks.push(file);
      await cluster.getFile(done.objects.video, file);
    }
    return done.frames;
  }

  private write(action: () => void, what: string, where: string): void {
    try {
      action();
    } catch (error) {
      throw new OutputError(`cannot write ${what} ${where} (${ioReason(error)})`);
    }
  }

  /** The chunk videos joined without re-encoding, then everything renamed into place. */
  async commit(scratch: string): Promise<void> {
    if (this.videoPartial) {
      const list = path.join(scratch, 'videos.txt');
      writeFileSync(list, this.videoChunks.map((f) => `file '${f.replace(/'/g, "'\\''")}'\n`).join(''));
      await joinVideos(list, this.videoPartial);
      for (const f of this.videoChunks) rmSync(f, { force: true });
      commitPartial(this.videoPartial, this.o.outputPath!, 'output video');
    }
    if (this.masksPartial) commitMasks(this.masksPartial, this.o.masksDir!);
    if (this.framesPartial) commitPartial(this.framesPartial, this.o.framesJsonPath!, '--frames-json file');
  }

  discard(): void {
    for (const f of this.videoChunks) rmSync(f, { force: true });
    for (const partial of [this.framesPartial, this.masksPartial, this.videoPartial])
      if (partial) discardPartial(partial);
  }
}

async function joinVideos(list: string, out: string): Promise<void> {
  await runFfmpeg(['-y', '-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy', '-movflags', '+faststart', out]).catch(
    (error: unknown) => {
      throw new OutputError(`cannot join the chunks' videos into ${out}: ${(error as Error).message}`);
    },
  );
}
