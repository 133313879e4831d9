import type { ClusterConfig } from '../../lib/cluster-config.ts';
import { ipv4InCidr } from '../../lib/cluster-config.ts';
import type { RequestDetail } from '../../lib/contract.ts';
import type { Member, VipRoute } from './model.ts';
import { RequestRejectedError, StepFailedError } from './steps.ts';

/** What membership validation concluded about the sender's ENI. */
export interface MemberCheck {
  /** The ENI's source/dest check is on and must be turned off before traffic can reach the VIP. */
  sourceDestCheckToDisable: boolean;
}

/**
 * The configured route tables must sit in one VPC whose CIDR does not contain the VIP (a VIP
 * inside the VPC would be routed by the VPC's local route, never by ours).
 */
export function checkClusterNetwork(cluster: ClusterConfig, routes: VipRoute[], vpcCidrs: string[]): string {
  const vpcs = [...new Set(routes.map((route) => route.vpcId))];
  if (vpcs.length !== 1 || vpcs[0] === undefined || vpcs[0] === '') {
    throw new StepFailedError(
      'configuration',
      `route tables of cluster "${cluster.name}" must all be in one VPC; found ${vpcs.join(', ') || 'none'}`,
    );
  }
  const inside = vpcCidrs.find((cidr) => ipv4InCidr(cluster.vip, cidr));
  if (inside !== undefined) {
    throw new StepFailedError(
      'configuration',
      `VIP ${cluster.vip} of cluster "${cluster.name}" is inside CIDR ${inside} of ${vpcs[0]}; choose an address outside the VPC`,
    );
  }
  return vpcs[0];
}

/**
 * The sender must be a running instance carrying the member tag, in the cluster's VPC, and the ENI
 * it names must be attached to it. `sender` is null when EC2 does not know the instance.
 */
export function checkMember(
  request: Pick<RequestDetail, 'instanceId' | 'eni'>,
  cluster: ClusterConfig,
  sender: Member | null,
  vpcId: string,
): MemberCheck {
  const reject = (reason: string): never => {
    throw new RequestRejectedError('validate', reason);
  };
  if (sender === null) return reject(`instance ${request.instanceId} does not exist`);
  const { key, value } = cluster.memberTag;
  if (sender.tags[key] !== value) {
    reject(`instance ${request.instanceId} is not a member of cluster "${cluster.name}" (missing tag ${key}=${value})`);
  }
  if (sender.state !== 'running') reject(`instance ${request.instanceId} is ${sender.state}, not running`);
  if (sender.vpcId !== vpcId) {
    reject(`instance ${request.instanceId} is in ${sender.vpcId ?? 'no VPC'}, not in ${vpcId} of the cluster's route tables`);
  }
  const eni = sender.interfaces.find((candidate) => candidate.eni === request.eni);
  if (eni === undefined || !eni.attached) {
    reject(`${request.eni} is not attached to instance ${request.instanceId}`);
  }
  const sourceDestCheckOn = eni?.sourceDestCheck !== false;
  if (sourceDestCheckOn && !cluster.manageSourceDestCheck) {
    reject(
      `source/destination check is enabled on ${request.eni}; disable it (aws ec2 modify-network-interface-attribute --no-source-dest-check) or set manageSourceDestCheck`,
    );
  }
  return { sourceDestCheckToDisable: sourceDestCheckOn };
}
