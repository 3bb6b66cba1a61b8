/**
 * What a worker opens for a live task from the broker, or a server for a stream added over its API:
 * its operator decides, never the task or the request (`worker --allow-inputs RULES`, `serve
 * --allow-inputs RULES`). Rules, separated by commas:
 *
 *   rtsp rtsps http https testsrc   these kinds of input (the default is exactly these)
 *   camera                          local cameras (camera:N, /dev/videoN)
 *   file:DIR                        files under DIR (after resolving `..` and links); repeatable
 *   host:NAME  host:.SUFFIX         network inputs only to these hosts (else any host)
 *
 *   checkInput('file:/etc/passwd', parseInputRules('rtsp,testsrc'))
 *     → { refused: 'refused: inputs of kind file are not allowed on this worker' }
 *
 * A refusal says which rule, never what the path or address was, nor whether it exists.
 * GStreamer launch lines are never taken from the broker (they can write files and open ports).
 */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../core/errors.js';
import { filePathOf, parseLiveInput } from './liveInputs.js';

type NetworkScheme = 'rtsp' | 'rtsps' | 'http' | 'https';
type RuleKind = NetworkScheme | 'testsrc' | 'camera' | 'file';

export interface InputPolicy {
  readonly kinds: ReadonlySet<RuleKind>;
  /** Directories (real paths) whose files may be opened; empty: no files. */
  readonly fileDirs: readonly string[];
  /** Host names allowed for network inputs (`.suffix` for a domain); empty: any host. */
  readonly hosts: readonly string[];
}

export const DEFAULT_INPUT_RULES = 'rtsp,rtsps,http,https,testsrc';

const KINDS: readonly RuleKind[] = ['rtsp', 'rtsps', 'http', 'https', 'testsrc', 'camera', 'file'];

export function parseInputRules(text: string): InputPolicy {
  const kinds = new Set<RuleKind>();
  const fileDirs: string[] = [];
  const hosts: string[] = [];
  for (const rule of text
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean)) {
    if (rule.startsWith('file:')) {
      const dir = path.resolve(rule.slice('file:'.length));
      if (!existsSync(dir)) throw new UsageError(`--allow-inputs ${rule}: there is no directory ${dir}`);
      fileDirs.push(realpathSync(dir));
      kinds.add('file');
    } else if (rule.startsWith('host:')) {
      const host = rule.slice('host:'.length).toLowerCase();
      if (!/^\.?[a-z0-9-]+(\.[a-z0-9-]+)*$|^\[?[0-9a-f:.]+\]?$/.test(host))
        throw new UsageError(
          `--allow-inputs ${rule}: not a host name (host:cam1.example.com, host:.cams.example.com, host:10.0.0.7)`,
        );
      hosts.push(host.replace(/^\[|\]$/g, ''));
    } else if ((KINDS as readonly string[]).includes(rule) && rule !== 'file') {
      kinds.add(rule as RuleKind);
    } else {
      throw new UsageError(
        `--allow-inputs: unknown rule "${rule}"; rules are ${KINDS.filter((k) => k !== 'file').join(', ')}, file:DIR and host:NAME, separated by commas`,
      );
    }
  }
  if (kinds.size === 0)
    throw new UsageError(
      '--allow-inputs allows no kind of input: name at least one (the default is rtsp,rtsps,http,https,testsrc)',
    );
  return { kinds, fileDirs, hosts };
}

function under(file: string, dir: string): boolean {
  return file === dir || file.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

/** The real path of a file input (its directory's, for a pattern or a missing file), for the allow-list. */
function realFile(file: string): string {
  const resolved = path.resolve(file);
  if (existsSync(resolved)) return realpathSync(resolved);
  const dir = path.dirname(resolved);
  return path.join(existsSync(dir) ? realpathSync(dir) : dir, path.basename(resolved));
}

/**
 * The input if `place` may open it (a worker for a task from the broker, a server for a stream added
 * over its API), else the one line that says why not.
 */
export function checkInput(
  spec: string,
  policy: InputPolicy,
  place = 'this worker',
): { readonly allowed: true } | { readonly refused: string } {
  const refuse = (what: string) => ({ refused: `refused: ${what} on ${place}` });
  let kind: RuleKind;
  let host: string | undefined;
  if (spec.startsWith('gst:')) return refuse('GStreamer pipelines are not allowed');
  try {
    const input = parseLiveInput(spec);
    if (input.kind === 'rtsp' || input.kind === 'http') {
      const url = new URL(spec);
      kind = url.protocol.slice(0, -1).toLowerCase() as NetworkScheme;
      host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    } else if (input.kind === 'gstreamer') {
      return refuse('GStreamer pipelines are not allowed');
    } else {
      kind = input.kind;
    }
  } catch {
    return {
      refused: `refused: the input is not one ${place} can open (a file, testsrc, rtsp://, http(s):// or camera:N)`,
    };
  }
  if (!policy.kinds.has(kind)) return refuse(`inputs of kind ${kind} are not allowed`);
  if (
    host !== undefined &&
    policy.hosts.length > 0 &&
    !policy.hosts.some((h) => (h.startsWith('.') ? host.endsWith(h) : host === h))
  ) {
    return refuse(`the input's host is not on the allowed list`);
  }
  if (kind === 'file') {
    const file = filePathOf(spec);
    // Relative names would depend on the worker's working directory: only absolute ones.
    if (!path.isAbsolute(file) || !policy.fileDirs.some((dir) => under(realFile(file), dir)))
      return refuse('this file is outside the directories allowed');
  }
  return { allowed: true };
}
