// The packaged template as moto's CloudFormation can create it: whole (the template tests), or the
// part a local world runs on (the demo, the drill, the tests), with only what moto cannot do
// replaced, each replacement with its reason.
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

/**
 * What a world takes from the packaged stack: the bus, the ledger table with its index, the SSM
 * document, the example node role's instance profile, and the switchover rule; with everything
 * they refer to (the node policy and role, the rule's dead-letter queue).
 */
export const WORLD_RESOURCES = ['Bus', 'LedgerTable', 'AddressDocument', 'NodeInstanceProfile'] as const;
/** The function the switchover rule invokes in AWS. */
export const SWITCHOVER_FUNCTION = 'SwitchoverLambdaFunction';

/** Resources a world adds to the stack by hand: only what moto cannot do, each with its reason. */
export const WORLD_ADDITIONS = {
  LocalRequestQueue: 'moto cannot invoke a Lambda without docker: the switchover rule delivers to this queue, which the local controller polls',
  LocalOutcomeQueue: 'the stack publishes outcome events for its users\' own rules: the world\'s observers read them from this queue',
  LocalOutcomeRule: 'delivers every outcome event on the bus to LocalOutcomeQueue',
} as const;

/** The properties that carry a resource's physical name, by type. */
const PHYSICAL_NAME_PROPERTY: Record<string, string> = {
  'AWS::Events::EventBus': 'Name',
  'AWS::Events::Rule': 'Name',
  'AWS::DynamoDB::Table': 'TableName',
  'AWS::SSM::Document': 'Name',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::InstanceProfile': 'InstanceProfileName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::SQS::Queue': 'QueueName',
};

export interface WorldStack {
  template: CfnTemplate;
  /** Logical id of the switchover rule (the framework names it after the stage). */
  switchoverRule: string;
}

/**
 * The part of the packaged template a world runs on, as moto can create it.
 *
 * Several worlds share one moto_server, so every physical name the template sets (the property
 * in PHYSICAL_NAME_PROPERTY) gets `prefix` in front; names the template leaves to CloudFormation
 * (the dead-letter queue, the node policy) are unique through the stack name. The switchover
 * rule keeps its pattern, retry policy and dead-letter queue; its target becomes
 * LocalRequestQueue (WORLD_ADDITIONS says why).
 */
export function worldStackOf(packaged: CfnTemplate, prefix: string, outcomePattern: Record<string, unknown>): WorldStack {
  const switchoverRule = Object.entries(packaged.Resources).find(
    ([, resource]) => resource.Type === 'AWS::Events::Rule' && referencedIds(resource.Properties?.Targets).has(SWITCHOVER_FUNCTION),
  )?.[0];
  if (switchoverRule === undefined) throw new Error(`the packaged template has no rule targeting ${SWITCHOVER_FUNCTION}`);

  const resources: Record<string, CfnResource> = {};
  const take = (logicalId: string): void => {
    if (logicalId in resources || logicalId.startsWith('AWS::') || logicalId in (packaged.Parameters ?? {})) return;
    const found = packaged.Resources[logicalId];
    if (found === undefined) throw new Error(`the packaged template has no resource ${logicalId}`);
    const resource = structuredClone(found);
    if (logicalId === switchoverRule) deliverTo(resource, 'LocalRequestQueue');
    resources[logicalId] = resource;
    for (const referenced of referencedIds(resource)) if (!(referenced in WORLD_ADDITIONS)) take(referenced);
  };
  for (const logicalId of [...WORLD_RESOURCES, switchoverRule]) take(logicalId);

  for (const resource of Object.values(resources)) {
    const property = PHYSICAL_NAME_PROPERTY[resource.Type];
    const name = property === undefined ? undefined : resource.Properties?.[property];
    if (property !== undefined && typeof name === 'string' && resource.Properties !== undefined) resource.Properties[property] = `${prefix}${name}`;
    documentContentAsText(resource);
  }
  resources.LocalRequestQueue = { Type: 'AWS::SQS::Queue' };
  resources.LocalOutcomeQueue = { Type: 'AWS::SQS::Queue' };
  resources.LocalOutcomeRule = {
    Type: 'AWS::Events::Rule',
    Properties: {
      EventBusName: { 'Fn::GetAtt': ['Bus', 'Name'] },
      EventPattern: outcomePattern,
      State: 'ENABLED',
      Targets: [{ Id: 'outcomes', Arn: { 'Fn::GetAtt': ['LocalOutcomeQueue', 'Arn'] } }],
    },
  };

  const outputs = Object.fromEntries(
    Object.entries(packaged.Outputs ?? {}).filter(([, output]) => [...referencedIds(output.Value)].every((id) => id in resources || id.startsWith('AWS::'))),
  );
  return {
    template: { AWSTemplateFormatVersion: '2010-09-09', Parameters: packaged.Parameters, Conditions: packaged.Conditions, Resources: resources, Outputs: outputs },
    switchoverRule,
  };
}

function deliverTo(rule: CfnResource, queue: string): void {
  const targets = rule.Properties?.Targets;
  if (!Array.isArray(targets) || targets.length !== 1) throw new Error('the switchover rule has not exactly one target');
  (targets[0] as Record<string, unknown>).Arn = { 'Fn::GetAtt': [queue, 'Arn'] };
}
