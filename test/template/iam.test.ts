import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../lib/cluster-config.ts';
import { OUTCOME_SOURCE, REQUEST_DETAIL_TYPE, REQUEST_SOURCE } from '../../lib/contract.ts';
import { LEDGER_HISTORY_INDEX } from '../../lib/ledger-records.ts';
import { actionsOf, allStatements, identityStatements, statementsWithAction, type FoundStatement } from './iam-statements.ts';
import { REPO_ROOT, type CfnTemplate } from '../../local/packaged-service.ts';
import { packageTemplate, resource } from './template-kit.ts';
import { zipEntryText } from './zip-entries.ts';

// config/dev.json: cluster "main", two route tables, default member tag, heal off.
const DEV_ROUTE_TABLE_ARNS = [
  { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/rtb-0a1b2c3d4e5f60718' },
  { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/rtb-0f1e2d3c4b5a69788' },
];
const DEV_DOCUMENT_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/pgpool-vip-address-dev' };
const ANY_INSTANCE_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*' };
const ANY_ENI_ARN = { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*' };
const LEDGER_ARN = { 'Fn::GetAtt': ['LedgerTable', 'Arn'] };
const LEDGER_INDEX_ARN = { 'Fn::Sub': `\${LedgerTable.Arn}/index/${LEDGER_HISTORY_INDEX}` };
const BUS_ARN = { 'Fn::GetAtt': ['Bus', 'Arn'] };

/**
 * Actions that have no resource-level permissions in IAM, so "*" is their only valid resource.
 * The rule is "no `*` action", not "no `*` resource"; this list keeps "*" resources to these.
 */
const RESOURCE_STAR_ACTIONS = new Set([
  'ec2:DescribeRouteTables',
  'ec2:DescribeInstances',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVpcs',
  'ssm:GetCommandInvocation',
  'ssm:DescribeInstanceInformation',
  'logs:GetQueryResults',
  'logs:DescribeQueryDefinitions',
]);

/** Commands the SDK's own credential providers can send (web identity, SSO): not the function's calls. */
const SDK_CREDENTIAL_COMMANDS = new Set(['AssumeRole', 'AssumeRoleWithWebIdentity', 'GetRoleCredentials', 'CreateToken']);
/** The Lambda runtime writes the logs; the code never calls CloudWatch Logs. */
const RUNTIME_ACTIONS = new Set(['logs:CreateLogStream', 'logs:PutLogEvents']);

/** API names of the SDK commands a function's bundle constructs (`new XxxCommand(`). */
function commandsInBundle(name: string): string[] {
  const bundle = zipEntryText(join(packagedDir, `${name}.zip`), `functions/${name}/handler.mjs`);
  const names = [...bundle.matchAll(/\bnew (\w+)Command\(/g)].map((match) => match[1] ?? '');
  return [...new Set(names)].filter((command) => !SDK_CREDENTIAL_COMMANDS.has(command)).sort();
}

/** API names (without the service prefix) a role may call, the runtime's log writes aside. */
function grantedApiNames(role: string): string[] {
  return actionsOf(identityStatements(template, role))
    .filter((action) => !RUNTIME_ACTIONS.has(action))
    .map((action) => action.slice(action.indexOf(':') + 1))
    .sort();
}

let template: CfnTemplate;
let packagedDir: string;
let statements: FoundStatement[];

beforeAll(async () => {
  ({ template, dir: packagedDir } = await packageTemplate('dev'));
  statements = allStatements(template);
});


describe('Template: IAM of the controller', () => {
  it('grants no wildcard action in any Allow statement', () => {
    // Prepare
    const allows = statements.filter((statement) => statement.effect === 'Allow');

    // Act
    const wildcards = allows.flatMap((statement) =>
      statement.actions.filter((action) => action === '*' || action.endsWith(':*')).map((action) => `${statement.origin}: ${action}`),
    );

    // Assess
    expect(allows.length).toBeGreaterThan(20);
    expect(wildcards).toEqual([]);
  });

  it('uses the "*" resource only for actions that have no resource-level permissions', () => {
    const starred = statements.filter((statement) => statement.effect === 'Allow' && statement.resources.includes('*'));

    const others = starred.flatMap((statement) => statement.actions.filter((action) => !RESOURCE_STAR_ACTIONS.has(action)));

    expect(starred.length).toBeGreaterThan(0);
    expect(others).toEqual([]);
  });

  it('never allows ec2:DeleteRoute, and denies it to both controller roles outright', () => {
    const deleteRoute = statementsWithAction(statements, 'ec2:DeleteRoute');

    expect(deleteRoute.map((statement) => [statement.origin, statement.effect, statement.actions, statement.resources])).toEqual([
      ['SwitchoverRole/switchover-cluster-scope', 'Deny', ['ec2:DeleteRoute'], ['*']],
      ['ReconcileRole/reconcile-cluster-scope', 'Deny', ['ec2:DeleteRoute'], ['*']],
    ]);
    expect(statements.some((statement) => statement.effect === 'Allow' && statement.actions.some((action) => /^ec2:(\*|Delete\*|DeleteRoute)$/.test(action)))).toBe(false);
  });

  it('grants the switchover role exactly the calls the controller makes', () => {
    const granted = actionsOf(identityStatements(template, 'SwitchoverRole'));

    expect(granted).toEqual(
      [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'ec2:CreateRoute',
        'ec2:DescribeInstances',
        'ec2:DescribeRouteTables',
        'ec2:DescribeVpcs',
        'ec2:ModifyNetworkInterfaceAttribute',
        'ec2:ReplaceRoute',
        'events:PutEvents',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'ssm:GetCommandInvocation',
        'ssm:SendCommand',
      ].sort(),
    );
  });

  it('grants the switchover exactly the SDK commands its bundle sends', () => {
    // A transaction has no IAM action of its own: DynamoDB checks the actions of its writes.
    const sent = commandsInBundle('switchover');
    const transactionParts = sent.includes('TransactWriteItems') ? ['PutItem', 'UpdateItem'] : [];

    expect(sent.length).toBeGreaterThan(8);
    expect(grantedApiNames('SwitchoverRole')).toEqual([...new Set([...sent.filter((name) => name !== 'TransactWriteItems'), ...transactionParts])].sort());
  });

  it('grants the reconciler every SDK command its bundle sends, route writes only when a cluster heals', () => {
    // config/dev.json has heal off; the SSM interface check may not be wired into the bundle yet.
    const routeWrites = new Set(['CreateRoute', 'ReplaceRoute']);
    const sent = commandsInBundle('reconcile');
    const granted = grantedApiNames('ReconcileRole');

    expect(sent.length).toBeGreaterThan(3);
    expect(sent.filter((command) => !routeWrites.has(command) && !granted.includes(command))).toEqual([]);
    expect(granted.filter((action) => !sent.includes(action) && !['SendCommand', 'GetCommandInvocation'].includes(action))).toEqual([]);
  });

  it('limits CreateRoute and ReplaceRoute of the switchover to the configured route tables', () => {
    const switchover = identityStatements(template, 'SwitchoverRole');

    const routeWrites = [...statementsWithAction(switchover, 'ec2:CreateRoute'), ...statementsWithAction(switchover, 'ec2:ReplaceRoute')];

    expect(new Set(routeWrites).size).toBe(1);
    const [statement] = routeWrites;
    expect(statement?.actions.sort()).toEqual(['ec2:CreateRoute', 'ec2:ReplaceRoute']);
    expect(statement?.resources).toEqual(DEV_ROUTE_TABLE_ARNS);
    expect(statement?.condition).toBeUndefined();
  });

  it('limits SendCommand to the project document and to instances carrying the member tag', () => {
    for (const role of ['SwitchoverRole', 'ReconcileRole']) {
      const sends = statementsWithAction(identityStatements(template, role), 'ssm:SendCommand');

      const onDocument = sends.filter((statement) => statement.condition === undefined);
      const onInstances = sends.filter((statement) => statement.condition !== undefined);

      expect(sends.every((statement) => statement.actions.length === 1), role).toBe(true);
      expect(onDocument.map((statement) => statement.resources), role).toEqual([[DEV_DOCUMENT_ARN]]);
      expect(onInstances.map((statement) => [statement.resources, statement.condition]), role).toEqual([
        [[ANY_INSTANCE_ARN], { StringEquals: { 'ssm:resourceTag/pgpool-vip:cluster': ['main'] } }],
      ]);
    }
  });

  it('allows ModifyNetworkInterfaceAttribute only on network interfaces carrying the member tag', () => {
    const modifies = statementsWithAction(statements, 'ec2:ModifyNetworkInterfaceAttribute');

    expect(modifies.map((statement) => [statement.origin, statement.actions, statement.resources, statement.condition])).toEqual([
      [
        'SwitchoverRole/switchover-cluster-scope',
        ['ec2:ModifyNetworkInterfaceAttribute'],
        [ANY_ENI_ARN],
        { StringEquals: { 'aws:ResourceTag/pgpool-vip:cluster': ['main'] } },
      ],
    ]);
  });

  it('keeps ledger access on the ledger table and its history index', () => {
    const dynamo = statements.filter((statement) => statement.actions.some((action) => action.startsWith('dynamodb:')));

    const elsewhere = dynamo.filter((statement) =>
      statement.resources.some((arn) => JSON.stringify(arn) !== JSON.stringify(LEDGER_ARN) && JSON.stringify(arn) !== JSON.stringify(LEDGER_INDEX_ARN)),
    );

    expect(dynamo.length).toBeGreaterThanOrEqual(4);
    expect(elsewhere.map((statement) => statement.origin)).toEqual([]);
  });

  it('lets the switchover put events only on the bus and only as the controller', () => {
    const puts = statementsWithAction(statements, 'events:PutEvents').filter((statement) => statement.origin !== 'NodePolicy');

    expect(puts.map((statement) => statement.origin)).toEqual(['SwitchoverRole/switchover']);
    for (const statement of puts) {
      expect(statement.resources).toEqual([BUS_ARN]);
      expect(statement.condition).toEqual({ StringEquals: { 'events:source': OUTCOME_SOURCE } });
    }
  });

  it('grants no sts action: the controller replays the caller-signed request instead', () => {
    const sts = statements.filter((statement) => statement.actions.some((action) => action.startsWith('sts:') && !statement.origin.endsWith('/trust')));

    expect(sts).toEqual([]);
  });

  it('gives the reconciler no route write while no cluster opts in to heal, and no ledger write at all', () => {
    const granted = actionsOf(identityStatements(template, 'ReconcileRole'));

    expect(granted).toEqual(
      [
        'dynamodb:GetItem',
        'ec2:DescribeInstances',
        'ec2:DescribeRouteTables',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'ssm:GetCommandInvocation',
        'ssm:SendCommand',
      ].sort(),
    );
  });

  it('lets each function write logs only to its own log group', () => {
    for (const [role, logGroup] of [
      ['SwitchoverRole', 'SwitchoverLogGroup'],
      ['ReconcileRole', 'ReconcileLogGroup'],
    ] as const) {
      const logs = identityStatements(template, role).filter((statement) => statement.actions.some((action) => action.startsWith('logs:')));

      expect(logs.map((statement) => statement.resources), role).toEqual([[{ 'Fn::GetAtt': [logGroup, 'Arn'] }]]);
    }
  });

  it('hands the functions the stage configuration they were granted for', () => {
    const devConfig = parseControllerConfig(readFileSync(join(REPO_ROOT, 'config/dev.json'), 'utf8'), {
      ssmDocument: 'pgpool-vip-address-dev',
    });

    for (const logicalId of ['SwitchoverLambdaFunction', 'ReconcileLambdaFunction']) {
      const environment = (resource(template, logicalId).Properties?.Environment as { Variables: Record<string, unknown> }).Variables;

      // Each function gets what it reads: the reconciler neither checks proofs nor publishes outcomes.
      const own = logicalId === 'SwitchoverLambdaFunction' ? ['ACCOUNT_ID', 'EVENT_BUS_NAME'] : [];
      expect(Object.keys(environment).sort(), logicalId).toEqual(
        [...own, 'LEDGER_TABLE', 'PGPOOL_VIP_CONFIG', 'POWERTOOLS_METRICS_NAMESPACE', 'POWERTOOLS_SERVICE_NAME', 'SSM_DOCUMENT_NAME'].sort(),
      );
      expect(parseControllerConfig(environment.PGPOOL_VIP_CONFIG)).toEqual(devConfig);
      if (logicalId === 'SwitchoverLambdaFunction') expect(environment.ACCOUNT_ID).toEqual({ Ref: 'AWS::AccountId' });
      expect(environment.SSM_DOCUMENT_NAME).toEqual({ Ref: 'AddressDocument' });
      expect(environment.POWERTOOLS_METRICS_NAMESPACE).toBe('PgpoolVip');
    }
  });
});

describe('Template: IAM of the pgpool nodes', () => {
  it('grants the node policy exactly the agent\'s calls: PutEvents, GetItem and the Describe calls of status and doctor', () => {
    const node = identityStatements(template, 'NodePolicy');

    expect(actionsOf(node)).toEqual([
      'dynamodb:GetItem',
      'ec2:DescribeInstances',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeRouteTables',
      'events:DescribeEventBus',
      'events:PutEvents',
      'ssm:DescribeInstanceInformation',
    ]);
    expect(statementsWithAction(node, 'events:DescribeEventBus').map((statement) => statement.resources)).toEqual([[BUS_ARN]]);
  });

  it('lets nodes put only switchover requests, only on the bus', () => {
    const [put, ...others] = statementsWithAction(identityStatements(template, 'NodePolicy'), 'events:PutEvents');

    expect(others).toEqual([]);
    expect(put?.resources).toEqual([BUS_ARN]);
    expect(put?.condition).toEqual({
      StringEquals: { 'events:source': REQUEST_SOURCE, 'events:detail-type': REQUEST_DETAIL_TYPE },
    });
  });

  it("lets nodes read only request records and the stage's VIP holder records of the ledger, one item at a time", () => {
    const [get, ...others] = statementsWithAction(identityStatements(template, 'NodePolicy'), 'dynamodb:GetItem');

    expect(others).toEqual([]);
    expect(get?.actions).toEqual(['dynamodb:GetItem']);
    expect(get?.resources).toEqual([LEDGER_ARN]);
    expect(get?.condition).toEqual({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['request#*', 'vip#main'] } });
  });

  it('keeps the audit read policy separate and read-only', () => {
    const audit = identityStatements(template, 'AuditReadPolicy');

    expect(actionsOf(audit)).toEqual(['dynamodb:GetItem', 'dynamodb:Query', 'logs:DescribeQueryDefinitions', 'logs:GetQueryResults', 'logs:StartQuery']);
    expect(statementsWithAction(audit, 'logs:StartQuery').map((statement) => statement.resources)).toEqual([
      [{ 'Fn::GetAtt': ['SwitchoverLogGroup', 'Arn'] }],
    ]);
  });

  it('defines each allowed role of the stage config it creates with a trust for ec2.amazonaws.com only', () => {
    const allowed = parseControllerConfig(readFileSync(join(REPO_ROOT, 'config', 'dev.json'), 'utf8')).clusters.flatMap((cluster) => cluster.allowedRoles);
    const defined = Object.entries(template.Resources ?? {}).filter(
      ([, candidate]) => candidate.Type === 'AWS::IAM::Role' && allowed.includes(String(candidate.Properties?.RoleName)),
    );

    expect(defined.map(([logicalId]) => logicalId)).toEqual(['NodeRole']);
    for (const [logicalId] of defined) {
      const trust = statements.filter((statement) => statement.origin === `${logicalId}/trust`);
      expect(trust.map((statement) => [statement.effect, statement.actions, statement.principal])).toEqual([
        ['Allow', ['sts:AssumeRole'], { Service: 'ec2.amazonaws.com' }],
      ]);
    }
  });

  it('lets only ec2.amazonaws.com assume the example node role', () => {
    const trust = statements.filter((statement) => statement.origin === 'NodeRole/trust');

    expect(trust.map((statement) => [statement.effect, statement.actions, statement.principal, statement.condition])).toEqual([
      ['Allow', ['sts:AssumeRole'], { Service: 'ec2.amazonaws.com' }, undefined],
    ]);
  });

  it('attaches the node policy and the SSM agent policy to the example node role, nothing else', () => {
    const role = resource(template, 'NodeRole');

    expect(role.Condition).toBe('ExampleNodeRole');
    expect(role.Properties?.Policies).toBeUndefined();
    expect(role.Properties?.ManagedPolicyArns).toEqual([
      { Ref: 'NodePolicy' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore' },
    ]);
    expect(resource(template, 'NodeInstanceProfile').Properties?.Roles).toEqual([{ Ref: 'NodeRole' }]);
  });

  it('lets only lambda.amazonaws.com assume the controller roles', () => {
    for (const role of ['SwitchoverRole', 'ReconcileRole']) {
      const trust = statements.filter((statement) => statement.origin === `${role}/trust`);

      expect(trust.map((statement) => [statement.actions, statement.principal]), role).toEqual([
        [['sts:AssumeRole'], { Service: 'lambda.amazonaws.com' }],
      ]);
    }
  });
});
