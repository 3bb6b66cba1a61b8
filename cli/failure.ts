import { isUserError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';

/**
 * Prints a failure as users read it and returns the exit code: a user's mistake is one line
 * (`error: …`, the error's own code); anything else is a bug, with its stack under `--verbose`.
 */
export function reportFailure(error: unknown, verbose: boolean): number {
  if (isUserError(error)) {
    process.stderr.write(`error: ${redactSecrets(error.message)}\n`);
    return error.exitCode;
  }
  const message = redactSecrets(error instanceof Error ? error.message : String(error));
  process.stderr.write(
    verbose && error instanceof Error
      ? `${redactSecrets(error.stack ?? message)}\n`
      : `error: ${message} (an internal error; rerun with --verbose and report it)\n`,
  );
  return 1;
}

/** Where a command reports its exit code (main returns it). */
export type SetExitCode = (code: number) => void;
