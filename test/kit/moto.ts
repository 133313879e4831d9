import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentity } from '@smithy/types';
import { inject } from 'vitest';
import { motoClientConfig } from '../../local/aws-clients.ts';
import { MOTO_INSTALL_HINT, MotoUnavailableError, type MotoServer } from '../../local/moto-server.ts';
import { required } from '../../local/world-stack.ts';
import './moto-global.ts';

/** The run's shared moto_server (test/kit/moto-global.ts). Stopping it is the run's job, not a file's. */
export function sharedMoto(): Pick<MotoServer, 'endpoint' | 'stop'> {
  const endpoint = inject('motoEndpoint');
  if (endpoint === '') throw new MotoUnavailableError(MOTO_INSTALL_HINT);
  return { endpoint, stop: () => Promise.resolve() };
}

/**
 * Credentials of an AWS account of its own in the run's moto: moto keeps every account's
 * resources apart (IAM, stacks, tables, buckets) and puts each request into the account of the
 * role whose session signed it. For a file that needs the names of a real stage (its stack,
 * role, table) while another file deploys that stage in the default account.
 */
export async function accountOfItsOwn(endpoint: string, accountId: string, name: string): Promise<AwsCredentialIdentity> {
  const sts = new STSClient(motoClientConfig(endpoint));
  try {
    const { Credentials } = await sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${accountId}:role/${name}`, RoleSessionName: name }));
    return {
      accessKeyId: required(Credentials?.AccessKeyId, 'AccessKeyId'),
      secretAccessKey: required(Credentials?.SecretAccessKey, 'SecretAccessKey'),
      sessionToken: required(Credentials?.SessionToken, 'SessionToken'),
    };
  } finally {
    sts.destroy();
  }
}
