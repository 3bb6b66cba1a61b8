/**
 * Real footage for `demo`, from where a fresh Debian machine can get it: OpenCV's `vtest.avi`
 * (pedestrians on a campus, 768×576, 10 fps, 79 s) inside Debian's `opencv-doc` package. The one file
 * is extracted from the downloaded .deb (the package is not installed), checked against its sha256
 * and cached; later demos use the cache.
 *
 *   await demoFootage() → '~/.cache/deeplab-stream/media/vtest.avi'
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { EnvironmentError } from '../core/errors.js';
import { settings } from '../core/settings.js';
import { commitPartial, discardPartial, partialPathFor } from '../io/partialFile.js';

export interface Footage {
  readonly debianPackage: string;
  /** The file's path inside the package's data archive. */
  readonly member: string;
  readonly sha256: string;
  readonly licence: string;
}

export const VTEST_AVI: Footage = {
  debianPackage: 'opencv-doc',
  member: './usr/share/doc/opencv-doc/examples/data/vtest.avi',
  sha256: '45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf',
  licence: "OpenCV's samples (Apache-2.0 / BSD-3-Clause, as Debian's opencv-doc states)",
};

export interface FootageOptions {
  /** A .deb already at hand (tests); otherwise `apt-get download` fetches the package. */
  readonly debFile?: string;
  readonly onNote?: (message: string) => void;
}

/** What a user does when the footage cannot be had: any video of their own. */
const INSTEAD = 'or give a video of your own: deeplab-stream demo --input VIDEO';

function run(command: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          error.code === 'ENOENT' ? `${command} is not installed (a Debian or Ubuntu system has it)` : error.message,
        ),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(
              stderr
                .trim()
                .split('\n')
                .filter((l) => !l.startsWith('W:'))
                .at(-1) ?? `${command} exited with ${code}`,
            ),
          ),
    );
  });
}

/** One member of a .deb's data archive, streamed out by dpkg-deb and tar (both in every Debian). */
async function extractMember(deb: string, member: string, destination: string): Promise<void> {
  const dpkg = spawn('dpkg-deb', ['--fsys-tarfile', deb], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['-xO', member], { stdio: ['pipe', 'pipe', 'pipe'] });
  let errors = '';
  for (const child of [dpkg, tar]) {
    child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
    child.on('error', (error) => (errors += `${error.message}\n`));
  }
  dpkg.stdout.pipe(tar.stdin);
  tar.stdin.on('error', () => {}); // tar may stop reading once it has the member
  const exited = (child: ReturnType<typeof spawn>) =>
    new Promise<number | null>((resolve) => child.on('close', resolve));
  const [, , tarCode] = await Promise.all([
    pipeline(tar.stdout, createWriteStream(destination)),
    exited(dpkg),
    exited(tar),
  ]);
  if (tarCode !== 0) throw new Error(errors.trim().split('\n').at(-1) || `tar exited with ${tarCode}`);
}

export async function demoFootage(footage: Footage = VTEST_AVI, options: FootageOptions = {}): Promise<string> {
  const dir = path.join(settings().cacheDir, 'media');
  const file = path.join(dir, path.basename(footage.member));
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(path.join(os.tmpdir(), 'dls-footage-'));
  const partial = partialPathFor(file);
  try {
    let deb = options.debFile;
    if (!deb) {
      options.onNote?.(
        `fetching Debian's ${footage.debianPackage} package for its ${path.basename(footage.member)} (${footage.licence}); only that file is kept`,
      );
      try {
        await run('apt-get', ['download', footage.debianPackage], work);
      } catch (error) {
        throw new EnvironmentError(
          `could not download Debian's ${footage.debianPackage} package (${(error as Error).message}): run \`sudo apt-get update\` and try again, ${INSTEAD}`,
        );
      }
      deb = path.join(
        work,
        readdirSync(work).find((f) => f.endsWith('.deb'))!,
      );
    }
    try {
      await extractMember(deb, footage.member, partial);
    } catch (error) {
      throw new EnvironmentError(
        `could not take ${footage.member} out of ${path.basename(deb)} (${(error as Error).message}), ${INSTEAD}`,
      );
    }
    const actual = createHash('sha256').update(readFileSync(partial)).digest('hex');
    if (actual !== footage.sha256)
      throw new EnvironmentError(
        `${path.basename(footage.member)} from ${path.basename(deb)} is not the expected file (sha256 ${actual}), ${INSTEAD}`,
      );
    commitPartial(partial, file, 'the demo footage');
    return file;
  } finally {
    discardPartial(partial);
    rmSync(work, { recursive: true, force: true });
  }
}
