/**
 * `serve --state FILE`: the streams added over the API and every stream's zones, kept across
 * restarts. Written whole on every change — to a temporary file beside it, then renamed over it —
 * so a crash leaves the old state or the new, never half of one. Readable by its owner only: an
 * input may hold a camera's password. Read back as untrusted (checked in full, one line if not).
 *
 *   { "version": 1, "streams": [{ "id": "door", "input": "rtsp://…", "crf": true, "zones": [ … ] }] }
 */
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from '../core/errors.js';

const MAX_STATE_BYTES = 16 << 20;

const stateSchema = z.strictObject({
  version: z.literal(1),
  streams: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(100),
        input: z.string().min(1).max(2000),
        /** Added over the API (true), or named on the command line (its zones only are kept). */
        added: z.boolean(),
        crf: z.boolean().optional(),
        classesShown: z.array(z.string().max(200)).max(256).optional(),
        tiles: z
          .string()
          .regex(/^(auto|\d{1,2}x\d{1,2})$/)
          .optional(),
        zones: z.unknown().optional(),
      }),
    )
    .max(1024),
});

export type ServerState = z.output<typeof stateSchema>;

/** The state in FILE, or null when there is none yet. The zones are checked by the caller, against the model. */
export function readState(file: string): ServerState | null {
  let text: string;
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_STATE_BYTES) throw new UsageError(`--state ${file}: over 16 MiB; not a state file of serve`);
    text = bytes.toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--state ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`--state ${file}: not JSON; move it away to start afresh`);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(
      `--state ${file}: not a state file of serve (${issue.path.join('.') || 'top level'}: ${issue.message}); move it away to start afresh`,
    );
  }
  return parsed.data;
}

/** Writes states one after another, each whole (temp file + rename). */
export class StateWriter {
  private last: Promise<void> = Promise.resolve();
  private count = 0;

  constructor(
    readonly file: string,
    private readonly onError: (line: string) => void,
  ) {}

  write(state: ServerState): Promise<void> {
    const text = `${JSON.stringify(state, null, 2)}\n`;
    this.last = this.last.then(async () => {
      const temp = path.join(
        path.dirname(this.file),
        `.${path.basename(this.file)}.${process.pid}.${this.count++}.tmp`,
      );
      try {
        await fs.writeFile(temp, text, { mode: 0o600 });
        await fs.rename(temp, this.file);
      } catch (error) {
        await fs.rm(temp, { force: true });
        this.onError(
          `--state ${this.file}: not saved (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the streams run on, a restart would not bring the latest changes back`,
        );
      }
    });
    return this.last;
  }
}
