#!/bin/sh
# Adds or removes the pgpool VIP (/32) on a local interface, as root on the node; `check`
# only reports `present` or `absent` (the reconciler's look at the holder).
# Idempotent: adding a present address and removing an absent one both succeed, so a
# retried or duplicated command converges. Bad parameters fail before anything changes.
set -u
# Byte-wise character classes, whatever locale the node runs in.
LC_ALL=C
export LC_ALL
fail() { echo "pgpool-vip-address: $*" >&2; exit 2; }
[ "$#" -le 3 ] || fail "takes 3 arguments (action, VIP, interface), not $#"
action="${1:-}"
vip="${2:-}"
iface="${3:-}"
# grep checks line by line: a value with a line break could pass on one good line. Nothing but
# printable characters gets that far.
for arg in "$action" "$vip" "$iface"; do
  case "$arg" in
    *[![:print:]]*) fail "arguments must be printable characters only (no line breaks, tabs or control characters)" ;;
  esac
done
case "$action" in
  add|remove|check) ;;
  *) fail "action must be add, remove or check, not '$action'" ;;
esac
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
printf '%s\n' "$vip" | grep -Eqx "($octet\.){3}$octet" || fail "VIP must be a dotted IPv4 address, not '$vip'"
printf '%s\n' "$iface" | grep -Eqx '[A-Za-z0-9][A-Za-z0-9_.-]{0,14}' || fail "interface name has characters an interface cannot have: '$iface'"
IP=$(command -v ip || echo /sbin/ip)
"$IP" link show dev "$iface" >/dev/null 2>&1 || fail "no interface '$iface' on this host"
present() { "$IP" -4 -o addr show dev "$iface" | grep -Fq " inet $vip/32 "; }
if [ "$action" = check ]; then
  if present; then echo "present $vip/32 on $iface"; else echo "absent $vip/32 from $iface"; fi
  exit 0
fi
if [ "$action" = add ]; then
  if present; then echo "$vip/32 already on $iface"; exit 0; fi
  "$IP" addr add "$vip/32" dev "$iface" || fail "ip addr add $vip/32 dev $iface failed"
  present || fail "$vip/32 not on $iface after adding it"
  echo "added $vip/32 to $iface"
else
  if ! present; then echo "$vip/32 not on $iface"; exit 0; fi
  "$IP" addr del "$vip/32" dev "$iface" || fail "ip addr del $vip/32 dev $iface failed"
  echo "removed $vip/32 from $iface"
fi
