#!/usr/bin/env bash
# Regenerates the README's and the tour's screenshots from the sample images, in
# the Fusion style with a light and a dark palette. Runs under Xvfb when it is
# installed (real fonts and X11 rendering), offscreen otherwise.
# Run from the project root after `make setup`: bash docs/screenshots/make.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
gui=.venv/bin/diskscope-gui
out=docs/screenshots
run() {
    if command -v xvfb-run >/dev/null; then
        QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" "$gui" "$@"
    else
        QT_QPA_PLATFORM=offscreen "$gui" "$@"
    fi
}
for theme in light dark; do
    suffix=$([ "$theme" = dark ] && echo "-dark" || true)
    run --theme "$theme" --screenshot "$out/overview$suffix.png" --select snapshots.qcow2 --tab overview
    run --theme "$theme" --screenshot "$out/refused$suffix.png" --select refused-backing.qcow2 --tab overview
    run --theme "$theme" --screenshot "$out/snapshots$suffix.png" --select snapshots.qcow2 --tab snapshots
    run --theme "$theme" --screenshot "$out/overlay$suffix.png" --select chain-overlay.qcow2 --tab overview
    run --theme "$theme" --screenshot "$out/chain$suffix.png" --select chain-overlay.qcow2 --tab chain
    run --theme "$theme" --screenshot "$out/allocation$suffix.png" --select snapshots.qcow2 --tab allocation
    run --theme "$theme" --screenshot "$out/raw$suffix.png" --select snapshots.qcow2 --tab raw
done
echo "screenshots written to $out"
