/**
 * A video cut into chunks at keyframes without re-encoding (ffmpeg's segment muxer, stream copy),
 * each chunk decodable on its own, every packet in exactly one chunk.
 *
 *   splitAtKeyframes('in.mp4', dir, 10) → [{ file: dir/chunk_00000.mkv, startSeconds: 0 }, { …, startSeconds: 10.04 }, …]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import { locateFfmpeg } from '../io/ffmpeg.js';

export interface VideoChunk {
  readonly file: string;
  /** Where the chunk begins in the input's timeline (its first frame's time). */
  readonly startSeconds: number;
}

/** Chunks of about `chunkSeconds` (each one ends at the first keyframe after that). */
export async function splitAtKeyframes(input: string, dir: string, chunkSeconds: number): Promise<VideoChunk[]> {
  const { ffmpeg } = locateFfmpeg();
  const list = path.join(dir, 'chunks.csv');
  const args = [
    '-v',
    'error',
    '-nostdin',
    '-i',
    input,
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'segment',
    '-segment_time',
    String(chunkSeconds),
    '-reset_timestamps',
    '1',
    '-segment_list',
    list,
    '-segment_list_type',
    'csv',
    path.join(dir, 'chunk_%05d.mkv'),
  ];
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr.on('data', (d: Buffer) => (text = (text + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(text)
        : reject(
            new InputError(
              `cannot cut ${input} into chunks: ${text.trim().split('\n').pop() || `ffmpeg exited with ${code}`}`,
            ),
          ),
    );
  });
  const chunks = readFileSync(list, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [file, start] = line.split(',');
      return { file: path.join(dir, file!), startSeconds: Number(start) };
    });
  if (chunks.length === 0 || chunks.some((c) => !Number.isFinite(c.startSeconds)))
    throw new InputError(`cannot cut ${input} into chunks (${stderr.trim() || 'ffmpeg listed none'})`);
  return chunks;
}
