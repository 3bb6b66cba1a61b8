/**
 * `deeplab-stream crf --stdin`: the CRF as a service for a caller with many images (Python): one
 * JSON request per line in, one JSON answer per line out, in order, the CRF's threads kept warm.
 *
 *   {"image", "probs", "out", "q_out"?, "chw"?}  →  {"ok": true, "out", "ms", …} | {"ok": false, "error"}
 */
import { z } from 'zod';
import { InputError, isUserError } from '../core/errors.js';
import type { CrfParams } from '../crf/crfParams.js';
import { CrfRunner } from '../crf/crfRunner.js';
import { refineFiles, round } from './crfOnImages.js';

/** One line of `crf --stdin`: an image, its probabilities and where the labels go (paths as on the command line). */
const CRF_REQUEST = z.strictObject({
  image: z.string().min(1),
  probs: z.string().min(1),
  out: z.string().min(1),
  q_out: z.string().min(1).optional(),
  chw: z.boolean().optional(),
});

/** The answer to one `crf --stdin` line, in the order the lines came. */
export type CrfServiceReply =
  | {
      readonly ok: true;
      readonly out: string;
      readonly ms: number;
      readonly ms_setup: number;
      readonly ms_inference: number;
    }
  | { readonly ok: false; readonly error: string };

/** The longest request line served (a path pair is far shorter); a longer one is answered and skipped. */
export const MAX_REQUEST_BYTES = 1 << 20;

/** A line longer than MAX_REQUEST_BYTES, skipped to its end unread. */
export interface TooLongLine {
  readonly tooLong: number;
}

/**
 * The lines of a byte stream (\n or \r\n), none held longer than `maxBytes`: a longer one is
 * skipped to its newline and reported by its length, so a caller cannot make the service buffer
 * without bound.
 */
export async function* requestLines(
  input: AsyncIterable<Buffer | string>,
  maxBytes = MAX_REQUEST_BYTES,
): AsyncGenerator<string | TooLongLine> {
  let pending: Buffer[] = [];
  let size = 0;
  let skipped = 0; // bytes of an over-long line so far (0: not skipping)
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    for (let newline = bytes.indexOf(10); newline !== -1; newline = bytes.indexOf(10, start)) {
      const piece = bytes.subarray(start, newline);
      if (skipped > 0 || size + piece.length > maxBytes) yield { tooLong: skipped + size + piece.length };
      else
        yield Buffer.concat([...pending, piece])
          .toString('utf8')
          .replace(/\r$/, '');
      [pending, size, skipped, start] = [[], 0, 0, newline + 1];
    }
    const rest = bytes.subarray(start);
    if (skipped > 0 || size + rest.length > maxBytes) [pending, size, skipped] = [[], 0, skipped + size + rest.length];
    else [pending, size] = [[...pending, rest], size + rest.length];
  }
  if (skipped > 0) yield { tooLong: skipped };
  else if (size > 0) yield Buffer.concat(pending).toString('utf8');
}

export interface CrfServiceOptions {
  readonly params: CrfParams;
  readonly threads?: number;
  readonly requests: AsyncIterable<string | TooLongLine>;
  readonly reply: (answer: CrfServiceReply) => void;
}

/**
 * `crf --stdin`: a stream of requests, one JSON object per line (`{"image", "probs", "out",
 * "q_out"?, "chw"?}`), answered one line each, in order. Each image runs whole in the native addon
 * where it can (its memory kept from one image to the next); the others go to one CRF worker,
 * started at the first such request and kept. A bad line or bad files get `{"ok": false, "error"}`
 * and the next line is served. Resolves with the number served.
 */
export async function runCrfService(o: CrfServiceOptions): Promise<{ served: number; failed: number }> {
  let runner = null as CrfRunner | null; // set by the closures below (a plain `null` would narrow to never)
  let served = 0;
  let failed = 0;
  try {
    for await (const line of o.requests) {
      if (typeof line === 'string' && line.trim() === '') continue;
      const started = performance.now();
      try {
        if (typeof line !== 'string')
          throw new InputError(
            `a request line of ${line.tooLong} bytes is longer than the ${MAX_REQUEST_BYTES} bytes a request may have: send one {"image", "probs", "out"} per line`,
          );
        const request = parseCrfRequest(line);
        const files = {
          image: request.image,
          probs: request.probs,
          out: request.out,
          ...(request.q_out ? { qOut: request.q_out } : {}),
          chw: request.chw ?? false,
        };
        const result = await refineFiles(
          () => (runner ??= CrfRunner.start(1, o.threads)),
          files,
          o.params,
          o.threads ? { threads: o.threads } : {},
        );
        served += 1;
        o.reply({
          ok: true,
          out: request.out,
          ms: round(performance.now() - started),
          ms_setup: round(result.setupMs),
          ms_inference: round(result.inferenceMs),
        });
      } catch (error) {
        // Workers that keep failing end the service; anything else is this line's alone.
        if (runner?.failed) throw runner.failed;
        failed += 1;
        o.reply({
          ok: false,
          error: isUserError(error)
            ? error.message
            : `${error instanceof Error ? error.message : String(error)} (an internal error)`,
        });
      }
    }
  } finally {
    await runner?.close();
  }
  return { served, failed };
}

function parseCrfRequest(line: string): z.infer<typeof CRF_REQUEST> {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new InputError(
      `not a JSON object: ${line.length > 80 ? `${line.slice(0, 80)}…` : line}; send one {"image", "probs", "out"} per line`,
    );
  }
  const parsed = CRF_REQUEST.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new InputError(
      `a request needs "image", "probs" and "out" (strings; "q_out" and "chw" optional): ${issue.path.join('.') || 'the line'}: ${issue.message}`,
    );
  }
  return parsed.data;
}
