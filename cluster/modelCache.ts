/**
 * A worker's models: fetched from the object store once per machine into the cache under their
 * content's name (`models/<sha256>.onnx`, nothing else), the size checked before the download
 * and while it runs, hashed as it streams, a partial file removed on every path; the cache kept
 * under a size (the least recently used models go first).
 *
 *   const file = await cachedModel(cluster, { object: 'models/<sha256>.onnx' }, { maxBytes: 1 << 30, cacheBytes: 4 << 30 });
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { ClusterError } from '../core/errors.js';
import { settings } from '../core/settings.js';
import type { Cluster } from './natsCluster.js';

export interface ModelCacheLimits {
  /** The largest model this worker fetches. */
  readonly maxBytes: number;
  /** The cache's size, beyond which the least recently used models are removed. */
  readonly cacheBytes: number;
}

export const DEFAULT_MODEL_CACHE_LIMITS: ModelCacheLimits = { maxBytes: 1 << 30, cacheBytes: 4 * (1 << 30) };

const MODEL_OBJECT = /^models\/([0-9a-f]{64})\.onnx$/;

const modelDirectory = () => path.join(settings().cacheDir, 'cluster');

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** A model file of this machine copied into the cache where jobs that use it will look (`worker --model`). */
export async function seedModelCache(modelPath: string): Promise<void> {
  const dir = modelDirectory();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${await sha256Of(modelPath)}.onnx`);
  if (existsSync(file)) return;
  const partial = `${file}.partial-${process.pid}`;
  try {
    copyFileSync(modelPath, partial);
    renameSync(partial, file);
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * The task's model in the cache. Its sidecar's settings travel in the task (`run.modelOverrides`),
 * never beside it here.
 */
export async function cachedModel(
  cluster: Cluster,
  model: { readonly object: string },
  limits: ModelCacheLimits,
): Promise<string> {
  const sha = MODEL_OBJECT.exec(model.object)?.[1];
  if (!sha) throw new ClusterError('the task names its model not as models/<sha256>.onnx; refused');
  const dir = modelDirectory();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${sha}.onnx`);
  if (existsSync(file)) {
    const now = new Date();
    utimesSync(file, now, now); // used: the last to go when the cache is full
    return file;
  }
  const info = await cluster.objects.info(model.object);
  if (!info)
    throw new ClusterError(`${model.object} is not in the cluster's object store (expired, or removed by its client)`);
  if (info.size > limits.maxBytes)
    throw new ClusterError(
      `the model is ${mib(info.size)}, over this worker's cap of ${mib(limits.maxBytes)} (--max-model-mb)`,
    );
  const result = await cluster.objects.get(model.object);
  if (!result)
    throw new ClusterError(`${model.object} is not in the cluster's object store (expired, or removed by its client)`);
  const partial = `${file}.partial-${process.pid}`;
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    const checked = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > limits.maxBytes)
          return done(
            new ClusterError(
              `the model grew past this worker's cap of ${mib(limits.maxBytes)} while it downloaded; refused`,
            ),
          );
        hash.update(chunk);
        done(null, chunk);
      },
    });
    await pipeline(
      Readable.fromWeb(result.data as unknown as NodeReadableStream<Uint8Array>),
      checked,
      createWriteStream(partial),
    );
    const failure = await result.error;
    if (failure) throw new ClusterError(`reading the model from the object store failed (${failure.message})`);
    const actual = hash.digest('hex');
    if (actual !== sha)
      throw new ClusterError(`${model.object} in the object store does not match its name (sha256 ${actual})`);
    renameSync(partial, file);
  } finally {
    rmSync(partial, { force: true });
  }
  pruneCache(dir, limits.cacheBytes, file);
  return file;
}

const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;

/** Removes the least recently used models until the cache fits (never `keep`, the one just fetched). */
function pruneCache(dir: string, cacheBytes: number, keep: string): void {
  const models = readdirSync(dir)
    .filter((name) => /^[0-9a-f]{64}\.onnx$/.test(name))
    .map((name) => {
      const file = path.join(dir, name);
      const stat = statSync(file);
      return { file, size: stat.size, used: stat.mtimeMs };
    })
    .sort((a, b) => a.used - b.used);
  let total = models.reduce((sum, m) => sum + m.size, 0);
  for (const model of models) {
    if (total <= cacheBytes) break;
    if (model.file === keep) continue;
    rmSync(model.file, { force: true });
    total -= model.size;
  }
}
