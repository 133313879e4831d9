/**
 * AWS in memory, for the race property: thousands of interleavings cannot each pay moto's
 * ~10 ms per call. The controller keeps its real SDK clients (serialising, signing and the
 * standard retry strategy all run); a middleware answers in place of the HTTP transport. Only
 * what the switchover handler calls is here, with AWS's semantics for it: conditional writes,
 * CreateRoute refusing an existing route, DescribeInstances filters. Kept in one file so it can
 * give way to the test kit's in-memory ports.
 */
import { DynamoDBClient, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SSMClient } from '@aws-sdk/client-ssm';
import { ConfiguredRetryStrategy } from '@smithy/core/retry';
import { HttpResponse, type HttpHandler } from '@smithy/protocol-http';
import type { DeserializeMiddleware, MetadataBearer, MiddlewareStack } from '@smithy/types';
import { Readable } from 'node:stream';

export class FakeAwsError extends Error {
  public readonly $metadata: { httpStatusCode: number };
  public readonly $fault: 'client' | 'server';
  public constructor(name: string, message: string, status = 400, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
    this.$fault = status >= 500 ? 'server' : 'client';
    Object.assign(this, extra);
  }
}

/** A transient fault the fake injects into one call: before it takes effect, or after (answer lost). */
export type FakeFault = 'throttle' | 'server-error' | 'lost-answer';

export interface FakeInstance {
  instanceId: string;
  eni: string;
  state: string;
  tags: Record<string, string>;
  sourceDestCheck: boolean;
  /** Whether the VIP is on its interface (what the SSM document's add/remove did last). */
  vipOnInterface: boolean;
}

type Item = Record<string, AttributeValue>;

export interface InMemoryAwsOptions {
  vpcId: string;
  vpcCidr: string;
  routeTableIds: string[];
  instances: FakeInstance[];
  accountId: string;
  /** Called before every call; may wait (to interleave concurrent invocations) or return a fault. */
  beforeCall?: (service: string, operation: string, input: Record<string, unknown>) => Promise<FakeFault | null>;
  /** Role of the instance-profile sessions the STS fake vouches for. */
  roleName: string;
  /**
   * The wait before each retry of the SDK clients, instead of the standard strategy's backoff (a
   * throttle waits up to seconds there): every call here answers at once, so a run would spend
   * most of its time asleep. The strategy, its attempts and what it retries stay standard.
   */
  retryDelayMs?: number;
}

export class InMemoryAws {
  public readonly items = new Map<string, Item>();
  /** route table id -> VIP-style routes: destination -> ENI. */
  public readonly routes = new Map<string, Map<string, string>>();
  public readonly instances: Map<string, FakeInstance>;
  public readonly commands: Array<{ commandId: string; instanceIds: string[]; action: string }> = [];
  public readonly events: unknown[] = [];
  public readonly calls: string[] = [];
  /** Route deletions: the controller must never make one. */
  public deletedRoutes = 0;
  private commandCount = 0;
  /** Access key id -> instance id, for the STS fake. */
  private readonly sessions = new Map<string, string>();

  public constructor(private readonly options: InMemoryAwsOptions) {
    for (const id of options.routeTableIds) this.routes.set(id, new Map());
    this.instances = new Map(options.instances.map((instance) => [instance.instanceId, instance]));
  }

