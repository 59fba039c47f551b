#!/usr/bin/env bash
# Regenerates the README's screenshots from the sample images, offscreen.
# Run from the project root after `make setup`: bash docs/screenshots/make.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
gui=.venv/bin/diskscope-gui
out=docs/screenshots
export QT_QPA_PLATFORM=offscreen
"$gui" --screenshot "$out/overview.png" --select snapshots.qcow2 --tab overview
"$gui" --screenshot "$out/refused.png" --select refused-backing.qcow2 --tab overview
"$gui" --screenshot "$out/snapshots.png" --select snapshots.qcow2 --tab snapshots
"$gui" --screenshot "$out/chain.png" --select chain-overlay.qcow2 --tab chain
"$gui" --screenshot "$out/allocation.png" --select chain-overlay.qcow2 --tab allocation
echo "screenshots written to $out"
