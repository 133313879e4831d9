import type { AwsCredentialIdentity } from '@smithy/types';
import { z } from 'zod';
import type { Deadline } from './deadline.ts';
import { AgentError, SwitchoverFailedError, describeAwsError, oneLine } from './errors.ts';
import { InstanceMetadata, imdsEndpointFor } from './imds.ts';

const ROLE_NAME_PATTERN = /^[\w+=,.@-]{1,128}$/;

/** IMDS's answer at `meta-data/iam/security-credentials/<role>` (the fields the agent signs with). */
const InstanceProfileCredentialsSchema = z.object({
  Code: z.literal('Success'),
  AccessKeyId: z.string().min(16).max(128),
  SecretAccessKey: z.string().min(1).max(256),
  Token: z.string().max(8192).optional(),
  Expiration: z.string().datetime({ offset: true }),
});

/**
 * The instance profile's credentials, from IMDSv2 only (AWS_EC2_METADATA_SERVICE_ENDPOINT points
 * it elsewhere), through the agent's own IMDS session: one token serves identity and
 * credentials. Never the SDK's default chain: keys in pgpool's environment or a
 * `~postgres/.aws/credentials` left from an older set-up would win over the instance role, and
 * the controller refuses every request that is not signed by the instance profile's own session.
 * Resolved once, so the proof and every call sign with the same identity.
 */
export async function resolveCredentials(
  deadline: Deadline,
  imds: InstanceMetadata = new InstanceMetadata(imdsEndpointFor(process.env), deadline),
): Promise<AwsCredentialIdentity> {
  try {
    const role = (await imds.get('meta-data/iam/security-credentials/')).split('\n')[0]?.trim() ?? '';
    if (!ROLE_NAME_PATTERN.test(role)) throw new SwitchoverFailedError(`IMDS lists no instance profile role ('${role.slice(0, 40)}')`);
    const document: unknown = JSON.parse(await imds.get(`meta-data/iam/security-credentials/${role}`));
    const parsed = InstanceProfileCredentialsSchema.safeParse(document);
    if (!parsed.success) throw new SwitchoverFailedError(`IMDS credentials of role ${role} do not fit (${parsed.error.issues[0]?.path.join('.') ?? 'document'})`);
    const { AccessKeyId, SecretAccessKey, Token, Expiration } = parsed.data;
    return {
      accessKeyId: AccessKeyId,
      secretAccessKey: SecretAccessKey,
      ...(Token === undefined || Token === '' ? {} : { sessionToken: Token }),
      expiration: new Date(Expiration),
    };
  } catch (error) {
    if (deadline.expired) throw error;
    // Our own errors already read as sentences; anything else gets its name.
    const why = error instanceof AgentError ? oneLine(error.message) : describeAwsError(error);
    throw new SwitchoverFailedError(`no instance-profile credentials from IMDS: ${why}`, { cause: error });
  }
}

/** Settings shared by every SDK client the inspection commands build. */
export function clientConfig(region: string, credentials: AwsCredentialIdentity, maxAttempts: number) {
  return { region, credentials, maxAttempts };
}