  /** Credentials as the instance profile of `instanceId` hands them out; the STS fake knows them. */
  public credentialsOf(instanceId: string): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
    const accessKeyId = `ASIA${instanceId.replace(/[^0-9a-z]/gi, '').toUpperCase().slice(-16)}`;
    this.sessions.set(accessKeyId, instanceId);
    return { accessKeyId, secretAccessKey: 'fake-secret', sessionToken: 'fake-session' };
  }

  public clients(): { ec2: EC2Client; ssm: SSMClient; dynamodb: DynamoDBClient; eventbridge: EventBridgeClient } {
    const config = {
      region: 'us-east-1',
      endpoint: 'http://in-memory.invalid',
      credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' },
      maxAttempts: 4,
      retryMode: 'standard' as const,
      ...(this.options.retryDelayMs === undefined ? {} : { retryStrategy: new ConfiguredRetryStrategy(4, this.options.retryDelayMs) }),
    };
    const ec2 = new EC2Client(config);
    const ssm = new SSMClient(config);
    const dynamodb = new DynamoDBClient(config);
    const eventbridge = new EventBridgeClient(config);
    this.answer(ec2, 'ec2', (operation, input) => this.ec2(operation, input));
    this.answer(ssm, 'ssm', (operation, input) => this.ssm(operation, input));
    this.answer(dynamodb, 'dynamodb', (operation, input) => this.dynamodb(operation, input));
    this.answer(eventbridge, 'events', (operation, input) => this.eventbridge(operation, input));
    return { ec2, ssm, dynamodb, eventbridge };
  }

  /** The proof transport: answers GetCallerIdentity for the instance whose credentials signed. */
  public stsHttp(): HttpHandler {
    return {
      handle: async (request) => {
        const fault = (await this.options.beforeCall?.('sts', 'GetCallerIdentity', {})) ?? null;
        this.calls.push('sts:GetCallerIdentity');
        if (fault === 'throttle' || fault === 'server-error') {
          const status = fault === 'throttle' ? 400 : 500;
          const code = fault === 'throttle' ? 'Throttling' : 'InternalFailure';
          return { response: textResponse(status, `<ErrorResponse><Error><Code>${code}</Code><Message>injected</Message></Error></ErrorResponse>`) };
        }
        const authorization = String(request.headers.authorization ?? request.headers.Authorization ?? '');
        const accessKeyId = /Credential=([^/]+)\//.exec(authorization)?.[1] ?? '';
        const instanceId = this.sessions.get(accessKeyId);
        if (instanceId === undefined) {
          return { response: textResponse(403, '<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>unknown key</Message></Error></ErrorResponse>') };
        }
        const arn = `arn:aws:sts::${this.options.accountId}:assumed-role/${this.options.roleName}/${instanceId}`;
        const body = `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>${arn}</Arn><UserId>AROA:${instanceId}</UserId><Account>${this.options.accountId}</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`;
        if (fault === 'lost-answer') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        return { response: textResponse(200, body) };
      },
      updateHttpClientConfig: () => undefined,
      httpHandlerConfigs: () => ({}),
    };
  }

  /** VIP/32 target per route table (ENI or null). */
  public routeTargets(cidr: string): Record<string, string | null> {
    return Object.fromEntries([...this.routes].map(([id, table]) => [id, table.get(cidr) ?? null]));
  }

  private answer<Input extends object, Output extends MetadataBearer>(
    client: { middlewareStack: MiddlewareStack<Input, Output> },
    service: string,
    handler: (operation: string, input: Record<string, unknown>) => unknown,
  ): void {
    const middleware: DeserializeMiddleware<Input, Output> = (_next, context) => async (args) => {
      const operation = String(context.commandName).replace(/Command$/, '');
      const fault = (await this.options.beforeCall?.(service, operation, args.input as Record<string, unknown>)) ?? null;
      this.calls.push(`${service}:${operation}`);
      if (fault === 'throttle') {
        const name = service === 'ec2' ? 'RequestLimitExceeded' : 'ThrottlingException';
        throw new FakeAwsError(name, 'Rate exceeded (injected)', service === 'ec2' ? 503 : 400);
      }
      if (fault === 'server-error') throw new FakeAwsError(service === 'ec2' ? 'InternalError' : 'InternalServerError', 'injected', 500);
      const output = handler(operation, args.input as Record<string, unknown>);
      // The call took effect; its answer is lost on the way back, as with a dropped connection.
      if (fault === 'lost-answer') throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', $metadata: {} });
      return {
        output: { ...(output as object), $metadata: { httpStatusCode: 200 } } as unknown as Output,
        response: new HttpResponse({ statusCode: 200, headers: {} }),
      };
    };
    client.middlewareStack.add(middleware, { step: 'deserialize', name: 'inMemoryAws', priority: 'high' });
  }

  private ec2(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'DescribeRouteTables': {
        const ids = (input.RouteTableIds as string[] | undefined) ?? [...this.routes.keys()];
        for (const id of ids) if (!this.routes.has(id)) throw new FakeAwsError('InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`);
        return {
          RouteTables: ids.map((id) => ({
            RouteTableId: id,
            VpcId: this.options.vpcId,
            Routes: [...(this.routes.get(id) ?? new Map<string, string>())].map(([cidr, eni]) => ({ DestinationCidrBlock: cidr, NetworkInterfaceId: eni, State: 'active' })),
          })),
        };
      }
      case 'CreateRoute': {
        const table = this.table(input.RouteTableId);
        const cidr = String(input.DestinationCidrBlock);
        if (table.has(cidr)) throw new FakeAwsError('RouteAlreadyExists', `The route identified by ${cidr} already exists.`);
        table.set(cidr, String(input.NetworkInterfaceId));
        return {};
      }
      case 'ReplaceRoute': {
        const table = this.table(input.RouteTableId);
        const cidr = String(input.DestinationCidrBlock);
        if (!table.has(cidr)) throw new FakeAwsError('InvalidParameterValue', `There is no route defined for '${cidr}' in the route table.`);
        table.set(cidr, String(input.NetworkInterfaceId));
        return {};
      }
      case 'DeleteRoute': {
        this.deletedRoutes += 1;
        this.table(input.RouteTableId).delete(String(input.DestinationCidrBlock));
        return {};
      }
      case 'DescribeInstances': {
        const filters = (input.Filters as Array<{ Name: string; Values: string[] }> | undefined) ?? [];
        const ids = input.InstanceIds as string[] | undefined;
        const found = [...this.instances.values()].filter(
          (instance) =>
            (ids === undefined || ids.includes(instance.instanceId)) &&
            filters.every((filter) =>
              filter.Name === 'instance-state-name'
                ? filter.Values.includes(instance.state)
                : filter.Name.startsWith('tag:')
                  ? filter.Values.includes(instance.tags[filter.Name.slice(4)] ?? '\u0000')
                  : true,
            ),
        );
        if (ids !== undefined && found.length === 0) throw new FakeAwsError('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(',')}' do not exist`);
        return {
          Reservations: found.map((instance) => ({
            Instances: [
              {
                InstanceId: instance.instanceId,
                State: { Name: instance.state },
                VpcId: this.options.vpcId,
                Tags: Object.entries(instance.tags).map(([Key, Value]) => ({ Key, Value })),
                NetworkInterfaces: [
                  { NetworkInterfaceId: instance.eni, SourceDestCheck: instance.sourceDestCheck, Attachment: { DeviceIndex: 0, Status: 'attached' } },
                ],
              },
            ],
          })),
        };
      }
      case 'DescribeVpcs':
        return {
          Vpcs: [
            {
              VpcId: this.options.vpcId,
              CidrBlock: this.options.vpcCidr,
              CidrBlockAssociationSet: [{ CidrBlock: this.options.vpcCidr, CidrBlockState: { State: 'associated' } }],
            },
          ],
        };
      case 'ModifyNetworkInterfaceAttribute': {
        const instance = [...this.instances.values()].find((candidate) => candidate.eni === input.NetworkInterfaceId);
        if (instance === undefined) throw new FakeAwsError('InvalidNetworkInterfaceID.NotFound', 'no such ENI');
        instance.sourceDestCheck = Boolean((input.SourceDestCheck as { Value?: boolean } | undefined)?.Value);
        return {};
      }
      default:
        throw new FakeAwsError('UnsupportedOperation', `the in-memory EC2 has no ${operation}`);
    }
  }

  private table(id: unknown): Map<string, string> {
    const table = this.routes.get(String(id));
    if (table === undefined) throw new FakeAwsError('InvalidRouteTableID.NotFound', `The routeTable ID '${String(id)}' does not exist`);
    return table;
  }

  private ssm(operation: string, input: Record<string, unknown>): unknown {
    switch (operation) {
      case 'SendCommand': {
        this.commandCount += 1;
        const commandId = `cmd-${String(this.commandCount).padStart(6, '0')}`;
        const instanceIds = (input.InstanceIds as string[] | undefined) ?? [];
        const action = ((input.Parameters as Record<string, string[]> | undefined)?.Action ?? [])[0] ?? '';
        this.commands.push({ commandId, instanceIds, action });
        for (const id of instanceIds) {
          const instance = this.instances.get(id);
          if (instance !== undefined && action === 'add') instance.vipOnInterface = true;
          if (instance !== undefined && action === 'remove') instance.vipOnInterface = false;
        }
        return { Command: { CommandId: commandId } };
      }
      case 'GetCommandInvocation':
        return { CommandId: input.CommandId, InstanceId: input.InstanceId, Status: 'Success', StandardOutputContent: '', StandardErrorContent: '' };
      default:
        throw new FakeAwsError('UnsupportedOperation', `the in-memory SSM has no ${operation}`);
    }
  }

  private eventbridge(operation: string, input: Record<string, unknown>): unknown {
    if (operation !== 'PutEvents') throw new FakeAwsError('UnsupportedOperation', `the in-memory EventBridge has no ${operation}`);
    const entries = (input.Entries as unknown[] | undefined) ?? [];
    this.events.push(...entries);
    return { FailedEntryCount: 0, Entries: entries.map((_, index) => ({ EventId: `event-${this.events.length}-${index}` })) };
  }

  private dynamodb(operation: string, input: Record<string, unknown>): unknown {
    const key = (item: Item | undefined): string => JSON.stringify(item?.pk ?? null);
    const names = (input.ExpressionAttributeNames as Record<string, string> | undefined) ?? {};
    const values = (input.ExpressionAttributeValues as Record<string, AttributeValue> | undefined) ?? {};
    const conditionHolds = (current: Item | undefined, condition: unknown): boolean =>
      condition === undefined || evaluateCondition(condition as string, current ?? {}, names, values);
    switch (operation) {
      case 'GetItem': {
        const item = this.items.get(key(input.Key as Item));
        return item === undefined ? {} : { Item: structuredClone(item) };
      }
      case 'PutItem': {
        const item = input.Item as Item;
        const current = this.items.get(key(item));
        if (!conditionHolds(current, input.ConditionExpression)) throw new FakeAwsError('ConditionalCheckFailedException', 'The conditional request failed');
        this.items.set(key(item), structuredClone(item));
        return {};
      }
      case 'UpdateItem': {
        const itemKey = input.Key as Item;
        const current = this.items.get(key(itemKey));
        if (!conditionHolds(current, input.ConditionExpression)) throw new FakeAwsError('ConditionalCheckFailedException', 'The conditional request failed');
        const next = applyUpdate(String(input.UpdateExpression), { ...structuredClone(current ?? {}), ...itemKey }, names, values);
        this.items.set(key(itemKey), next);
        return input.ReturnValues === 'ALL_NEW' ? { Attributes: structuredClone(next) } : {};
      }
      case 'TransactWriteItems': {
        const actions = (input.TransactItems as Array<Record<string, Record<string, unknown>>>) ?? [];
        const reasons = actions.map((action) => {
          const [kind, body] = Object.entries(action)[0] ?? ['', {}];
          const itemKey = (kind === 'Put' ? body.Item : body.Key) as Item;
          const actionNames = (body.ExpressionAttributeNames as Record<string, string> | undefined) ?? {};
          const actionValues = (body.ExpressionAttributeValues as Record<string, AttributeValue> | undefined) ?? {};
          const current = this.items.get(key(itemKey));
          const holds = body.ConditionExpression === undefined || evaluateCondition(body.ConditionExpression as string, current ?? {}, actionNames, actionValues);
          return { kind, body, itemKey, actionNames, actionValues, current, holds };
        });
        if (reasons.some((reason) => !reason.holds)) {
          throw new FakeAwsError('TransactionCanceledException', 'Transaction cancelled', 400, {
            CancellationReasons: reasons.map((reason) => ({ Code: reason.holds ? 'None' : 'ConditionalCheckFailed' })),
          });
        }
        for (const reason of reasons) {
          if (reason.kind === 'Put') this.items.set(key(reason.itemKey), structuredClone(reason.body.Item as Item));
          if (reason.kind === 'Update') {
            this.items.set(
              key(reason.itemKey),
              applyUpdate(String(reason.body.UpdateExpression), { ...structuredClone(reason.current ?? {}), ...reason.itemKey }, reason.actionNames, reason.actionValues),
            );
          }
          if (reason.kind === 'Delete') this.items.delete(key(reason.itemKey));
        }
        return {};
      }
      default:
        throw new FakeAwsError('UnsupportedOperation', `the in-memory DynamoDB has no ${operation}`);
    }
  }
}

function textResponse(status: number, body: string): HttpResponse {
  return new HttpResponse({ statusCode: status, headers: { 'content-type': 'text/xml' }, body: Readable.from([Buffer.from(body)]) });
}

// --- DynamoDB expressions: the subset the ledger writes (comparisons, AND/OR/NOT, attribute_(not_)exists) ---

type Token = { kind: 'name' | 'value' | 'word' | 'op' | 'paren' | 'comma'; text: string };

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(#[A-Za-z0-9_]+|:[A-Za-z0-9_]+|<=|>=|<>|=|<|>|\+|-|\(|\)|,|[A-Za-z_][A-Za-z0-9_.]*)/gy;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(expression)) !== null) {
    const text = match[1] ?? '';
    if (text.startsWith('#')) tokens.push({ kind: 'name', text });
    else if (text.startsWith(':')) tokens.push({ kind: 'value', text });
    else if (text === '(' || text === ')') tokens.push({ kind: 'paren', text });
    else if (text === ',') tokens.push({ kind: 'comma', text });
    else if (/^[A-Za-z_]/.test(text)) tokens.push({ kind: 'word', text });
    else tokens.push({ kind: 'op', text });
    if (pattern.lastIndex >= expression.trimEnd().length) break;
  }
  return tokens;
}

const FUNCTIONS = new Set(['attribute_exists', 'attribute_not_exists', 'attribute_type', 'begins_with']);

type Operand = { kind: 'path'; name: string } | { kind: 'value'; value: AttributeValue };

function scalar(value: AttributeValue | undefined): string | number | boolean | null {
  if (value === undefined) return null;
  if ('S' in value && value.S !== undefined) return value.S;
  if ('N' in value && value.N !== undefined) return Number(value.N);
  if ('BOOL' in value && value.BOOL !== undefined) return value.BOOL;
  if ('NULL' in value) return null;
  return JSON.stringify(value);
}

function evaluateCondition(expression: string, item: Item, names: Record<string, string>, values: Record<string, AttributeValue>): boolean {
  const tokens = tokenize(expression);
  let position = 0;
  const peek = (): Token | undefined => tokens[position];
  const take = (): Token => {
    const token = tokens[position];
    if (token === undefined) throw new Error(`condition ended early: ${expression}`);
    position += 1;
    return token;
  };
  const attributeName = (token: Token): string => (token.kind === 'name' ? (names[token.text] ?? token.text) : token.text);
  const operand = (): Operand => {
    const token = take();
    if (token.kind === 'value') return { kind: 'value', value: values[token.text] ?? { NULL: true } };
    return { kind: 'path', name: attributeName(token) };
  };
  const resolve = (value: Operand): AttributeValue | undefined => (value.kind === 'value' ? value.value : item[value.name]);
  const primary = (): boolean => {
    const token = peek();
    if (token?.kind === 'paren' && token.text === '(') {
      take();
      const inner = or();
      take();
      return inner;
    }
    if (token?.kind === 'word' && token.text.toUpperCase() === 'NOT') {
      take();
      return !primary();
    }
    if (token?.kind === 'word' && FUNCTIONS.has(token.text)) {
      take();
      take();
      const name = attributeName(take());
      const argument = peek()?.kind === 'comma' ? (take(), resolve(operand())) : undefined;
      take();
      const value = item[name];
      switch (token.text) {
        case 'attribute_exists':
          return value !== undefined;
        case 'attribute_not_exists':
          return value === undefined;
        case 'attribute_type':
          return value !== undefined && Object.keys(value).includes(String(scalar(argument)));
        default:
          return typeof scalar(value) === 'string' && String(scalar(value)).startsWith(String(scalar(argument)));
      }
    }
    const left = resolve(operand());
    const op = take().text;
    const right = resolve(operand());
    const a = scalar(left);
    const b = scalar(right);
    if (left === undefined || right === undefined) return op === '<>' ? left !== right : false;
    switch (op) {
      case '=':
        return a === b;
      case '<>':
        return a !== b;
      case '<':
        return a !== null && b !== null && a < b;
      case '<=':
        return a !== null && b !== null && a <= b;
      case '>':
        return a !== null && b !== null && a > b;
      case '>=':
        return a !== null && b !== null && a >= b;
      default:
        throw new Error(`unsupported comparison ${op} in ${expression}`);
    }
  };
  const and = (): boolean => {
    let result = primary();
    while (peek()?.kind === 'word' && peek()?.text.toUpperCase() === 'AND') {
      take();
      const right = primary();
      result = result && right;
    }
    return result;
  };
  const or = (): boolean => {
    let result = and();
    while (peek()?.kind === 'word' && peek()?.text.toUpperCase() === 'OR') {
      take();
      const right = and();
      result = result || right;
    }
    return result;
  };
  const result = or();
  if (position !== tokens.length) throw new Error(`condition not understood past token ${position}: ${expression}`);
  return result;
}

function applyUpdate(expression: string, item: Item, names: Record<string, string>, values: Record<string, AttributeValue>): Item {
  const clauses = expression.split(/\b(SET|ADD|REMOVE)\b/).map((part) => part.trim()).filter((part) => part !== '');
  const name = (text: string): string => (text.startsWith('#') ? (names[text] ?? text) : text);
  for (let index = 0; index < clauses.length; index += 2) {
    const verb = clauses[index];
    const body = clauses[index + 1] ?? '';
    for (const part of body.split(',').map((piece) => piece.trim()).filter((piece) => piece !== '')) {
      if (verb === 'SET') {
        const [target, source] = part.split('=').map((piece) => piece.trim()) as [string, string];
        const ifNotExists = /^if_not_exists\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)$/.exec(source);
        if (ifNotExists !== null) {
          const existing = item[name(ifNotExists[1] ?? '')];
          item[name(target)] = existing ?? (values[ifNotExists[2] ?? ''] as AttributeValue);
        } else {
          item[name(target)] = values[source] as AttributeValue;
        }
      } else if (verb === 'ADD') {
        const [target, source] = part.split(/\s+/) as [string, string];
        const current = Number(scalar(item[name(target)]) ?? 0);
        item[name(target)] = { N: String(current + Number(scalar(values[source]) ?? 0)) };
      } else if (verb === 'REMOVE') {
        delete item[name(part)];
      }
    }
  }
  return item;
}
