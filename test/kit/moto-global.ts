import type { TestProject } from 'vitest/node';
import { cachedAgentBundle } from '../../local/agent-bundle-cache.ts';
import { MotoUnavailableError, startMotoServer, type MotoServer } from '../../local/moto-server.ts';
import { packagedService } from '../../local/packaged-service.ts';

/**
 * What the whole run shares, made once before the workers start, side by side:
 * - one moto_server: its first call to each service costs seconds, once per server, so test
 *   files share it and keep apart by the prefix of every world they create (a file that changes
 *   the server itself, IAM auth on, starts its own). One read of every service the tests use
 *   pays those seconds while the workers start (seconds of node's CPU, on the other core), not
 *   before: the first files' calls to a service still loading wait for it, and no file times a
 *   deadline before it has set its world up;
 * - the packaged service, which every moto world and the template tests read;
 * - the agent bundle (test/kit/agent-bundle.ts), built only when its inputs changed since the
 *   last run (local/agent-bundle-cache.ts): a build costs seconds of CPU.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [moto, bundle] = await Promise.all([startSharedMoto(), cachedAgentBundle(), packagedService()]);
  // A warm-up that failed fails the run when it ends (the files' own calls say more before that).
  const warmed = warm(moto).catch((error: unknown) => error);
  project.provide('motoEndpoint', moto?.endpoint ?? '');
  project.provide('agentBundle', { bundle: bundle.bundle, bytes: bundle.bytes });
  return async () => {
    const failed = await warmed;
    await moto?.stop();
    bundle.remove();
    if (failed instanceof Error) throw failed;
  };
}

/**
 * One cheap read per service, as plain HTTP: moto loads a service's code on its first request,
 * and picks the service from the signature's scope, which it does not check. (The SDK's
 * clients would cost the run seconds to load here, outside the workers.)
 */
const WARM_UP_READS: ReadonlyArray<{ service: string; contentType: string; target?: string; body: string }> = [
  ...[
    ['ec2', 'DescribeVpcs', '2016-11-15'],
    ['iam', 'ListRoles', '2010-05-08'],
    ['sts', 'GetCallerIdentity', '2011-06-15'],
    ['cloudformation', 'ListStacks', '2010-05-15'],
    ['sqs', 'ListQueues', '2012-11-05'],
  ].map(([service = '', action = '', version = '']) => ({ service, contentType: 'application/x-www-form-urlencoded', body: `Action=${action}&Version=${version}` })),
  ...[
    ['dynamodb', 'DynamoDB_20120810.ListTables', '1.0'],
    ['events', 'AWSEvents.ListEventBuses', '1.1'],
    ['logs', 'Logs_20140328.DescribeLogGroups', '1.1'],
    ['ssm', 'AmazonSSM.ListDocuments', '1.1'],
  ].map(([service = '', target = '', version = '']) => ({ service, contentType: `application/x-amz-json-${version}`, target, body: '{}' })),
];

async function warm(moto: MotoServer | undefined): Promise<void> {
  if (moto === undefined) return;
  await Promise.all(
    WARM_UP_READS.map(async ({ service, contentType, target, body }) => {
      const answer = await fetch(moto.endpoint, {
        method: 'POST',
        headers: {
          'content-type': contentType,
          ...(target === undefined ? {} : { 'x-amz-target': target }),
          authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
        },
        body,
      });
      if (!answer.ok) throw new Error(`moto_server warm-up: ${service} answered ${answer.status}: ${(await answer.text()).slice(0, 300)}`);
    }),
  );
}

async function startSharedMoto(): Promise<MotoServer | undefined> {
  try {
    return await startMotoServer();
  } catch (error) {
    // Unit tests need no moto; the files that do say why they cannot run.
    if (!(error instanceof MotoUnavailableError)) throw error;
    return undefined;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    agentBundle: { bundle: string; bytes: number };
  }
}
