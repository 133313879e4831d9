/**
 * The EC2 and STS reads of `status` and `doctor`, in one module loaded on demand: importing
 * named commands here (not the package namespace) lets the bundler keep only what is used.
 */
export { DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand, EC2Client } from '@aws-sdk/client-ec2';
export { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
