#!/usr/bin/env bash
# The device check (make device-check): on a lent GPU machine after prepare.sh's staging calls, or here to
# rehearse (PROVIDER=cpu). Installs the staged wheels (if any) into /tmp/site, then builds and signs off each
# model with acceptance.device_check. What to bring back lands in $OUT (the device tool's folder there;
# reports/device-check here): summary.json and one archive of every run's reports and logs.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-reports/device-check}
PROVIDER=${PROVIDER:-cuda}
PROFILE=${PROFILE:-thor-week2}
MODELS=${MODELS:-qwen3-embedding-0.6b-random qwen3-embedding-0.6b-random-fp16 all-minilm-l6-v2 all-minilm-l6-v2-fp16}
PY=${PY:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if ls /tmp/stage/part-* >/dev/null 2>&1; then
  echo "device-check: installing the staged wheels into /tmp/site"
  mkdir -p /tmp/wheels && cat /tmp/stage/part-* | tar -C /tmp -xf - || exit 3
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site /tmp/wheels/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
  # The CUDA 13 libraries onnxruntime-gpu loads come with the machine's torch (nvidia-* wheels).
  LD_LIBRARY_PATH=$($PY -c 'import glob, os, nvidia; print(":".join(sorted({os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(d + "/**/lib*.so*", recursive=True)})))'):${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
# shellcheck disable=SC2086
$PY -m acceptance.device_check --provider "$PROVIDER" --profile "$PROFILE" --out "$OUT/device-check-$stamp" \
  --pytest-args "${PYTEST_ARGS:-}" $MODELS
