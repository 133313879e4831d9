import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseControllerConfig, type ControllerConfigInput } from '../../lib/cluster-config.ts';
import { ConfigurationError } from '../../lib/errors.ts';
import { buildStageConfig, loadStageConfig, NEVER_DELETE_ROUTES, provisionedConcurrencyOf } from '../../scripts/stage-config.ts';
import { packagedService, REPO_ROOT, runPackage, TEMPLATE_FILE } from '../../local/packaged-service.ts';
import { resolveStageConfigSource } from './stage-config-source.ts';
import { resourcesOfType } from './template-kit.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pgpool-vip-stage-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const DOCUMENT = 'pgpool-vip-address-test';

function cluster(name: string, overrides: Record<string, unknown> = {}): ControllerConfigInput['clusters'][number] {
  return {
    name,
    vip: `198.19.0.${50 + name.length}`,
    routeTables: [`rtb-0${name.length}a1b2c3d4e5f6071`],
    allowedRoles: ['pgpool-node'],
    ...overrides,
  };
}

function stageOf(config: ControllerConfigInput) {
  return buildStageConfig(parseControllerConfig(config, { ssmDocument: DOCUMENT }), 'test');
}

// The packagings below run side by side: the one the configuration refuses stops before the framework
// writes anything, and the one that packages comes from the package cache once its inputs are packaged.
// The other refusals call serverless.yml's variable source in this process, as the framework does
// (stage-config-source.ts): the refused packaging pins what the framework makes of a refusal.
describe.concurrent('Function: serverless package with a stage configuration', () => {
  it('fails with the field named when config/<stage>.json has a bad VIP, and writes no template', async () => {
    // Prepare
    const file = join(scratch, 'bad-vip.json');
    writeFileSync(file, JSON.stringify({ clusters: [cluster('main', { vip: '198.19.0.500' })] }));

    // Act
    const run = await runPackage({ configFile: file, refusedConfiguration: true });
    run.cleanup();

    // Assess
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`pgpool-vip: ${file}: cluster configuration invalid: clusters[0].vip: must be a dotted IPv4 address`);
    expect(existsSync(join(run.dir, TEMPLATE_FILE))).toBe(false);
  });

  it('keeps switchover environments initialised with the provisioned concurrency param, the rule invoking its alias', async () => {
    // `serverless package --param=switchoverProvisionedConcurrency=2`, once per change of its inputs:
    // tens of seconds on a loaded machine, after the run's other serverless commands (they hold the
    // checkout's lock), hence the longer timeout.
    const { template } = await packagedService('dev', { switchoverProvisionedConcurrency: '2' });

    const aliases = resourcesOfType(template, 'AWS::Lambda::Alias');
    expect(aliases.map(([, alias]) => alias.Properties?.ProvisionedConcurrencyConfig)).toEqual([{ ProvisionedConcurrentExecutions: 2 }]);
    expect(aliases[0]?.[1].Properties?.Name).toBe('provisioned');
    // The rule invokes (and may invoke) the alias, not the unqualified function that would start cold.
    const aliasArn = { 'Fn::Join': [':', [{ 'Fn::GetAtt': ['SwitchoverLambdaFunction', 'Arn'] }, 'provisioned']] };
    const targets = resourcesOfType(template, 'AWS::Events::Rule').flatMap(([, rule]) => (rule.Properties?.Targets as Array<{ Arn: unknown }> | undefined) ?? []);
    expect(targets.map((target) => target.Arn)).toContainEqual(aliasArn);
    expect(resourcesOfType(template, 'AWS::Lambda::Permission').map(([, permission]) => permission.Properties?.FunctionName)).toContainEqual(aliasArn);
  }, 180_000);

  it('refuses more provisioned concurrency than the reserve, naming both params, before anything is packaged', async () => {
    const run = await resolveStageConfigSource({ stage: 'dev', params: { switchoverProvisionedConcurrency: '21' } });

    expect(run.resolved).toBeUndefined();
    expect(run.error?.message).toContain('param switchoverProvisionedConcurrency must be a whole number from 0 to 20 (switchoverReservedConcurrency), not "21"');
    expect(run.stderr).toContain('param switchoverProvisionedConcurrency must be a whole number from 0 to 20 (switchoverReservedConcurrency), not "21"');
  });

  it('fails naming the missing file of an unknown stage', async () => {
    const run = await resolveStageConfigSource({ stage: 'nosuchstage' });

    expect(run.resolved).toBeUndefined();
    expect(run.error?.message).toContain(`config/nosuchstage.json: cannot read the cluster configuration of stage "nosuchstage"`);
    expect(run.stderr).toContain(`config/nosuchstage.json: cannot read the cluster configuration of stage "nosuchstage"`);
  });

  it('resolves the committed dev configuration to what the packaged functions are given', async () => {
    const [run, { template }] = await Promise.all([resolveStageConfigSource({ stage: 'dev' }), packagedService('dev')]);

    expect(run.error).toBeUndefined();
    expect(run.stderr).toBe('');
    expect(run.resolved).toMatchObject({ clusterNames: ['main'], switchoverProvisionedConcurrency: 0 });
    const given = resourcesOfType(template, 'AWS::Lambda::Function').map(([, fn]) => (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables?.PGPOOL_VIP_CONFIG);
    expect(given.length).toBeGreaterThan(0);
    for (const config of given) expect(config).toBe((run.resolved as { controllerConfigJson: string }).controllerConfigJson);
  });
});

