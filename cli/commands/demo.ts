/**
 * `demo`: real footage through the main job — the first 30 s of OpenCV's vtest.avi (pedestrians,
 * from Debian's opencv-doc; or `--input VIDEO`) segmented with the embedded default model, tiled so
 * people 60 px tall are seen at the model's size — and a line saying what was found where.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.js';
import { reportFailure, type SetExitCode } from '../failure.js';
import { positive, type SegmentFlags } from '../flags.js';
import { report, runSegment, segmentOptions } from './segment.js';

interface DemoFlags extends SegmentFlags {
  outDir: string;
  input?: string;
  seconds: number;
}

/** The first `seconds` of a video, without re-encoding. */
async function cut(input: string, seconds: number, output: string): Promise<string> {
  try {
    const { locateFfmpeg } = await import('../../io/ffmpeg.js');
    await promisify(execFile)(locateFfmpeg().ffmpeg, [
      '-nostdin',
      '-v',
      'error',
      '-y',
      '-i',
      input,
      '-t',
      String(seconds),
      '-map',
      '0:v:0',
      '-c',
      'copy',
      output,
    ]);
  } catch (error) {
    throw new InputError(
      `could not read ${input} (${(error as Error).message.trim().split('\n').at(-1)}): give a video ffmpeg can decode`,
    );
  }
  return output;
}

/**
 * What the run found: every class but background, one line each — in how many frames, its mean
 * share of the picture and its largest in one frame — so that a false class is seen, not hidden.
 */
function findings(framesJson: string): string {
  const lines = readFileSync(framesJson, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { width: number; height: number; pixels: Record<string, number> });
  const seen = new Map<string, { frames: number; share: number; most: number }>();
  for (const { width, height, pixels } of lines) {
    for (const [name, count] of Object.entries(pixels)) {
      const entry = seen.get(name) ?? { frames: 0, share: 0, most: 0 };
      const share = count / (width * height);
      seen.set(name, { frames: entry.frames + 1, share: entry.share + share, most: Math.max(entry.most, share) });
    }
  }
  const found = [...seen].filter(([name]) => name !== 'background').sort((a, b) => b[1].share - a[1].share);
  if (found.length === 0) return `found: nothing but background in ${lines.length} frames`;
  const width = Math.max(...found.map(([name]) => name.length));
  const percent = (share: number) => `${(100 * share).toFixed(share < 0.001 ? 2 : 1)}%`;
  return [
    `found in ${lines.length} frames:`,
    ...found.map(
      ([name, { frames, share, most }]) =>
        `  ${name.padEnd(width)}  in ${frames} of ${lines.length} frames, ${percent(share / lines.length)} of the picture on average, ${percent(most)} at most`,
    ),
  ].join('\n');
}

export function registerDemo(program: Command, setExitCode: SetExitCode): void {
  segmentOptions(
    program
      .command('demo')
      .description(
        "segment real footage with the default model: OpenCV's vtest.avi (fetched once from Debian's opencv-doc) or --input",
      )
      .option('--out-dir <dir>', 'where the clip and results go', 'out')
      .option('--input <video>', 'a video of your own instead of vtest.avi')
      .option('--seconds <s>', 'how much of the video', positive('--seconds'), 30),
  ).action(async (flags: DemoFlags) => {
    try {
      mkdirSync(flags.outDir, { recursive: true });
      const { demoFootage } = await import('../../sources/demoFootage.js');
      const source =
        flags.input ?? (await demoFootage(undefined, { onNote: (m) => process.stderr.write(`note: ${m}\n`) }));
      // The clip is cut beside its final name and put there only when the run succeeded: a failed demo leaves the last one's files as they were.
      const clipName = path.join(flags.outDir, `demo-input${path.extname(source) || '.mkv'}`);
      const partialClip = path.join(flags.outDir, `.demo-input.partial-${process.pid}${path.extname(clipName)}`);
      const framesJson = path.join(flags.outDir, 'demo.frames.jsonl');
      let summary: Awaited<ReturnType<typeof runSegment>>;
      try {
        const clip = await cut(source, flags.seconds, partialClip);
        // People in surveillance footage are small: windows at the model's size find them (--tiles to change).
        summary = await runSegment(clip, {
          ...flags,
          tiles: flags.tiles ?? 'auto',
          output: path.join(flags.outDir, 'demo.seg.mp4'),
          framesJson,
        });
        renameSync(partialClip, clipName);
      } finally {
        rmSync(partialClip, { force: true });
      }
      report(summary, flags.json);
      if (!flags.json) process.stderr.write(`${findings(framesJson)}\n`);
    } catch (error) {
      setExitCode(reportFailure(error, Boolean(flags.verbose)));
    }
  });
}
