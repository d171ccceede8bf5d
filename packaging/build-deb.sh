#!/usr/bin/env bash
# Builds the logship Debian package with plain dpkg-deb (no cargo-deb):
#
#   bash packaging/build-deb.sh      ->  target/debian/logship_<version>_<arch>.deb
#
# <version> is the logship package's version in Cargo.toml (a semver
# pre-release `-x` becomes `~x`, so it sorts before the release), <arch> is
# `dpkg --print-architecture`. Needs cargo, dpkg-deb, dpkg-shlibdeps
# (dpkg-dev) and strip (binutils). The package layout is in
# packaging/README.md; the maintainer scripts are in packaging/deb/.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."

die() { echo "build-deb.sh: $*" >&2; exit 1; }
for tool in cargo:rustup dpkg:dpkg dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev strip:binutils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || die "${tool%%:*} not found (install ${tool#*:})"
done

echo "== cargo build --release --locked --bin logship"
cargo build --release --locked --bin logship
target_dir=${CARGO_TARGET_DIR:-target}
binary=$target_dir/release/logship
[ -x "$binary" ] || die "$binary was not built"

# Version: Cargo.toml's, which the binary must report too (a stale binary
# in a different target dir would not).
pkgid=$(cargo pkgid --locked -p logship)
cargo_version=${pkgid##*[#@]}
[[ $cargo_version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "unexpected version '$cargo_version' from cargo pkgid ($pkgid)"
[ "$("$binary" --version)" = "logship $cargo_version" ] \
  || die "$binary --version says '$("$binary" --version)', Cargo.toml says $cargo_version"
version=${cargo_version//-/\~}
arch=$(dpkg --print-architecture)
description=$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$description" ] || die "no description in Cargo.toml"

out_dir=$target_dir/debian
deb=$out_dir/logship_${version}_${arch}.deb
# dpkg-shlibdeps wants a debian/control next to debian/<package>/.
work=$out_dir/work
stage=$work/debian/logship
rm -rf "$work"
mkdir -p "$stage/DEBIAN"

# The tree. Every path here is checked by .ci/package.
install -d "$stage/usr/bin"
strip --strip-unneeded --remove-section=.comment -o "$stage/usr/bin/logship" "$binary"
chmod 0755 "$stage/usr/bin/logship"
for role in collector agent; do
  install -D -m 0644 "systemd/logship-$role.service" "$stage/lib/systemd/system/logship-$role.service"
  install -D -m 0644 "packaging/etc/logship/$role.yaml" "$stage/etc/logship/$role.yaml"
  install -D -m 0644 "configs/$role.yaml" "$stage/usr/share/doc/logship/examples/$role.yaml"
done
doc=$stage/usr/share/doc/logship
install -m 0644 README.md "$doc/README.md"
install -m 0644 packaging/README.md "$doc/README.Debian"
install -m 0644 systemd/README.md "$doc/README.systemd.md"
install -m 0644 docs/http-api.md docs/metrics.md "$doc/"
install -m 0644 configs/grafana-dashboard.json "$doc/examples/"
install -m 0644 packaging/deb/copyright "$doc/copyright"

# Shared-library dependencies of the binary (librdkafka is linked
# statically: today libc6, libgcc-s1, zlib1g and libssl3, the OpenSSL that
# librdkafka's TLS and SCRAM use).
printf 'Source: logship\n\nPackage: logship\nArchitecture: any\n' > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O debian/logship/usr/bin/logship)
depends=${shlibs#shlibs:Depends=}
{ [ -n "$depends" ] && [ "$depends" != "$shlibs" ]; } || die "dpkg-shlibdeps printed '$shlibs'"
rm "$work/debian/control"

install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') > "$stage/DEBIAN/conffiles"
installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: logship
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-logship developers <logship@localhost>}
Installed-Size: $installed_size
Depends: $depends
Section: net
Priority: optional
Description: $description
 logship ships log files from edge agents to a collector that stores them
 as a Kafka-style commit log and speaks the Kafka wire protocol, so stock
 Kafka clients (kcat, librdkafka, confluent-kafka, kafka-python) produce to
 and consume from it. One binary runs either role, configured in YAML.
 .
 This package installs /usr/bin/logship, the systemd units
 logship-collector.service and logship-agent.service (neither enabled nor
 started), their configurations in /etc/logship and the logship system
 user. See /usr/share/doc/logship/README.Debian.
EOF
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z \
  | xargs -0 md5sum | sed 's|  \./|  |') > "$stage/DEBIAN/md5sums"

# Reproducible timestamps when built from a git checkout.
if [ -z "${SOURCE_DATE_EPOCH:-}" ] && epoch=$(git log -1 --format=%ct 2>/dev/null); then
  export SOURCE_DATE_EPOCH=$epoch
fi
rm -f "$deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$work"
echo "== built $deb ($(du -h "$deb" | cut -f1))"
