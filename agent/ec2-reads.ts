/**
 * The EC2, STS and SSM reads of `status` and `doctor`, in one module loaded on demand: importing
 * named commands here (not the package namespace) lets the bundler keep only what is used.
 */
export { DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand, EC2Client } from '@aws-sdk/client-ec2';
export { DescribeInstanceInformationCommand, SSMClient } from '@aws-sdk/client-ssm';
export { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
