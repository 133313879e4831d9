#!/bin/sh
# Builds Pgpool-II from the vendored source tree into a cache folder outside the repository,
# once: a cache whose `pgpool --version` names the wanted version is reused as it is.
# Usage: build-pgpool.sh TARBALL VERSION PREFIX
# Needs: bison flex autoconf automake libtool build-essential libpq-dev libssl-dev.
set -eu
tarball="$1"
version="$2"
prefix="$3"
if "$prefix/bin/pgpool" --version 2>/dev/null | grep -q "pgpool-II version $version "; then
  echo "pgpool $version: cached in $prefix"
  exit 0
fi
[ -r "$tarball" ] || { echo "build-pgpool: no source at $tarball" >&2; exit 3; }
for tool in bison flex autoreconf libtoolize make gcc pg_config; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-pgpool: $tool is missing: apt-get install -y bison flex autoconf automake libtool build-essential libpq-dev libssl-dev" >&2
    exit 3
  }
done
work=$(mktemp -d /tmp/pgpool-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "pgpool $version: building into $prefix (about 1.5 minutes)"
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
cd "$src"
rm -rf "$prefix"
mkdir -p "$prefix"
{
  autoreconf -fi
  ./configure --prefix="$prefix" --with-openssl
  make -j2
  make install
} > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; echo "build-pgpool: build failed" >&2; exit 1; }
"$prefix/bin/pgpool" --version
