/**
 * The model used when no `--model` is given, materialised once into the user's cache directory
 * (nothing is downloaded; nothing binary is committed).
 *
 * For now this is the DeepLab v3 MobileNet-sized graph from `deeplabBuilder` with seeded weights:
 * it has DeepLab's real shapes and costs but has not been trained, so its labels are not
 * meaningful. The pretrained person/background default replaces it when the TFLite importer lands.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDeepLab } from './deeplabBuilder.js';

export const DEFAULT_MODEL_NAME = 'deeplabv3-mobilenet-seeded-v1.onnx';

export function cacheDirectory(): string {
  const explicit = process.env['DEEPLAB_STREAM_CACHE'];
  if (explicit) return explicit;
  const xdg = process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'deeplab-stream');
}

export function defaultModelPath(): string {
  const dir = cacheDirectory();
  const file = path.join(dir, DEFAULT_MODEL_NAME);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, buildDeepLab({ variant: 'mobilenet', classes: 21, seed: 2026 }));
  renameSync(partial, file);
  return file;
}
