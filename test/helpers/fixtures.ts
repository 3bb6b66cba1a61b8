/** Small real inputs for tests: lavfi clips from ffmpeg and generated ONNX models in a temp dir. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDeepLab, type DeepLabOptions } from './deeplabBuilder.js';
import { ONNX_INT64, ONNX_UINT8, OnnxGraphBuilder } from '../../model/onnxGraph.js';
import { generateClip, type ClipOptions } from '../../sources/generateClip.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'dist/cli/main.js');

export function tempDir(prefix = 'dls-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeModel(dir: string, options: DeepLabOptions = {}, name = 'tiny.onnx'): string {
  const file = path.join(dir, name);
  writeFileSync(file, buildDeepLab({ variant: 'tiny', ...options }));
  return file;
}

export async function writeClip(dir: string, name: string, options: Partial<ClipOptions> = {}): Promise<string> {
  return generateClip(path.join(dir, name), { width: 160, height: 96, fps: 25, frames: 10, ...options });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI as a user would; `onSpawn` gets the child (to send it signals). */
export function runCli(
  args: readonly string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    onSpawn?: (child: ReturnType<typeof spawn>) => void;
    stdin?: boolean;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, DEEPLAB_STREAM_CACHE: path.join(os.tmpdir(), 'dls-test-cache'), ...options.env },
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    options.onSpawn?.(child);
  });
}

/** Frames in a video as ffprobe counts them by decoding. */
export async function countFrames(file: string): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('ffprobe', [
      '-v',
      'error',
      '-count_frames',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=nb_read_frames',
      '-of',
      'csv=p=0',
      file,
    ]);
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  return Number(out.trim());
}

/** A TF-DeepLab-like model: uint8 NHWC pixels in, int64 argmax over the colour channels out (red 0, green 1, blue 2). */
export function argmaxModelBytes(): Uint8Array {
  const g = new OnnxGraphBuilder();
  const x = g.input('ImageTensor', [1, 'height', 'width', 3], ONNX_UINT8, 3);
  const [f] = g.node('Cast', [x], [OnnxGraphBuilder.int('to', 1)]);
  const [labels] = g.node('ArgMax', [f!], [OnnxGraphBuilder.int('axis', 3), OnnxGraphBuilder.int('keepdims', 0)]);
  g.rename(labels!, 'SemanticPredictions');
  g.output('SemanticPredictions', [1, 'height', 'width'], ONNX_INT64);
  return g.toBytes('tf_deeplab_like');
}

/** Runs `run` with one environment variable set (in-process), then puts it back. */
export async function withEnvironment<T>(name: string, value: string, run: () => Promise<T>): Promise<T> {
  const previous = process.env[name];
  process.env[name] = value;
  try {
    return await run();
  } finally {
    if (previous === undefined) delete process.env[name];
    else process.env[name] = previous;
  }
}

/** Runs `run` with DEEPLAB_STREAM_CACHE pointing at `cache` (in-process), then puts it back. */
export function withCacheDirectory<T>(cache: string, run: () => Promise<T>): Promise<T> {
  return withEnvironment('DEEPLAB_STREAM_CACHE', cache, run);
}

/** A temp folder that cannot hold a socket or file: os.tmpdir() while `run` runs. */
export function withUnusableTempFolder<T>(run: () => Promise<T>): Promise<T> {
  return withEnvironment('TMPDIR', '/nonexistent-deeplab-stream-dir', run);
}
