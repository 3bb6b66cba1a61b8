/** `models`: the catalogue — what each model is, where it comes from, whether it is cached here. */
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_MODEL_NAME, MODEL_CATALOG, type CatalogEntry } from '../../model/catalog.js';
import { reportFailure, type SetExitCode } from '../failure.js';

interface ModelRow {
  readonly name: string;
  readonly default: boolean;
  readonly description: string;
  readonly classes: number;
  readonly classNames: string;
  readonly inputSize: string;
  readonly msPerFrame: number;
  readonly bytes: number;
  readonly licence: string;
  readonly source: string;
  readonly sha256: string | null;
  readonly cached: boolean;
  readonly path: string | null;
}

/** The download cache and the packaged default, loaded when the command runs. */
interface ModelSources {
  readonly cachedDownload: (entry: CatalogEntry) => string | null;
  readonly defaultModelSource: () => { readonly tflite: string; readonly version: string };
}

function row(entry: CatalogEntry, { cachedDownload, defaultModelSource }: ModelSources): ModelRow {
  const { source } = entry;
  const cachedPath = cachedDownload(entry);
  const packaged = source.kind === 'package' ? defaultModelSource() : null;
  return {
    name: entry.name,
    default: entry.name === DEFAULT_MODEL_NAME,
    description: entry.description,
    classes: entry.classCount,
    classNames: entry.classes,
    inputSize: entry.inputSize.join('x'),
    msPerFrame: entry.msPerFrame,
    bytes: source.kind === 'download' ? source.bytes : statSync(packaged!.tflite).size,
    licence: entry.licence,
    source: source.kind === 'download' ? source.url : `npm ${source.packageName}@${packaged!.version}`,
    sha256: source.kind === 'download' ? source.sha256 : null,
    cached: source.kind === 'package' || cachedPath !== null,
    path: cachedPath,
  };
}

export function registerModels(program: Command, setExitCode: SetExitCode): void {
  program
    .command('models')
    .description('list the models known by name (use one with --model NAME)')
    .option('--json', 'print one JSON object per model')
    .action(async (flags: { json?: boolean }) => {
      try {
        const [{ defaultModelSource }, { cachedDownload, MIRROR_VARIABLE }] = await Promise.all([
          import('../../model/defaultModel.js'),
          import('../../pipeline/resolveModel.js'),
        ]);
        const rows = MODEL_CATALOG.map((entry) => row(entry, { cachedDownload, defaultModelSource }));
        if (flags.json) {
          process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
          return;
        }
        const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
        const table = [
          ['name', 'classes', 'input', 'ms/frame*', 'size', 'licence', 'cached', 'source'],
          ...rows.map((r) => [
            `${r.name}${r.default ? ' (default)' : ''}`,
            `${r.classes} ${r.classNames}`,
            r.inputSize,
            String(r.msPerFrame),
            mb(r.bytes),
            r.licence,
            r.cached ? 'yes' : 'no',
            r.source,
          ]),
        ];
        const widths = table[0]!.map((_, i) => Math.max(...table.map((cells) => cells[i]!.length)));
        const lines = table.map((cells) =>
          cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  '),
        );
        process.stdout.write(`${lines.join('\n')}\n\n`);
        process.stdout.write(
          "* the model alone (session.run) on two cores of the project's 2-core machine; the whole pipeline adds decoding and upsampling (BENCHMARKS.md)\n\n",
        );
        process.stdout.write(`${rows.map((r) => `${r.name}: ${r.description}`).join('\n')}\n\n`);
        process.stdout.write(
          `--model NAME fetches a model once (sha256 checked) and caches it; ${MIRROR_VARIABLE}=<base URL> (http(s):// or file://) fetches <base URL>/<file name> instead.\n`,
        );
      } catch (error) {
        setExitCode(reportFailure(error, false));
      }
    });
}
