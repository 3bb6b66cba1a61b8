/** The flags of every command that takes `--nats`: where the cluster is, who this process is to it, and TLS. */
import type { Command } from 'commander';
import { type NatsSecurityFlags, natsSecurityFrom, type NatsTarget } from '../cluster/natsSecurity.js';

/** Adds the broker's credential and TLS flags after `--nats` (each also an environment variable, for services). */
export function natsSecurityOptions(command: Command): Command {
  return command
    .option('--nats-creds <file>', 'NATS credentials file (JWT + nkey) [env DEEPLAB_STREAM_NATS_CREDS]')
    .option('--nats-nkey <file>', 'file holding a NATS user nkey seed (SU…) [env DEEPLAB_STREAM_NATS_NKEY]')
    .option('--nats-token <token>', 'NATS token (visible in ps: prefer the variable) [env DEEPLAB_STREAM_NATS_TOKEN]')
    .option('--nats-ca <file>', "CA certificate that signed the NATS server's, for TLS [env DEEPLAB_STREAM_NATS_CA]")
    .option(
      '--nats-cert <file>',
      'client certificate, for servers that verify clients (with --nats-key) [env DEEPLAB_STREAM_NATS_CERT]',
    )
    .option('--nats-key <file>', "the client certificate's private key [env DEEPLAB_STREAM_NATS_KEY]")
    .option(
      '--nats-tls-required',
      'connect only over TLS, never falling back to plain text (tls:// URLs too) [env DEEPLAB_STREAM_NATS_TLS_REQUIRED=1]',
    );
}

/** The cluster to use, from `--nats URL` and the security flags over their environment variables. */
export function natsTargetFrom(url: string, flags: NatsSecurityFlags): NatsTarget {
  return { url, security: natsSecurityFrom(flags) };
}