describe('Function: loadStageConfig', () => {
  it('accepts the committed dev and example configurations', () => {
    for (const stage of ['dev', 'example']) {
      const loaded = loadStageConfig({ stage, configFile: join(REPO_ROOT, `config/${stage}.json`), ssmDocumentName: DOCUMENT });

      expect(loaded.clusterNames, stage).toEqual(['main']);
    }
  });

  it('names the file and the field of a bad configuration', () => {
    const file = join(scratch, 'bad-route-table.json');
    writeFileSync(file, JSON.stringify({ clusters: [cluster('main', { routeTables: ['rtb-nothex'] })] }));

    const load = () => loadStageConfig({ stage: 'test', configFile: file, ssmDocumentName: DOCUMENT });

    expect(load).toThrow(ConfigurationError);
    expect(load).toThrow(`${file}: cluster configuration invalid: clusters[0].routeTables[0]: must be a route table id (rtb-...)`);
  });
});

describe('Function: buildStageConfig', () => {
  it('grants route writes on every configured table of every cluster', () => {
    const stage = stageOf({
      clusters: [cluster('a', { routeTables: ['rtb-0aaaaaaaa', 'rtb-0bbbbbbbb'] }), cluster('bb', { routeTables: ['rtb-0bbbbbbbb'] })],
    });

    const routes = stage.iam.switchoverStatements.find((statement) => statement.Sid === 'PointVipRoutes');

    expect(routes?.Resource).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/rtb-0aaaaaaaa' },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/rtb-0bbbbbbbb' },
    ]);
  });

  it('writes one member condition per tag key, since keys in one condition must all match', () => {
    const stage = stageOf({
      clusters: [cluster('a'), cluster('bb'), cluster('ccc', { memberTag: { key: 'team:pgpool', value: 'ccc' } })],
    });

    const members = stage.iam.switchoverStatements.filter((statement) => statement.Sid.startsWith('RunOnMemberInstances'));

    expect(members.map((statement) => statement.Condition)).toEqual([
      { StringEquals: { 'ssm:resourceTag/pgpool-vip:cluster': ['a', 'bb'] } },
      { StringEquals: { 'ssm:resourceTag/team:pgpool': ['ccc'] } },
    ]);
  });

  it('grants SendCommand on each document the clusters use', () => {
    const stage = stageOf({ clusters: [cluster('a'), cluster('bb', { ssmDocument: 'team-vip-address' })] });

    const documents = stage.iam.switchoverStatements.find((statement) => statement.Sid === 'RunAddressDocument');

    expect(documents?.Resource).toEqual([
      { 'Fn::Sub': `arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:document/${DOCUMENT}` },
      { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/team-vip-address' },
    ]);
  });

  it('grants the source/dest check change only for clusters that let the controller manage it', () => {
    const managed = stageOf({ clusters: [cluster('a'), cluster('bb', { manageSourceDestCheck: false })] });
    const unmanaged = stageOf({ clusters: [cluster('a', { manageSourceDestCheck: false })] });

    const modifies = (statements: typeof managed.iam.switchoverStatements) =>
      statements.filter((statement) => statement.Action.includes('ec2:ModifyNetworkInterfaceAttribute')).map((statement) => statement.Condition);

    expect(modifies(managed.iam.switchoverStatements)).toEqual([{ StringEquals: { 'aws:ResourceTag/pgpool-vip:cluster': ['a'] } }]);
    expect(modifies(unmanaged.iam.switchoverStatements)).toEqual([]);
  });

  it('lets the reconciler write routes only in the tables of clusters that opt in to heal', () => {
    const healing = stageOf({ clusters: [cluster('a', { heal: true, routeTables: ['rtb-0aaaaaaaa'] }), cluster('bb')] });
    const watching = stageOf({ clusters: [cluster('a')] });

    const heal = healing.iam.reconcileStatements.filter((statement) => statement.Action.includes('ec2:ReplaceRoute'));

    expect(heal.map((statement) => [statement.Sid, statement.Resource])).toEqual([
      ['HealVipRoutes', [{ 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:route-table/rtb-0aaaaaaaa' }]],
    ]);
    expect(watching.iam.reconcileStatements.flatMap((statement) => statement.Action)).not.toContain('ec2:ReplaceRoute');
  });

  it('lets the reconciler run SSM only on clusters whose interface it checks', () => {
    const mixed = stageOf({ clusters: [cluster('a', { checkInterface: false }), cluster('bb')] });
    const none = stageOf({ clusters: [cluster('a', { checkInterface: false })] });

    const ssm = mixed.iam.reconcileStatements.filter((statement) => statement.Action.some((action) => action.startsWith('ssm:')));

    expect(ssm.map((statement) => [statement.Action, statement.Condition ?? null])).toEqual([
      [['ssm:SendCommand'], null],
      [['ssm:SendCommand'], { StringEquals: { 'ssm:resourceTag/pgpool-vip:cluster': ['bb'] } }],
      [['ssm:GetCommandInvocation'], null],
    ]);
    expect(none.iam.reconcileStatements).toEqual([NEVER_DELETE_ROUTES]);
  });

  it('stops delivery retries once the proof would be refused as too old, and no earlier than a minute', () => {
    expect(stageOf({ clusters: [cluster('a')], proofFreshnessSeconds: 300 }).requestMaximumEventAgeSeconds).toBe(300);
    expect(stageOf({ clusters: [cluster('a')], proofFreshnessSeconds: 30 }).requestMaximumEventAgeSeconds).toBe(60);
  });

  it('refuses a configuration too large for the function environment', () => {
    const clusters = Array.from({ length: 40 }, (_, index) =>
      cluster(`cluster-${index}`, { vip: `198.19.1.${index}`, routeTables: ['rtb-0aaaaaaaa', 'rtb-0bbbbbbbb', 'rtb-0cccccccc'] }),
    );

    expect(() => stageOf({ clusters })).toThrow(/Lambda environment variables hold at most 3072 bytes/);
  });

  it('provisions no switchover environment unless the stage asks, and takes the param as text or number', () => {
    expect(stageOf({ clusters: [cluster('a')] }).switchoverProvisionedConcurrency).toBe(0);
    expect(provisionedConcurrencyOf('1', 20)).toBe(1);
    expect(provisionedConcurrencyOf(20, '20')).toBe(20);
  });

  it('refuses a provisioned concurrency that is not a whole number within the reserve', () => {
    for (const bad of ['-1', '1.5', 'one', true, '', 21]) {
      expect(() => provisionedConcurrencyOf(bad, 20)).toThrow(
        new ConfigurationError(`param switchoverProvisionedConcurrency must be a whole number from 0 to 20 (switchoverReservedConcurrency), not ${JSON.stringify(bad)}`),
      );
    }
    expect(() => provisionedConcurrencyOf(1, 0)).toThrow(/param switchoverReservedConcurrency must be a whole number of at least 1, not 0/);
  });

  it('hands the controller the validated configuration with defaults filled', () => {
    const stage = stageOf({ clusters: [cluster('a')] });

    expect(JSON.parse(stage.controllerConfigJson)).toMatchObject({
      clusters: [{ name: 'a', interface: 'eth0', memberTag: { key: 'pgpool-vip:cluster', value: 'a' }, ssmDocument: DOCUMENT }],
      proofFreshnessSeconds: 60,
    });
    // Re-parsed by the controller with any document default, it is still the same configuration.
    expect(parseControllerConfig(stage.controllerConfigJson, { ssmDocument: 'another' })).toEqual(
      parseControllerConfig({ clusters: [cluster('a')] }, { ssmDocument: DOCUMENT }),
    );
  });
});
