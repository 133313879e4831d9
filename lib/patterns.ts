/**
 * The contract's text patterns, free of zod: the agent's command-line parser checks VIP and
 * IFACE with them before it loads any schema, so `--version` and `--help` stay cheap.
 */
const IPV4_OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
export const IPV4_PATTERN = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);
/** Linux interface names: at most 15 bytes, no slash, whitespace or shell metacharacters. */
export const INTERFACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
export const CLUSTER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
