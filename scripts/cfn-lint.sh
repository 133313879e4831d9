#!/bin/sh
# Lints CloudFormation templates written by `serverless package` (default: .serverless/).
# Usage: scripts/cfn-lint.sh [template.json ...]. Exit 0 only with zero findings, warnings included.
set -eu
[ "$#" -gt 0 ] || set -- .serverless/cloudformation-template-update-stack.json
if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "cfn-lint: not found on PATH: install it with \`pip install cfn-lint\` (python 3)" >&2
  exit 127
fi
for template in "$@"; do
  if [ ! -f "$template" ]; then
    echo "cfn-lint: $template does not exist: run \`npm run package\` first" >&2
    exit 2
  fi
done
exec cfn-lint --format parseable -- "$@"
