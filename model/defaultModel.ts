/**
 * The model used when no `--model` is given: MediaPipe's selfie segmentation (person /
 * background, Apache-2.0), shipped as TFLite in the npm package `@mediapipe/selfie_segmentation`,
 * imported to ONNX on first use and cached in the user's cache directory. Nothing is downloaded
 * and no binary model is committed.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { EnvironmentError } from '../core/errors.js';
import { IMPORTER_VERSION, importTflite } from './tflite/importTflite.js';
import { settings } from '../core/settings.js';

const PACKAGE = '@mediapipe/selfie_segmentation';

/** The TFLite file inside the npm package, and the package's version (part of the cache key). */
export function defaultModelSource(): { tflite: string; version: string } {
  const require = createRequire(import.meta.url);
  try {
    const manifest = require.resolve(`${PACKAGE}/package.json`);
    const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
    return { tflite: path.join(path.dirname(manifest), 'selfie_segmentation.tflite'), version };
  } catch {
    throw new EnvironmentError(
      `the default model's package ${PACKAGE} is not installed: run \`npm install\`, or pass --model`,
    );
  }
}

export function defaultModelPath(): string {
  const { tflite, version } = defaultModelSource();
  const dir = settings().cacheDir;
  // The package's version and the importer's: a new importer makes the import again.
  const file = path.join(dir, `mediapipe-selfie-segmentation-${version}-i${IMPORTER_VERSION}.onnx`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.partial-${process.pid}`;
  writeFileSync(partial, importTflite(readFileSync(tflite), tflite));
  renameSync(partial, file);
  return file;
}
