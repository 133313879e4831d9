// The packaged template as moto's CloudFormation can create it, with what moto cannot create
// dropped, each with its reason.
import type { CfnResource, CfnTemplate } from './packaged-service.ts';

/**
 * Resource types moto's CloudFormation cannot create (moto 5.2.1), dropped from the smoke
 * stack on purpose. Everything else in the packaged template is created for real.
 */
export const MOTO_UNSUPPORTED_TYPES: Record<string, string> = {
  'AWS::CloudWatch::Alarm': 'moto CloudFormation has no alarm model; alarms are checked by cfn-lint and the metric-name test',
  'AWS::Logs::QueryDefinition': 'moto CloudFormation has no model for saved Logs Insights queries',
  'AWS::SQS::QueuePolicy': 'moto CloudFormation has no queue-policy model (moto checks no resource policies anyway)',
  'AWS::SNS::TopicPolicy': 'moto CloudFormation has no topic-policy model',
  'AWS::S3::BucketPolicy': 'moto CloudFormation has no bucket-policy model',
  'AWS::Lambda::EventInvokeConfig': 'moto CloudFormation has no model for a function\'s async retry settings',
};

/** Resources dropped because they refer to a dropped one, with the reason. */
export const MOTO_DEPENDENT_DROPS: Record<string, string> = {
  Dashboard: 'its body lists the alarms\' ARNs',
};

/** Logical ids a value refers to (Ref, GetAtt, and `${Id}` / `${Id.Attr}` inside Sub). */
export function referencedIds(value: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencedIds(item, found);
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'Ref' && typeof inner === 'string') found.add(inner);
      else if (key === 'Fn::GetAtt' && Array.isArray(inner) && typeof inner[0] === 'string') found.add(inner[0]);
      else if (key === 'Fn::Sub') {
        const text: unknown = Array.isArray(inner) ? (inner as unknown[])[0] : inner;
        if (typeof text === 'string') for (const match of text.matchAll(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}/g)) found.add(match[1] ?? '');
        referencedIds(inner, found);
      } else referencedIds(inner, found);
    }
  }
  return found;
}

/** moto stores an object Content as is and then fails to hash it; CloudFormation takes both forms. */
function documentContentAsText(resource: CfnResource): void {
  if (resource.Type === 'AWS::SSM::Document' && typeof resource.Properties?.Content === 'object') {
    resource.Properties.Content = JSON.stringify(resource.Properties.Content);
  }
}

export interface SmokeStack {
  template: CfnTemplate;
  dropped: Record<string, string>;
}

/**
 * The packaged template as moto can create it: unsupported types dropped (and what refers to
 * them), function code read from `artifactBucket` instead of the stack's own deployment bucket
 * (which is empty when the stack creates it), the SSM document's content as a JSON string.
 */
export function smokeStackOf(packaged: CfnTemplate, artifactBucket: string): SmokeStack {
  const template = structuredClone(packaged);
  const dropped: Record<string, string> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const reason = MOTO_UNSUPPORTED_TYPES[resource.Type];
    if (reason !== undefined) dropped[logicalId] = reason;
  }
  for (const [logicalId, reason] of Object.entries(MOTO_DEPENDENT_DROPS)) dropped[logicalId] = reason;
  for (const logicalId of Object.keys(dropped)) delete template.Resources[logicalId];

  const dangling = Object.entries(template.Resources).flatMap(([logicalId, resource]) =>
    [...referencedIds(resource)].filter((id) => id in dropped).map((id) => `${logicalId} -> ${id}`),
  );
  if (dangling.length > 0) {
    throw new Error(`resources refer to ones dropped for moto (add them to MOTO_DEPENDENT_DROPS with a reason): ${dangling.join(', ')}`);
  }

  for (const resource of Object.values(template.Resources)) {
    if (resource.Type === 'AWS::Lambda::Function') pointCodeAt(resource, artifactBucket);
    documentContentAsText(resource);
  }
  return { template, dropped };
}

function pointCodeAt(resource: CfnResource, bucket: string): void {
  const code = resource.Properties?.Code as { S3Bucket?: unknown; S3Key?: unknown } | undefined;
  if (code === undefined || typeof code.S3Key !== 'string') throw new Error('a function has no S3 code location');
  code.S3Bucket = bucket;
}

/** S3 keys of the function zips, by zip file name. */
export function artifactKeys(template: CfnTemplate): Map<string, string> {
  const keys = new Map<string, string>();
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const key = (resource.Properties?.Code as { S3Key?: unknown } | undefined)?.S3Key;
    if (typeof key !== 'string') throw new Error('a function has no S3 key');
    keys.set(key.slice(key.lastIndexOf('/') + 1), key);
  }
  return keys;
}
