/**
 * `--config FILE` for the long-running commands (`serve`, `worker`): a deployment in one file, JSON
 * or YAML, whose keys are the command's flags in camelCase (`maxViewers`, `natsCreds`, `crf`) and,
 * for `serve`, `inputs` (its streams) and `zones` (per stream id, as `--zones` takes them). The file becomes the flags it stands for, placed before the
 * command line's own, so each value passes the flag's own check and a flag given on the command
 * line wins; `inputs` count only where the command line names none.
 *
 * @example
 * // serve.yaml:  inputs: [rtsp://10.0.0.7/live, camera:0]
 * //              port: 8080
 * //              model: deeplab-cityscapes
 * //              crf: "on"
 * withConfigFile(program, ['serve', '--config', 'serve.yaml', '--port', '9000'])
 * // → ['serve', '--port', '8080', '--model', 'deeplab-cityscapes', '--crf', 'on', '--port', '9000', 'rtsp://10.0.0.7/live', 'camera:0']
 */
import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../core/errors.js';

/** The command line with `--config FILE` replaced by the flags the file stands for. */
export function withConfigFile(program: Command, argv: readonly string[]): string[] {
  const command = program.commands.find((c) => c.name() === argv[0]);
  if (!command?.options.some((o) => o.long === '--config')) return [...argv];
  const at = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (at < 0) return [...argv];
  const file = argv[at]!.startsWith('--config=') ? argv[at]!.slice('--config='.length) : argv[at + 1];
  if (!file) throw new UsageError('--config needs a file (JSON or YAML)');
  const rest = [...argv.slice(1, at), ...argv.slice(argv[at]!.includes('=') ? at + 1 : at + 2)];
  const { flags, inputs } = flagsOf(readConfig(file), command, file);
  const namesInputs = operands(rest, command).length > 0;
  return [argv[0]!, ...flags, ...rest, ...(namesInputs ? [] : inputs)];
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--config ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  let value: unknown;
  try {
    // JSON is YAML; a .json file is read as JSON so that its errors read as JSON's.
    value = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new UsageError(
      `--config ${file}: not ${/\.json$/i.test(file) ? 'JSON' : 'YAML or JSON'} (${(error as Error).message.split('\n')[0]})`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UsageError(`--config ${file}: expected an object of settings (keys as the flags in camelCase)`);
  return value as Record<string, unknown>;
}

/** The flags (`--name value`) a config stands for, and its inputs. */
function flagsOf(
  config: Record<string, unknown>,
  command: Command,
  file: string,
): { flags: string[]; inputs: string[] } {
  const flags: string[] = [];
  let inputs: string[] = [];
  const options = new Map(
    command.options
      .filter((o) => o.long && o.long !== '--config' && o.long !== '--help')
      .map((o) => [o.attributeName(), o] as const),
  );
  for (const [key, value] of Object.entries(config)) {
    if (key === 'inputs' && command.registeredArguments.length > 0) {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
        throw new UsageError(`--config ${file}: inputs: expected a list of inputs`);
      inputs = value;
      continue;
    }
    const option = options.get(key);
    if (!option)
      throw new UsageError(
        `--config ${file}: ${key}: not a setting of ${command.name()} (keys are its flags in camelCase: ${[...options.keys()].slice(0, 6).join(', ')} …)`,
      );
    flags.push(...flagTokens(option, value, `--config ${file}: ${key}`));
  }
  return { flags, inputs };
}

function flagTokens(option: Option, value: unknown, what: string): string[] {
  const long = option.long!;
  if (option.isBoolean()) {
    if (typeof value !== 'boolean') throw new UsageError(`${what}: expected true or false`);
    // `--no-x` stands for x: false.
    return value !== option.negate ? [long] : [];
  }
  // An object (serve's zones) is passed as JSON text, which the flag parses and checks.
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return [long, JSON.stringify(value)];
  if (typeof value === 'string' || typeof value === 'number') return [long, String(value)];
  if (typeof value === 'boolean') return [long, value ? 'on' : 'off'];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number'))
    return [long, value.join(',')];
  throw new UsageError(`${what}: expected a value as the flag ${long} takes`);
}

/** The positional arguments among a command's arguments (option values skipped). */
function operands(args: readonly string[], command: Command): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return [...found, ...args.slice(i + 1)];
    if (!arg.startsWith('-') || arg === '-') {
      found.push(arg);
      continue;
    }
    const option = command.options.find((o) => o.long === arg || o.short === arg);
    if (option && (option.required || option.optional) && !arg.includes('=')) i += 1;
  }
  return found;
}
