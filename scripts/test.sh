#!/bin/sh
# `npm test`: the type check runs beside the tests instead of before them (it takes seconds of one
# core, and the tests leave a core idle while they wait on moto and child processes). Its output
# comes after the tests'; either failing fails the run. Arguments go to vitest.
set -u
report=$(mktemp "${TMPDIR:-/tmp}/pgpool-vip-typecheck.XXXXXX")
trap 'rm -f "$report"' EXIT
# `tsc -b` skips the check when no file of the project changed since the last clean one (loading
# the SDK's types alone costs `tsc --noEmit` seconds). It looks at the project's own files only,
# so a change of the installed dependencies starts over from a full check.
buildinfo=node_modules/.cache/tsc/tsconfig.tsbuildinfo
for installed in package-lock.json node_modules/.package-lock.json; do
  if [ -e "$installed" ] && [ "$installed" -nt "$buildinfo" ]; then rm -f "$buildinfo"; fi
done
tsc -b >"$report" 2>&1 &
typecheck=$!
vitest run "$@"
tests=$?
wait "$typecheck"
checked=$?
if [ "$checked" -ne 0 ]; then
  cat "$report"
  echo "npm test: the type check failed (tsc -b, exit $checked)" >&2
fi
[ "$tests" -eq 0 ] && [ "$checked" -eq 0 ]
