/**
 * Node's built-in modules for the agent file's entry and the code cache, reached without an
 * import statement. The built file is then a plain script that Node runs either way: through its
 * CommonJS loader when installed without an extension (`/usr/local/bin/pgpool-vip`), at once and
 * without the ES module loader's work before the first line runs, and as a module when it is
 * still called `pgpool-vip.mjs`.
 */
export interface EntryBuiltins {
  fs: typeof import('node:fs');
  vm: typeof import('node:vm');
  createRequire: typeof import('node:module').createRequire;
}

/** process.getBuiltinModule (Node 20.16+, 22.3+) returns them at once; older Nodes import them. */
export async function entryBuiltins(): Promise<EntryBuiltins> {
  if (typeof process.getBuiltinModule === 'function') {
    return { fs: process.getBuiltinModule('node:fs'), vm: process.getBuiltinModule('node:vm'), createRequire: process.getBuiltinModule('node:module').createRequire };
  }
  const [fs, vm, module] = await Promise.all([import('node:fs'), import('node:vm'), import('node:module')]);
  return { fs, vm, createRequire: module.createRequire };
}
