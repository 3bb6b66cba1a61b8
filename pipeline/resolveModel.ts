/**
 * What `--model` names, as a file to open: nothing → the embedded default; an existing file → itself;
 * a catalogue name → the cached import of its published file, fetched once (from
 * `DEEPLAB_STREAM_MODEL_MIRROR` when set), checked against its sha256, imported to ONNX with a sidecar
 * carrying what the graph cannot say. Later runs use the cache and never touch the network.
 *
 *   await resolveModel('deeplabv3-voc', { onProgress }) → '~/.cache/deeplab-stream/deeplabv3-voc-68a53978.onnx'
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CancelledError, ModelError } from '../core/errors.js';
import {
  type CatalogEntry,
  catalogEntry,
  catalogSidecar,
  type DownloadSource,
  looksLikeModelName,
  MODEL_CATALOG,
} from '../model/catalog.js';
import { defaultModelPath } from '../model/defaultModel.js';
import { settings } from '../core/settings.js';
import { IMPORTER_VERSION, importTflite } from '../model/tflite/importTflite.js';
import { DownloadError, downloadFile } from '../io/downloadFile.js';
import { writeFileAtomically } from '../io/partialFile.js';

export const MIRROR_VARIABLE = 'DEEPLAB_STREAM_MODEL_MIRROR';

export interface ResolveModelOptions {
  /** Bytes received of a download in progress (for a progress bar). */
  readonly onProgress?: (received: number, total: number) => void;
  /** One line per thing done that the user should know of (a download). */
  readonly onNote?: (message: string) => void;
  readonly signal?: AbortSignal;
  /** Overrides `DEEPLAB_STREAM_MODEL_MIRROR`. */
  readonly mirror?: string;
  /** Overrides `DEEPLAB_STREAM_CACHE`: where fetched models and their imports are kept. */
  readonly cacheDir?: string;
  readonly stallMs?: number;
  /**
   * A catalogue model imported in TFLite's own arithmetic (ImportOptions.tfliteArithmetic: its labels
   * exactly as TFLite's interpreter gives them, several times slower), cached beside the default import.
   */
  readonly tfliteArithmetic?: boolean;
}

/** The file-name mark of an import in TFLite's arithmetic. */
const TFLITE_ARITHMETIC_MARK = '.tflite-arithmetic';

/** Where a downloaded catalogue model's files live in the cache: the imported ONNX and the published file. */
export function cachedFiles(
  entry: CatalogEntry,
  source: DownloadSource,
  dir = settings().cacheDir,
  tfliteArithmetic = false,
): { onnx: string; source: string } {
  const mark = tfliteArithmetic ? TFLITE_ARITHMETIC_MARK : '';
  return {
    onnx: path.join(dir, `${entry.name}-${source.sha256.slice(0, 8)}-${importRecipe(entry)}${mark}.onnx`),
    source: path.join(dir, source.file),
  };
}

/**
 * The import's own version: the importer's and the catalogue's settings for the model. A cached
 * import made by another importer, or with other class names or CRF kernels, is made again (from
 * the cached published file: nothing is fetched twice).
 */
function importRecipe(entry: CatalogEntry): string {
  return createHash('sha256')
    .update(`${IMPORTER_VERSION}:${JSON.stringify(catalogSidecar(entry))}`)
    .digest('hex')
    .slice(0, 8);
}

/** A downloaded model's cached import, or null (not fetched yet, or a packaged model: nothing to fetch). */
export function cachedDownload(entry: CatalogEntry): string | null {
  if (entry.source.kind === 'package') return null;
  const { onnx } = cachedFiles(entry, entry.source);
  return existsSync(onnx) ? onnx : null;
}

export async function resolveModel(value: string | undefined, options: ResolveModelOptions = {}): Promise<string> {
  const entry = value === undefined || existsSync(value) ? undefined : catalogEntry(value);
  if (options.tfliteArithmetic && entry?.source.kind !== 'download')
    throw new ModelError(
      `${value ?? 'the default model'} is not a catalogue model fetched by name: TFLite's arithmetic (--tflite-arithmetic) is for ${MODEL_CATALOG.filter(
        (e) => e.source.kind === 'download',
      )
        .map((e) => e.name)
        .join(', ')}; for a .tflite file of your own, run deeplab-stream import FILE -o OUT.onnx --tflite-arithmetic`,
    );
  if (value === undefined) return defaultModelPath();
  if (existsSync(value)) return value;
  if (entry)
    return entry.source.kind === 'package' ? defaultModelPath() : fetchCatalogModel(entry, entry.source, options);
  if (looksLikeModelName(value)) {
    throw new ModelError(
      `there is no model file "${value}" and no model of that name: known names are ${MODEL_CATALOG.map((e) => e.name).join(', ')} (deeplab-stream models lists them)`,
    );
  }
  return value; // a path that is not there: opening it says so
}

