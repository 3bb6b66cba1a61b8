#!/usr/bin/env node
/**
 * The command line: parses flags and calls pipeline/ (one file per command in commands/). User
 * mistakes print one line, `error: <what is wrong and what to do>`, and exit non-zero; Ctrl-C
 * stops ffmpeg and the workers and removes partial output. `main(argv)` runs a command in-process
 * and resolves with its exit code; run as a program, the process exits with it.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { registerCrf } from './commands/crf.js';
import { registerCrfTune } from './commands/crfTune.js';
import { registerEval } from './commands/eval.js';
import { registerImport } from './commands/import.js';
import { registerModels } from './commands/models.js';
import { registerServe } from './commands/serve.js';
import { registerDemo } from './commands/demo.js';
import { registerSegment } from './commands/segment.js';
import { registerWorker } from './commands/worker.js';
import { withConfigFile } from './configFile.js';
import { reportFailure } from './failure.js';
import { UsageError } from '../core/errors.js';

/** The package's version (package.json beside the sources, or above dist/). */
function version(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    const file = fileURLToPath(new URL(relative, import.meta.url));
    if (!existsSync(file)) continue;
    const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (json.name === 'deeplab-stream' && json.version) return json.version;
  }
  return 'unknown';
}

const EXAMPLES = `
Examples:
  deeplab-stream demo                                     real street footage through the default model
  deeplab-stream segment in.mp4 -o out.mp4                an overlay video of every frame
  deeplab-stream segment in.mp4 --model deeplabv3-voc --crf on --masks masks/
  deeplab-stream serve camera:0                           live, viewer at http://127.0.0.1:8080/
  deeplab-stream models                                   the models known by name
  deeplab-stream <command> --help                         a command's flags`;

/** Runs one command line (`argv` without node and the script) and resolves with its exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const setExitCode = (code: number) => (exitCode = code);
  const program = new Command()
    .name('deeplab-stream')
    .description('Streaming DeepLab semantic segmentation for video files, images and live streams')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print this help')
    .addHelpText('after', EXAMPLES)
    .configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith('error: ') ? text : `error: ${text}`) })
    .exitOverride();
  registerSegment(program, setExitCode);
  registerImport(program, setExitCode);
  registerEval(program, setExitCode);
  registerCrf(program, setExitCode);
  registerCrfTune(program, setExitCode);
  registerServe(program, setExitCode);
  registerDemo(program, setExitCode);
  registerModels(program, setExitCode);
  registerWorker(program, setExitCode);
  if (argv.length === 0) {
    // No command: what there is to run, not an error.
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(withConfigFile(program, argv), { from: 'user' });
  } catch (error) {
    // Bad flags (commander already printed the line), or --help / --version.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 64;
    // A --config file that cannot stand for flags.
    if (error instanceof UsageError) return reportFailure(error, false);
    throw error;
  }
  return exitCode;
}

const entry = process.argv[1];
if (entry && realpathSync(entry) === fileURLToPath(import.meta.url)) process.exit(await main(process.argv.slice(2)));
