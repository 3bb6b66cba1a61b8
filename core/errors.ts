/**
 * Every error a user can cause, in one place. Each carries a message a user can act on; the CLI
 * prints `error: <message>` and exits with `exitCode`, with no stack trace. Anything that is not a
 * `DeeplabStreamError` is a bug and is printed with its stack.
 */
export abstract class DeeplabStreamError extends Error {
  abstract readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input (video, image, sequence) is missing, unreadable, or not decodable. */
export class InputError extends DeeplabStreamError {
  readonly exitCode = 2;
}

/** A live source (camera, rtsp://, http://) cannot be opened or was lost; serve keeps its other streams. */
export class SourceError extends InputError {}

/** The model file is missing, not ONNX, or does not fit what the pipeline needs. */
export class ModelError extends DeeplabStreamError {
  readonly exitCode = 3;
}

/** An output path cannot be written, or the encoder failed. */
export class OutputError extends DeeplabStreamError {
  readonly exitCode = 4;
}

/** A required external tool (ffmpeg) or execution provider is not available. */
export class EnvironmentError extends DeeplabStreamError {
  readonly exitCode = 5;
}

/** Flags that contradict each other or are out of range. */
export class UsageError extends DeeplabStreamError {
  readonly exitCode = 64;
}

/** A name that must be unique is taken (a stream id asked for twice). */
export class ConflictError extends UsageError {}

/** The NATS server (`--nats`) cannot be reached, was lost, or refused what was asked of it. */
export class ClusterError extends DeeplabStreamError {
  readonly exitCode = 69;
}

/**
 * A worker thread stopped in the middle of work (it crashed or ran out of memory): what it held is
 * lost. Live runs report it and go on with a replacement; offline runs stop (nothing half-written
 * is kept) rather than write a video with frames missing.
 */
export class WorkerLostError extends DeeplabStreamError {
  readonly exitCode = 70;
}

/** The run was cancelled (Ctrl-C / SIGTERM). */
export class CancelledError extends DeeplabStreamError {
  readonly exitCode = 130;
  constructor(message = 'interrupted: partial output removed') {
    super(message);
  }
}

export function isUserError(error: unknown): error is DeeplabStreamError {
  return error instanceof DeeplabStreamError;
}

/**
 * An error as it crosses a worker boundary (structured clone keeps neither the class nor, reliably,
 * the stack): a user error keeps its kind and stays one line; anything else keeps its message and
 * stack for `--verbose`.
 */
export interface ErrorEnvelope {
  readonly kind:
    | 'InputError'
    | 'SourceError'
    | 'ModelError'
    | 'OutputError'
    | 'EnvironmentError'
    | 'UsageError'
    | 'WorkerLostError'
    | 'CancelledError'
    | 'ClusterError'
    | 'internal';
  readonly message: string;
  readonly stack?: string;
}

const USER_ERRORS = {
  InputError,
  SourceError,
  ModelError,
  OutputError,
  EnvironmentError,
  UsageError,
  WorkerLostError,
  CancelledError,
  ClusterError,
} as const;

export function toErrorEnvelope(error: unknown): ErrorEnvelope {
  if (isUserError(error) && error.name in USER_ERRORS)
    return { kind: error.name as keyof typeof USER_ERRORS, message: error.message };
  const { message, stack } = error instanceof Error ? error : new Error(String(error));
  return { kind: 'internal', message, ...(stack ? { stack } : {}) };
}

/** The error again, on this side: the same user-error class, or an Error with the worker's stack. `context` prefixes a bug's message. */
export function fromErrorEnvelope(envelope: ErrorEnvelope, context: string): Error {
  if (envelope.kind !== 'internal') return new USER_ERRORS[envelope.kind](envelope.message);
  const error = new Error(`${context}: ${envelope.message}`);
  if (envelope.stack)
    error.stack = `Error: ${context}: ${envelope.stack.replace(/^[^\n]*\n?/, `${envelope.message}\n`)}`;
  return error;
}
