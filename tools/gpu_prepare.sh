#!/usr/bin/env bash
# Prepares a GPU run from a machine with package access. The GPU machine has
# nvcc, cuDNN and PyTorch but reaches no package registry, so this fetches the
# Debian packages the build needs (and the Fashion-MNIST package) into .gpu/,
# which git ignores and which travels with the run. There, tools/gpu_run.sh
# unpacks them under .gpu/root (never into /), builds, tests and benchmarks.
#   bash tools/gpu_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5 libquadmath0
          libcli11-dev nlohmann-json3-dev doctest-dev zlib1g-dev zlib1g libstb-dev libstb0 libsleef-dev libsleef3
          libdnnl-dev libdnnl2 ocl-icd-libopencl1 libturbojpeg0-dev libturbojpeg0 libpng-dev libpng16-16
          dataset-fashion-mnist)
mkdir -p .gpu/debs
rm -f .gpu/debs/*.deb
if ! (cd .gpu/debs && apt-get download "${packages[@]}" >/dev/null); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  (cd .gpu/debs && apt-get download "${packages[@]}" >/dev/null)
fi
# The build links OpenBLAS's shared library: repack its -dev package without the
# 58 MB static one, which would push the carried tree past the 64 MiB limit.
dev=$(ls .gpu/debs/libopenblas-pthread-dev_*.deb)
tmp=$(mktemp -d)
dpkg-deb -R "$dev" "$tmp/pkg"
rm -f "$tmp"/pkg/usr/lib/x86_64-linux-gnu/openblas-pthread/*.a
sed -i '/\.a$/d' "$tmp/pkg/DEBIAN/md5sums"
dpkg-deb -b "$tmp/pkg" "$dev" >/dev/null
rm -rf "$tmp"
du -sh .gpu/debs
echo "ready: carry .gpu and run 'bash tools/gpu_run.sh' on the GPU machine"
