#!/bin/sh
# Runs one if_up_cmd/if_down_cmd for the drill and records when it started and ended, so the
# report can show the time from pgpool starting the command to the command's exit.
# pgpool runs it by execv with its own environment: PGVD_IF_CMD_LOG and PGVD_NODE come from there.
# Usage (in pgpool.conf): /abs/timed-if-cmd.sh /abs/command up|down $_IP_$ eth0 [more args]
log="${PGVD_IF_CMD_LOG:?PGVD_IF_CMD_LOG is not set}"
node="${PGVD_NODE:-unknown}"
action="${2:-?}"
echo "start $$ $node $action $(date +%s%3N)" >> "$log"
out="$log.$$.out"
"$@" > "$out" 2>&1
rc=$?
last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | cut -c1-300)
echo "end $$ $node $action $(date +%s%3N) $rc $last" >> "$log"
exit $rc
