import type { CfnTemplate } from '../../local/packaged-service.ts';

/** One IAM statement as it appears in the template, with where it came from. */
export interface FoundStatement {
  /** e.g. `SwitchoverRole/switchover`, `NodePolicy`, `NodeRole/trust`. */
  origin: string;
  effect: string;
  actions: string[];
  resources: unknown[];
  condition: Record<string, Record<string, unknown>> | undefined;
  principal: unknown;
}

const asArray = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function statementsOf(origin: string, document: unknown): FoundStatement[] {
  if (!isRecord(document)) throw new Error(`${origin}: policy document is not an object`);
  return asArray(document.Statement).map((raw, index) => {
    if (!isRecord(raw)) throw new Error(`${origin}: statement ${index} is not an object`);
    const actions = asArray(raw.Action).map((action) => {
      if (typeof action !== 'string') throw new Error(`${origin}: statement ${index} has a non-string action`);
      return action;
    });
    return {
      origin,
      effect: String(raw.Effect),
      actions,
      resources: asArray(raw.Resource),
      condition: raw.Condition as FoundStatement['condition'],
      principal: raw.Principal,
    };
  });
}

/**
 * Every policy statement in the template: role inline policies and trust policies, managed
 * policies, and resource policies (queues, topics, buckets).
 */
export function allStatements(template: CfnTemplate): FoundStatement[] {
  const found: FoundStatement[] = [];
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const properties = resource.Properties ?? {};
    switch (resource.Type) {
      case 'AWS::IAM::Role':
        found.push(...statementsOf(`${logicalId}/trust`, properties.AssumeRolePolicyDocument));
        for (const policy of asArray(properties.Policies)) {
          if (!isRecord(policy)) throw new Error(`${logicalId}: inline policy is not an object`);
          found.push(...statementsOf(`${logicalId}/${String(policy.PolicyName)}`, policy.PolicyDocument));
        }
        break;
      case 'AWS::IAM::ManagedPolicy':
      case 'AWS::IAM::Policy':
      case 'AWS::SQS::QueuePolicy':
      case 'AWS::SNS::TopicPolicy':
      case 'AWS::S3::BucketPolicy':
        found.push(...statementsOf(logicalId, properties.PolicyDocument));
        break;
      default:
        break;
    }
  }
  return found;
}

/** Identity-policy statements (not trust, not resource policies) of one role or managed policy. */
export function identityStatements(template: CfnTemplate, logicalId: string): FoundStatement[] {
  return allStatements(template).filter(
    (statement) => statement.origin === logicalId || (statement.origin.startsWith(`${logicalId}/`) && !statement.origin.endsWith('/trust')),
  );
}

/** Actions the statements allow (Deny statements left out), sorted, once each. */
export function actionsOf(statements: FoundStatement[]): string[] {
  return [...new Set(statements.filter((statement) => statement.effect === 'Allow').flatMap((statement) => statement.actions))].sort();
}

export function statementsWithAction(statements: FoundStatement[], action: string): FoundStatement[] {
  return statements.filter((statement) => statement.actions.includes(action));
}
