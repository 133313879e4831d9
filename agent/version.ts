import packageJson from '../package.json' with { type: 'json' };

/** The agent ships with the project's version. */
export const AGENT_VERSION: string = packageJson.version;
