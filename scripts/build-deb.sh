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
# Runtime dependencies: the packages that own the libraries the binaries
# link directly (DT_NEEDED), found through the dynamic linker's paths.  Lines
# dpkg prints for diversions ("diversion by X from: ...") and anything that is
# not a package name are dropped, so Depends stays well formed.
needed=$(for f in "$build"/daemon/aicd "$build"/dbus/aicctl "$build"/engine/libaicengine.so.0; do
        objdump -p "$f" | awk '$1 == "NEEDED" { print $2 }'
done | sort -u | grep -v '^libaicengine\.so')
pkgs=$(for soname in $needed; do
        lib=$(ldd "$build"/daemon/aicd "$build"/dbus/aicctl "$build"/engine/libaicengine.so.0 2>/dev/null |
                awk -v n="$soname" '$1 == n && $3 ~ /^\// { print $3; exit }')
        found=
        if [ -n "$lib" ]; then
                real=$(readlink -f "$lib")
                for path in "$lib" "$real" "/usr${lib#/usr}" "${lib#/usr}" "${real#/usr}"; do
                        found=$(dpkg-query -S "$path" 2>/dev/null | grep -v '^diversion ' |
                                sed -n 's/^\([^ :]*\)\(:[a-z0-9]*\)\{0,1\}\(, [^:]*\)\{0,1\}: .*/\1/p' | head -n1)
                        [ -n "$found" ] && break
                done
        fi
        if [ -z "$found" ]; then
                echo "build-deb: warning: no package owns $soname; left out of Depends" >&2
                continue
        fi
        echo "$found"
done | grep -E '^[a-z0-9][a-z0-9+.-]+$' | sort -u | grep -v -e '^aicd$' -e '^libc6$')
deps=$(printf '%s\n' $pkgs libc6 | paste -sd, | sed 's/,/, /g')
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
