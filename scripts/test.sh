#!/bin/sh
# `npm test`: the type check runs beside the tests instead of before them (it takes seconds of one
# core, and the tests leave a core idle while they wait on moto and child processes). Its output
# comes after the tests'; either failing fails the run. Arguments go to vitest.
set -u
report=$(mktemp "${TMPDIR:-/tmp}/pgpool-vip-typecheck.XXXXXX")
trap 'rm -f "$report"' EXIT
# The check is TypeScript's native compiler (`tsgo`, same tsconfig, same strictness): a full check
# of the project and the SDK's types costs it ~3.5 s of one core where `tsc` takes ~16 s, which a
# fresh clone's first run paid beside the tests. `tsc --noEmit` (`npm run typecheck`) stays the
# check of the editor and of eslint's typed rules; both pass on the same code.
# `-b` skips the check when no file of the project changed since the last clean one. It looks at
# the project's own files only, so a change of the installed dependencies starts over from a full
# check. The two compilers share the build info file; each starts over from the other's.
buildinfo=node_modules/.cache/tsc/tsconfig.tsbuildinfo
for installed in package-lock.json node_modules/.package-lock.json; do
  if [ -e "$installed" ] && [ "$installed" -nt "$buildinfo" ]; then rm -f "$buildinfo"; fi
done
tsgo -b --singleThreaded >"$report" 2>&1 &
typecheck=$!
vitest run "$@"
tests=$?
wait "$typecheck"
checked=$?
if [ "$checked" -ne 0 ]; then
  cat "$report"
  echo "npm test: the type check failed (tsgo -b, exit $checked)" >&2
fi
[ "$tests" -eq 0 ] && [ "$checked" -eq 0 ]
