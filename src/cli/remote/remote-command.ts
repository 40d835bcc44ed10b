import type { WriteStream } from 'node:tty';
import { parseArgs } from 'node:util';
import { status, type ServiceError } from '@grpc/grpc-js';
import { VaultClient } from '@telemetry-vault/client';
import { EXIT, UsageError, type CliIo } from '../output';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, connectionOptions, type ConnectionFlags } from './connection-flags';
import { Interrupt } from './interrupt';
import { LineWriter, OutputClosedError } from './line-writer';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** The parsed flags of a command line (parseArgs values). */
export type FlagValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** What a remote command runs with. */
export interface RemoteContext {
  readonly client: VaultClient;
  /** stdout, with backpressure and quiet EPIPE. */
  readonly out: LineWriter;
  readonly io: CliIo;
  /** Colour for human output: stdout is a terminal that has colours and NO_COLOR is not set. */
  readonly colour: boolean;
  readonly interrupt: Interrupt;
}

/** A command that talks to a running vault (tail, query, count). */
export interface RemoteCommand<Plan> {
  /** The command's own lines of `--help` (the connection flags are added). */
  readonly usage: string;
  readonly options: Options;
  /** Checks the flags and returns what to do; throws UsageError before anything connects. */
  plan(values: FlagValues, now: Date): Plan;
  /** Runs the plan and returns the exit code. */
  run(plan: Plan, context: RemoteContext): Promise<number>;
}

/** Ended without a status: what `tail` reports when the server closes its stream. */
export class RemoteCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteCommandError';
  }
}

/**
 * Runs a remote command: its flags, the connection, Ctrl+C and the error
 * rules. A failed call prints one line, `error: <STATUS>: <server message>`,
 * and exits 1; a bad command line prints `error: <reason>` and exits 2; a
 * closed stdout (`| head`) ends the command quietly with 0.
 */
export async function runRemoteCommand<Plan>(name: string, command: RemoteCommand<Plan>, args: string[], io: CliIo): Promise<number> {
  let plan: Plan;
  let client: VaultClient;
  try {
    const { values, positionals } = parseFlags(args, { ...CONNECTION_OPTIONS, ...command.options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      io.stdout.write(`${command.usage}\n${CONNECTION_USAGE}`);
      return EXIT.ok;
    }
    if (positionals.length > 0) throw new UsageError(`${name} takes no arguments, only flags (unexpected "${positionals.join(' ')}")`);
    const connection = connectionOptions(values as ConnectionFlags, io.env);
    plan = command.plan(values, new Date());
    // Node warns on stderr when grpc-js sends an IP address as the TLS server
    // name (DEP0123, `--address 127.0.0.1:50051 --tls`); stderr is for this command's own lines.
    process.noDeprecation = true;
    client = new VaultClient(connection);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`error: ${error.message}\nRun "telemetry-vault ${name} --help" for its flags.\n`);
    return EXIT.usage;
  }

  const out = new LineWriter(io.stdout);
  const interrupt = new Interrupt();
  try {
    const code = await command.run(plan, { client, out, io, colour: wantsColour(io), interrupt });
    await out.flush();
    return code;
  } catch (error) {
    if (error instanceof OutputClosedError) return EXIT.ok;
    await out.flush().catch(() => undefined);
    if (isServiceError(error)) {
      io.stderr.write(`error: ${status[error.code] ?? `status ${error.code}`}: ${firstLine(error.details)}\n`);
      return EXIT.failed;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT.usage;
    }
    io.stderr.write(`error: ${firstLine(error instanceof Error ? error.message : String(error))}\n`);
    return EXIT.failed;
  } finally {
    interrupt.dispose();
    out.detach();
    client.close();
  }
}

function parseFlags(args: string[], options: Options): { values: FlagValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as FlagValues, positionals };
  } catch (error) {
    // Node's message goes on about positionals after '--'; its first sentence names the flag.
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.split('. ')[0] ?? message);
  }
}

function wantsColour(io: CliIo): boolean {
  const stdout = io.stdout as Partial<WriteStream>;
  if (stdout.isTTY !== true || (io.env.NO_COLOR ?? '') !== '') return false;
  return stdout.hasColors?.(io.env as NodeJS.ProcessEnv) ?? false;
}

function isServiceError(error: unknown): error is ServiceError {
  return typeof error === 'object' && error !== null && typeof (error as ServiceError).code === 'number' && 'details' in error && 'metadata' in error;
}

/** The message's first line, without grpc-js's empty "Resolution note:" tail. */
function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').replace(/\s*Resolution note:\s*$/, '').trim();
}