function mirrorUrl(mirror: string, file: string): string {
  let base: URL;
  try {
    base = new URL(mirror);
  } catch {
    throw new ModelError(
      `${MIRROR_VARIABLE}="${mirror}" is not a URL: give a base such as http://mirror.example/models/ or file:///srv/models/`,
    );
  }
  if (!['http:', 'https:', 'file:'].includes(base.protocol))
    throw new ModelError(
      `${MIRROR_VARIABLE}="${mirror}" is not an http(s) or file URL: give a base such as http://mirror.example/models/ or file:///srv/models/`,
    );
  return new URL(file, base.href.endsWith('/') ? base.href : `${base.href}/`).href;
}

async function fetchCatalogModel(
  entry: CatalogEntry,
  source: DownloadSource,
  options: ResolveModelOptions,
): Promise<string> {
  const arithmetic = options.tfliteArithmetic === true;
  const { onnx, source: file } = cachedFiles(entry, source, options.cacheDir, arithmetic);
  if (existsSync(onnx)) return onnx;
  const byHand = `put ${source.file} (sha256 ${source.sha256}, from ${source.url}) at ${file} by hand, or set ${MIRROR_VARIABLE} to a server that has it`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
  } catch (error) {
    throw new ModelError(
      `cannot create the model cache ${path.dirname(file)} (${(error as Error).message}): set DEEPLAB_STREAM_CACHE to a writable directory`,
    );
  }
  if (existsSync(file)) {
    const actual = createHash('sha256').update(readFileSync(file)).digest('hex');
    if (actual !== source.sha256)
      throw new ModelError(
        `${file} is not ${entry.name}'s published file (sha256 ${actual}, expected ${source.sha256}): delete it, or ${byHand}`,
      );
  } else {
    const mirror = options.mirror ?? settings().modelMirror;
    const url = mirror ? mirrorUrl(mirror, source.file) : source.url;
    const started = performance.now();
    try {
      await downloadFile({
        url,
        destination: file,
        sha256: source.sha256,
        bytes: source.bytes,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.stallMs ? { stallMs: options.stallMs } : {}),
      });
    } catch (error) {
      if (!(error instanceof DownloadError)) throw error;
      if (options.signal?.aborted) throw new CancelledError('interrupted: the partial download was removed');
      throw new ModelError(`could not fetch ${entry.name} from ${url} (${error.reason}): ${byHand}`);
    }
    options.onNote?.(
      `fetched ${entry.name} (${(source.bytes / 1e6).toFixed(1)} MB, sha256 checked) from ${url} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  // The sidecar lands first: a cached model is never seen without what its graph cannot say.
  writeFileAtomically(
    `${onnx}.json`,
    Buffer.from(`${JSON.stringify(catalogSidecar(entry), null, 2)}\n`),
    'the model sidecar',
  );
  writeFileAtomically(
    onnx,
    importTflite(readFileSync(file), file, { tfliteArithmetic: arithmetic }),
    'the imported model',
  );
  removeOlderImports(path.dirname(onnx), entry.name, onnx, arithmetic ? TFLITE_ARITHMETIC_MARK : '');
  options.onNote?.(`${entry.name} imported and cached at ${onnx}`);
  return onnx;
}

/** Imports of the model (of the same arithmetic) made by another importer or recipe, and their sidecars: superseded, removed. */
function removeOlderImports(dir: string, name: string, current: string, mark: string): void {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const older = new RegExp(`^${escape(name)}-[0-9a-f]{8}(-[0-9a-f]{8})?${escape(mark)}\\.onnx(\\.json)?$`);
  for (const file of readdirSync(dir)) {
    const full = path.join(dir, file);
    if (older.test(file) && full !== current && full !== `${current}.json`) rmSync(full, { force: true });
  }
}
