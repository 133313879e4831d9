import { LogFormatter, LogItem, Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, UnformattedAttributes } from '@aws-lambda-powertools/logger/types';
import { SERVICE_NAME } from '../lib/telemetry.ts';

/**
 * Powertools drops top-level keys whose value is null or ''. Audit fields are stable: a `reason`
 * of null is information ("no reason"), so this log item keeps nulls and drops only undefined.
 */
class StableLogItem extends LogItem {
  public override removeEmptyKeys(attributes: LogAttributes): LogAttributes {
    return Object.fromEntries(Object.entries(attributes).filter(([, value]) => value !== undefined));
  }
}

/** The Powertools JSON layout, with null fields kept. */
export class StableFieldsFormatter extends LogFormatter {
  public override formatAttributes(attributes: UnformattedAttributes, additional: LogAttributes): LogItem {
    const base: LogAttributes = {
      level: attributes.logLevel,
      message: attributes.message,
      timestamp: this.formatTimestamp(attributes.timestamp),
      service: attributes.serviceName,
      cold_start: attributes.lambdaContext?.coldStart,
      function_arn: attributes.lambdaContext?.invokedFunctionArn,
      function_name: attributes.lambdaContext?.functionName,
      function_request_id: attributes.lambdaContext?.awsRequestId,
      xray_trace_id: attributes.xRayTraceId,
    };
    return new StableLogItem({ attributes: base }).addAttributes(additional);
  }
}

/** The functions' logger: service name, JSON lines, null audit fields kept. */
export function createLogger(options: { logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' } = {}): Logger {
  return new Logger({ serviceName: SERVICE_NAME, logFormatter: new StableFieldsFormatter(), ...options });
}
