import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { Deadline } from './deadline.ts';
import { SwitchoverFailedError, describeAwsError } from './errors.ts';

/**
 * Credentials from the SDK's default chain: on a node that is the instance profile through
 * IMDS (AWS_EC2_METADATA_SERVICE_ENDPOINT points it elsewhere). Resolved once, so the proof
 * and every client sign with the same identity.
 */
export async function resolveCredentials(deadline: Deadline): Promise<AwsCredentialIdentity> {
  const provider = fromNodeProviderChain({ timeout: 2000, maxRetries: 1 });
  try {
    return await deadline.race('waiting for the instance-role credentials', () => provider());
  } catch (error) {
    if (deadline.expired) throw error;
    throw new SwitchoverFailedError(`no instance-role credentials: ${describeAwsError(error)}`, { cause: error });
  }
}

/** Settings shared by every client the agent builds. */
export function clientConfig(region: string, credentials: AwsCredentialIdentity, maxAttempts: number) {
  return { region, credentials, maxAttempts };
}
