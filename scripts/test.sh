#!/bin/sh
# `npm test`: the type check runs beside the tests instead of before them (it takes seconds of one
# core, and the tests leave a core idle while they wait on moto and child processes). Its output
# comes after the tests'; either failing fails the run. Arguments go to vitest.
set -u
report=$(mktemp "${TMPDIR:-/tmp}/pgpool-vip-typecheck.XXXXXX")
trap 'rm -f "$report"' EXIT
tsc --noEmit >"$report" 2>&1 &
typecheck=$!
vitest run "$@"
tests=$?
wait "$typecheck"
checked=$?
if [ "$checked" -ne 0 ]; then
  cat "$report"
  echo "npm test: the type check failed (tsc --noEmit, exit $checked)" >&2
fi
[ "$tests" -eq 0 ] && [ "$checked" -eq 0 ]
