import type { IncomingHttpHeaders } from 'node:http';
import type { CallKind } from './latency-profile.ts';

/** The wire protocols of the services the product calls. */
export type Protocol = 'ec2-query' | 'aws-query' | 'aws-json' | 'other';

/** One request as the front door sees it. */
export interface AwsCall {
  /** Signing name from the SigV4 credential scope: ec2, sts, dynamodb, ssm, events, sqs, iam, logs. */
  service: string;
  /** API operation, e.g. DescribeRouteTables, UpdateItem, SendCommand. */
  operation: string;
  protocol: Protocol;
}

const SCOPE = /Credential=[^/,\s]+\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/;

/** Which service and operation a request is, from its signature scope and its target or Action. */
export function classifyCall(headers: IncomingHttpHeaders, body: Buffer): AwsCall {
  const authorization = headers.authorization ?? '';
  const service = SCOPE.exec(authorization.slice(0, 2000))?.[1] ?? 'other';
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) {
    return { service, operation: target.slice(target.lastIndexOf('.') + 1), protocol: 'aws-json' };
  }
  const action = new URLSearchParams(body.toString('utf8').slice(0, 4000)).get('Action');
  if (action !== null) return { service, operation: action, protocol: service === 'ec2' ? 'ec2-query' : 'aws-query' };
  return { service, operation: 'unknown', protocol: 'other' };
}

/** Which figure of the latency profile a call pays; null for calls AWS would not make (SQS stands in for a Lambda trigger). */
export function callKindOf(call: AwsCall): CallKind | null {
  switch (call.service) {
    case 'ec2':
      return call.operation.startsWith('Describe') ? 'ec2-read' : 'ec2-write';
    case 'dynamodb':
      return call.operation.startsWith('Transact') ? 'dynamodb-transaction' : 'dynamodb';
    case 'sts':
      return 'sts';
    case 'ssm':
      return call.operation === 'GetCommandInvocation'
        ? 'ssm-get-command-invocation'
        : call.operation === 'SendCommand'
          ? 'ssm-send-command'
          : null;
    case 'events':
      return call.operation === 'PutEvents' ? 'eventbridge-put-events' : null;
    default:
      return null;
  }
}

/** An error answer in the service's own wire format. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type ErrorKind = 'throttle' | 'server-error';

/**
 * The error each service really answers when it throttles or fails inside (AWS API references,
 * "Common Errors" of EC2, STS, DynamoDB, SSM and EventBridge). `code` picks another throttling
 * code of the same service (DynamoDB: ProvisionedThroughputExceededException).
 */
export function errorAnswer(call: AwsCall, kind: ErrorKind, requestId: string, code?: string): ErrorAnswer {
  const known = ERRORS[call.service] ?? ERRORS.default;
  const spec = known?.[kind] ?? { status: kind === 'throttle' ? 400 : 500, code: kind === 'throttle' ? 'ThrottlingException' : 'InternalFailure', message: 'injected' };
  const chosen = code === undefined ? spec : { ...spec, code, message: MESSAGES[code] ?? spec.message };
  switch (call.protocol) {
    case 'ec2-query':
      return {
        status: chosen.status,
        headers: { 'content-type': 'text/xml;charset=UTF-8' },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${chosen.code}</Code><Message>${chosen.message}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      };
    case 'aws-query':
      return {
        status: chosen.status,
        headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
        body: `<ErrorResponse><Error><Type>${chosen.status >= 500 ? 'Receiver' : 'Sender'}</Type><Code>${chosen.code}</Code><Message>${chosen.message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      };
    default: {
      const type = call.service === 'dynamodb' ? `com.amazonaws.dynamodb.v20120810#${chosen.code}` : chosen.code;
      return {
        status: chosen.status,
        headers: {
          'content-type': call.service === 'dynamodb' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ __type: type, message: chosen.message }),
      };
    }
  }
}

interface ErrorSpec {
  status: number;
  code: string;
  message: string;
}

/** A service's throttling and internal-error answers, as [status, code, message] each. */
const answers = (throttle: [number, string, string], serverError: [number, string, string]): Record<ErrorKind, ErrorSpec> => ({
  throttle: { status: throttle[0], code: throttle[1], message: throttle[2] },
  'server-error': { status: serverError[0], code: serverError[1], message: serverError[2] },
});
const RATE_EXCEEDED: [number, string, string] = [400, 'ThrottlingException', 'Rate exceeded'];
const UNKNOWN_FAILURE: [number, string, string] = [500, 'InternalFailure', 'The request processing has failed because of an unknown error.'];

const ERRORS: Record<string, Record<ErrorKind, ErrorSpec>> = {
  ec2: answers([503, 'RequestLimitExceeded', 'Request limit exceeded.'], [500, 'InternalError', 'An internal error has occurred.']),
  sts: answers([400, 'Throttling', 'Rate exceeded'], UNKNOWN_FAILURE),
  dynamodb: answers([400, 'ThrottlingException', 'Rate of requests exceeds the allowed throughput.'], [500, 'InternalServerError', 'Internal server error']),
  ssm: answers(RATE_EXCEEDED, [500, 'InternalServerError', 'An error occurred on the server side.']),
  events: answers(RATE_EXCEEDED, [500, 'InternalException', 'This exception occurs due to unexpected causes.']),
  default: answers(RATE_EXCEEDED, UNKNOWN_FAILURE),
};

const MESSAGES: Record<string, string> = {
  ProvisionedThroughputExceededException:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
  RequestLimitExceeded: 'Request limit exceeded.',
  Unavailable: 'The server is overloaded and can not handle the request.',
  ServiceUnavailable: 'Service is unable to handle request.',
};
