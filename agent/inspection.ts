/**
 * The commands that look at a node and its cluster but never switch anything: they need the
 * EC2, STS and CloudWatch Logs clients that `up` and `down` do without. The bundle carries
 * them compressed and compiles them only when one of them runs (scripts/build-agent.ts).
 */
export { runAudit } from './audit-command.ts';
export { runDoctor } from './doctor.ts';
export { runStatus } from './status.ts';
