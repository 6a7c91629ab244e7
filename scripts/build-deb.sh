#!/bin/sh
# Builds a Debian package of aicd (aicd, aicctl, libaicengine, the bundled
# model, the user unit, D-Bus files, man pages, completion) from this tree.
#   scripts/build-deb.sh [OUTDIR]     -> OUTDIR/aicd_VERSION_ARCH.deb
set -eu
cd "$(dirname "$0")/.."
out=${1:-$PWD/out}
build=build-deb
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
        -DAICD_USERUNITDIR=/usr/lib/systemd/user >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
DESTDIR=$stage cmake --install "$build" >/dev/null

version=$(sed -n 's/^project(aicd VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
arch=$(dpkg --print-architecture)
# Runtime dependencies from the libraries the binaries actually link.
deps=$(for f in "$build"/daemon/aicd "$build"/dbus/aicctl "$build"/engine/libaicengine.so.0; do ldd "$f"; done 2>/dev/null |
        awk '/=> \// { print $3 }' | sort -u | while read -r lib; do
                dpkg -S "$(readlink -f "$lib")" </dev/null 2>/dev/null ||
                        dpkg -S "$lib" </dev/null 2>/dev/null
        done | cut -d: -f1 |
        sort -u | grep -v -e '^aicd$' -e '^libc6$' | paste -sd, | sed 's/,/, /g')
deps="$deps, libc6"
size=$(du -sk "$stage" | cut -f1)

mkdir -p "$stage/DEBIAN" "$out"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: aicd
Version: $version
Architecture: $arch
Maintainer: aicd developers <aicd@localhost>
Installed-Size: $size
Depends: $deps, pipewire, wireplumber
Recommends: pipewire-pulse
Section: sound
Priority: optional
Description: real-time speech enhancement: a clean microphone for PipeWire
 aicd puts a virtual microphone, "Clean Mic (aicd)", into PipeWire. Call
 apps record from it and get the voice with keyboard, fan, traffic and room
 noise removed, at about 10 ms of added latency. aicctl controls it.
CONTROL
dpkg-deb --root-owner-group --build "$stage" "$out/aicd_${version}_${arch}.deb" >/dev/null
echo "$out/aicd_${version}_${arch}.deb"
