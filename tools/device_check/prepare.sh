#!/usr/bin/env bash
# Run HERE (not on the device) before a GPU window: downloads tools/device_check/wheels.txt into .whl/ and
# cuts it into parts of at most 60 MiB, since one device call carries at most 64 MiB. .whl/ is git-ignored.
# Prints the calls to make, in order: one per part (each leaves its part in /tmp/stage of the warm machine),
# then run.sh, which puts the parts together and installs them. See docs/thor.md, "The device check".
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .whl/wheels .whl/parts && mkdir -p .whl/wheels .whl/parts
grep -v '^\s*#' tools/device_check/wheels.txt | sed 's/#.*//' | grep -v '^\s*$' | while read -r spec; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl/wheels "$spec"
done
tar -C .whl -cf - wheels | split -b 60M -d - .whl/parts/part-
ls -l .whl/parts
echo "device calls, in order (each within 30 s of the last, so the machine stays warm):"
for part in .whl/parts/part-*; do
  echo "  run(command='mkdir -p /tmp/stage && cp $part /tmp/stage/', carry=['$part'])"
done
echo "  run(command='bash tools/device_check/run.sh', timeout_s=600)"
