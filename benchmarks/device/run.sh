#!/usr/bin/env bash
# Entry point on the device machine: install the wheels of a carried folder (made by prepare.py) into /tmp/site,
# then run run_all.py with its JSON going to $OUT. Usage (from the repository root):
#   bash benchmarks/device/run.sh .device/train   --steps env train_step train_real parity --lexicon .device/train/lexicon
#   bash benchmarks/device/run.sh .device/extract --steps env extract
set -uo pipefail
carry=${1:?give the carried folder, e.g. .device/train}
shift
shopt -s nullglob
site=${SIGNKIT_DEVICE_SITE:-/tmp/site}  # where the wheels go, outside the repository
wheels=("$carry"/wheels/*.whl)
if ((${#wheels[@]})); then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
    "${wheels[@]}" || { echo "installing the carried wheels failed" >&2; exit 1; }
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD:$PYTHONPATH PYTHONUNBUFFERED=1
exec python3 benchmarks/device/run_all.py --out "${OUT:?OUT is not set}" "$@"
