import type { CfnResource, CfnTemplate } from '../../local/packaged-service.ts';

/** An IAM policy document as infra/deployer-policy.json writes it. */
export interface PolicyDocument {
  Version: string;
  Statement: Array<{ Sid?: string; Effect: 'Allow' | 'Deny'; Action: string | string[]; Resource: string | string[]; Condition?: unknown }>;
}

const list = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

/** IAM's wildcard match: `*` any run of characters, `?` one; actions are case-insensitive. */
function matches(pattern: string, value: string, ignoreCase = false): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${source}$`, ignoreCase ? 'i' : '').test(value);
}

/** Whether an Allow statement grants `action` on `arn` (conditions are not evaluated; the policy has no Deny). */
export function allows(policy: PolicyDocument, action: string, arn: string): boolean {
  return policy.Statement.some(
    (statement) =>
      statement.Effect === 'Allow' &&
      list(statement.Action).some((pattern) => matches(pattern, action, true)) &&
      list(statement.Resource).some((pattern) => matches(pattern, arn)),
  );
}

/** Whether any Allow statement grants `action` at all (for calls whose resource is not known). */
export function allowsAction(policy: PolicyDocument, action: string): boolean {
  return policy.Statement.some((statement) => statement.Effect === 'Allow' && list(statement.Action).some((pattern) => matches(pattern, action, true)));
}

export interface StackContext {
  stackName: string;
  region: string;
  account: string;
  template: CfnTemplate;
}

/** What CloudFormation names a resource that has no name property: stack, logical id, a random suffix. */
const generated = (context: StackContext, logicalId: string): string => `${context.stackName}-${logicalId}-AbC123XyZ789`;

function nameOf(context: StackContext, logicalId: string, property: string): string {
  const value = context.template.Resources[logicalId]?.Properties?.[property];
  return typeof value === 'string' ? value : generated(context, logicalId);
}

/** The logical id a `Ref`/`Fn::GetAtt` points at, or the `${Id}` of a `Fn::Sub`. */
function referencedId(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    const ref = (value as { Ref?: unknown }).Ref;
    if (typeof ref === 'string') return ref;
    const getAtt = (value as { 'Fn::GetAtt'?: unknown })['Fn::GetAtt'];
    if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  }
  throw new Error(`not a reference to a resource of the stack: ${JSON.stringify(value)}`);
}

function functionArn(context: StackContext, reference: unknown): string {
  return `arn:aws:lambda:${context.region}:${context.account}:function:${nameOf(context, referencedId(reference), 'FunctionName')}`;
}

function ruleArn(context: StackContext, logicalId: string, rule: CfnResource): string {
  const name = nameOf(context, logicalId, 'Name');
  const bus = rule.Properties?.EventBusName;
  const busName = bus === undefined ? undefined : nameOf(context, referencedId(bus), 'Name');
  return `arn:aws:events:${context.region}:${context.account}:rule/${busName === undefined ? '' : `${busName}/`}${name}`;
}

export interface TypePermissions {
  /** What CloudFormation calls with the deployer's credentials to create, read, update and delete it. */
  actions: string[];
  /** The ARN those actions are authorized on. */
  arn(context: StackContext, logicalId: string, resource: CfnResource): string;
  /** Properties that would need permissions the policy does not grant (KMS keys, VPC access, ...). */
  needsMore?: string[];
}

const tagging = (service: string, ...actions: string[]): string[] => actions.map((action) => `${service}:${action}`);

/**
 * The permissions per resource type, as the types' CloudFormation handlers need them. A type the
 * packaged template gains without an entry here fails the deployer-policy test.
 */
export const TYPE_PERMISSIONS: Record<string, TypePermissions> = {
  'AWS::S3::Bucket': {
    actions: tagging('s3', 'CreateBucket', 'DeleteBucket', 'ListBucket', 'GetBucketLocation', 'PutEncryptionConfiguration', 'GetEncryptionConfiguration', 'PutBucketTagging', 'GetBucketTagging'),
    arn: (context, logicalId) => `arn:aws:s3:::${generated(context, logicalId).toLowerCase()}`,
    needsMore: ['BucketName', 'ReplicationConfiguration', 'LoggingConfiguration', 'NotificationConfiguration', 'ObjectLockConfiguration'],
  },
  'AWS::S3::BucketPolicy': {
    actions: tagging('s3', 'PutBucketPolicy', 'GetBucketPolicy', 'DeleteBucketPolicy'),
    arn: (context, _id, resource) => `arn:aws:s3:::${generated(context, referencedId(resource.Properties?.Bucket)).toLowerCase()}`,
  },
  'AWS::Logs::LogGroup': {
    actions: tagging('logs', 'CreateLogGroup', 'DeleteLogGroup', 'PutRetentionPolicy', 'DeleteRetentionPolicy', 'TagResource', 'ListTagsForResource'),
    arn: (context, logicalId) => `arn:aws:logs:${context.region}:${context.account}:log-group:${nameOf(context, logicalId, 'LogGroupName')}:*`,
    needsMore: ['KmsKeyId', 'DataProtectionPolicy'],
  },
  'AWS::Lambda::Function': {
    actions: tagging(
      'lambda',
      'CreateFunction',
      'DeleteFunction',
      'GetFunction',
      'GetFunctionConfiguration',
      'UpdateFunctionCode',
      'UpdateFunctionConfiguration',
      'PutFunctionConcurrency',
      'DeleteFunctionConcurrency',
      'GetFunctionCodeSigningConfig',
      'GetRuntimeManagementConfig',
      'TagResource',
      'ListTags',
    ),
    arn: (context, logicalId) => functionArn(context, { Ref: logicalId }),
    needsMore: ['VpcConfig', 'KmsKeyArn', 'FileSystemConfigs', 'Layers', 'CodeSigningConfigArn', 'ImageConfig', 'RuntimeManagementConfig'],
  },
  'AWS::Lambda::EventInvokeConfig': {
    actions: tagging('lambda', 'PutFunctionEventInvokeConfig', 'UpdateFunctionEventInvokeConfig', 'GetFunctionEventInvokeConfig', 'DeleteFunctionEventInvokeConfig'),
    arn: (context, _id, resource) => functionArn(context, resource.Properties?.FunctionName),
  },
  'AWS::Lambda::Permission': {
    actions: tagging('lambda', 'AddPermission', 'RemovePermission', 'GetPolicy'),
    arn: (context, _id, resource) => functionArn(context, resource.Properties?.FunctionName),
  },
  'AWS::Lambda::Version': {
    actions: tagging('lambda', 'PublishVersion', 'ListVersionsByFunction', 'GetFunctionConfiguration', 'DeleteFunction'),
    arn: (context, _id, resource) => functionArn(context, resource.Properties?.FunctionName),
  },
  'AWS::Lambda::Alias': {
    actions: tagging('lambda', 'CreateAlias', 'UpdateAlias', 'GetAlias', 'DeleteAlias', 'PutProvisionedConcurrencyConfig', 'GetProvisionedConcurrencyConfig', 'DeleteProvisionedConcurrencyConfig'),
    arn: (context, _id, resource) => `${functionArn(context, resource.Properties?.FunctionName)}:${String(resource.Properties?.Name)}`,
  },
  'AWS::Events::Rule': {
    actions: tagging('events', 'PutRule', 'DeleteRule', 'DescribeRule', 'PutTargets', 'RemoveTargets', 'ListTargetsByRule', 'TagResource'),
    arn: (context, logicalId, resource) => ruleArn(context, logicalId, resource),
    needsMore: ['RoleArn'],
  },
  'AWS::Events::EventBus': {
    actions: tagging('events', 'CreateEventBus', 'DeleteEventBus', 'DescribeEventBus', 'TagResource', 'ListTagsForResource'),
    arn: (context, logicalId) => `arn:aws:events:${context.region}:${context.account}:event-bus/${nameOf(context, logicalId, 'Name')}`,
    needsMore: ['KmsKeyIdentifier', 'DeadLetterConfig'],
  },
  'AWS::Events::Archive': {
    actions: tagging('events', 'CreateArchive', 'DeleteArchive', 'DescribeArchive', 'UpdateArchive'),
    arn: (context, logicalId) => `arn:aws:events:${context.region}:${context.account}:archive/${nameOf(context, logicalId, 'ArchiveName')}`,
    needsMore: ['KmsKeyIdentifier'],
  },
  'AWS::SNS::Topic': {
    actions: tagging('sns', 'CreateTopic', 'DeleteTopic', 'GetTopicAttributes', 'SetTopicAttributes', 'TagResource', 'ListTagsForResource'),
    arn: (context, logicalId) => `arn:aws:sns:${context.region}:${context.account}:${nameOf(context, logicalId, 'TopicName')}`,
    needsMore: ['KmsMasterKeyId', 'Subscription', 'DataProtectionPolicy'],
  },
  'AWS::SNS::TopicPolicy': {
    actions: tagging('sns', 'SetTopicAttributes', 'GetTopicAttributes'),
    arn: (context, _id, resource) => {
      const [topic] = (resource.Properties?.Topics as unknown[] | undefined) ?? [];
      return `arn:aws:sns:${context.region}:${context.account}:${nameOf(context, referencedId(topic), 'TopicName')}`;
    },
  },
  'AWS::SQS::Queue': {
    actions: tagging('sqs', 'CreateQueue', 'DeleteQueue', 'GetQueueAttributes', 'SetQueueAttributes', 'GetQueueUrl', 'TagQueue', 'ListQueueTags'),
    arn: (context, logicalId) => `arn:aws:sqs:${context.region}:${context.account}:${nameOf(context, logicalId, 'QueueName')}`,
    needsMore: ['KmsMasterKeyId', 'RedrivePolicy'],
  },
  'AWS::SQS::QueuePolicy': {
    actions: tagging('sqs', 'SetQueueAttributes', 'GetQueueAttributes'),
    arn: (context, _id, resource) => {
      const [queue] = (resource.Properties?.Queues as unknown[] | undefined) ?? [];
      return `arn:aws:sqs:${context.region}:${context.account}:${nameOf(context, referencedId(queue), 'QueueName')}`;
    },
  },
  'AWS::DynamoDB::Table': {
    actions: tagging('dynamodb', 'CreateTable', 'DescribeTable', 'UpdateTable', 'DescribeTimeToLive', 'UpdateTimeToLive', 'DescribeContinuousBackups', 'UpdateContinuousBackups', 'TagResource', 'ListTagsOfResource'),
    arn: (context, logicalId) => `arn:aws:dynamodb:${context.region}:${context.account}:table/${nameOf(context, logicalId, 'TableName')}`,
    needsMore: ['SSESpecification', 'StreamSpecification', 'KinesisStreamSpecification', 'ImportSourceSpecification', 'ResourcePolicy'],
  },
  'AWS::SSM::Document': {
    actions: tagging('ssm', 'CreateDocument', 'DeleteDocument', 'DescribeDocument', 'GetDocument', 'UpdateDocument', 'UpdateDocumentDefaultVersion', 'AddTagsToResource', 'ListTagsForResource'),
    arn: (context, logicalId) => `arn:aws:ssm:${context.region}:${context.account}:document/${nameOf(context, logicalId, 'Name')}`,
    needsMore: ['Attachments', 'Requires'],
  },
  'AWS::IAM::Role': {
    actions: tagging('iam', 'CreateRole', 'DeleteRole', 'GetRole', 'UpdateAssumeRolePolicy', 'PutRolePolicy', 'GetRolePolicy', 'DeleteRolePolicy', 'ListRolePolicies', 'AttachRolePolicy', 'DetachRolePolicy', 'ListAttachedRolePolicies', 'TagRole'),
    arn: (context, logicalId) => `arn:aws:iam::${context.account}:role/${nameOf(context, logicalId, 'RoleName')}`,
    needsMore: ['PermissionsBoundary'],
  },
  'AWS::IAM::ManagedPolicy': {
    actions: tagging('iam', 'CreatePolicy', 'DeletePolicy', 'GetPolicy', 'CreatePolicyVersion', 'DeletePolicyVersion', 'GetPolicyVersion', 'ListPolicyVersions', 'ListEntitiesForPolicy'),
    arn: (context, logicalId) => `arn:aws:iam::${context.account}:policy/${nameOf(context, logicalId, 'ManagedPolicyName')}`,
    needsMore: ['Groups', 'Users'],
  },
  'AWS::IAM::InstanceProfile': {
    actions: tagging('iam', 'CreateInstanceProfile', 'DeleteInstanceProfile', 'GetInstanceProfile', 'AddRoleToInstanceProfile', 'RemoveRoleFromInstanceProfile'),
    arn: (context, logicalId) => `arn:aws:iam::${context.account}:instance-profile/${nameOf(context, logicalId, 'InstanceProfileName')}`,
  },
  'AWS::CloudWatch::Alarm': {
    actions: tagging('cloudwatch', 'PutMetricAlarm', 'DeleteAlarms', 'DescribeAlarms', 'TagResource', 'ListTagsForResource'),
    arn: (context, logicalId) => `arn:aws:cloudwatch:${context.region}:${context.account}:alarm:${nameOf(context, logicalId, 'AlarmName')}`,
  },
  'AWS::CloudWatch::Dashboard': {
    actions: tagging('cloudwatch', 'PutDashboard', 'GetDashboard', 'DeleteDashboards'),
    arn: (context, logicalId) => `arn:aws:cloudwatch::${context.account}:dashboard/${nameOf(context, logicalId, 'DashboardName')}`,
  },
  'AWS::Logs::QueryDefinition': {
    // Saved queries have no resource-level permissions.
    actions: tagging('logs', 'PutQueryDefinition', 'DescribeQueryDefinitions', 'DeleteQueryDefinition'),
    arn: () => '*',
  },
};

/** Where CloudFormation needs to pass a role: the function roles to Lambda, the node role to its instance profile. */
export function passedRoles(context: StackContext): string[] {
  const roles = new Set<string>();
  for (const resource of Object.values(context.template.Resources)) {
    if (resource.Type === 'AWS::Lambda::Function') roles.add(rolePassed(context, resource.Properties?.Role));
    if (resource.Type === 'AWS::IAM::InstanceProfile') for (const role of (resource.Properties?.Roles as unknown[] | undefined) ?? []) roles.add(rolePassed(context, role));
  }
  return [...roles];
}

function rolePassed(context: StackContext, reference: unknown): string {
  // The functions name their role as `!Sub ${SwitchoverRole.Arn}`.
  const sub = (reference as { 'Fn::Sub'?: unknown } | undefined)?.['Fn::Sub'];
  const logicalId = typeof sub === 'string' ? /^\$\{([A-Za-z0-9]+)\.Arn\}$/.exec(sub)?.[1] : referencedId(reference);
  if (logicalId === undefined) throw new Error(`a role given as ${JSON.stringify(reference)}`);
  return `arn:aws:iam::${context.account}:role/${nameOf(context, logicalId, 'RoleName')}`;
}

/**
 * The IAM action behind an AWS SDK call that `serverless deploy`/`remove` makes itself (S3 names
 * some operations after other actions). Undefined for a call that needs no permission here.
 */
export const CALLS_NEEDING_NO_PERMISSION: Record<string, string> = {
  'STS GetCallerIdentity': 'needs no permission',
  'ECR DescribeRepositories': 'the framework looks for its image repository and takes AccessDenied as "none" (this service has no images)',
};

const SERVICE_PREFIX: Record<string, string> = { CloudFormation: 'cloudformation', S3: 's3', Lambda: 'lambda', 'CloudWatch Logs': 'logs', IAM: 'iam', ECR: 'ecr', STS: 'sts' };
const S3_ACTIONS: Record<string, string> = {
  HeadBucket: 'ListBucket',
  ListObjectsV2: 'ListBucket',
  ListObjects: 'ListBucket',
  ListObjectVersions: 'ListBucketVersions',
  HeadObject: 'GetObject',
  DeleteObjects: 'DeleteObject',
};

export function iamActionOf(call: string): string {
  const [service = '', operation = ''] = call.split(' ');
  const prefix = SERVICE_PREFIX[service];
  if (prefix === undefined) throw new Error(`no IAM prefix known for the SDK service "${service}" (call ${call})`);
  return `${prefix}:${prefix === 's3' ? (S3_ACTIONS[operation] ?? operation) : operation}`;
}
