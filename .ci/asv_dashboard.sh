#!/usr/bin/env bash
# Smoke test of the performance-history dashboard: measure the last two commits of main with a
# tiny benchmark subset (--quick) into a scratch results folder, publish the dashboard and the
# headline PNGs, check they exist, then open the dashboard in headless Chromium
# (tests/test_asv_dashboard.py). Uses $PYTHON, else .venv/bin/python, else python3.
# Installs asv/virtualenv/selenium with pip and, as root, Debian's chromium + chromium-driver
# with apt-get when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
t0=$(date +%s)
"$PY" -c "import asv, virtualenv, matplotlib, selenium" 2>/dev/null \
  || "$PY" -m pip install -q "asv>=0.6" virtualenv matplotlib selenium pytest
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
      chromium-driver) >/tmp/asv_dashboard_apt.log 2>&1 \
      || { tail -n 20 /tmp/asv_dashboard_apt.log; echo "asv-dashboard: apt-get failed"; }
  fi
fi
echo "[asv-dashboard] tools ready in $(( $(date +%s) - t0 )) s"
# asv's virtualenvs use the python of the same version as $PY's
export PATH="$(dirname "$("$PY" -c 'import sys; print(sys.executable)')"):$PATH"

out=.asv/dashboard-smoke
rm -rf "$out"
"$PY" tools/asv_history.py --commits 2 --last --quick --machine ci-smoke \
  --bench '^history\.(huber|cross_entropy)\.' \
  --results "$out/results" --html "$out/html" --png-dir "$out/png"

for f in index.html index.json asv.js graphdisplay.js; do
  test -s "$out/html/$f" || { echo "asv-dashboard: $out/html/$f missing"; exit 1; }
done
n_graphs=$(find "$out/html/graphs" -name 'history.*.json' | wc -l)
n_png=$(find "$out/png" -name '*.png' -size +10k | wc -l)
echo "[asv-dashboard] $n_graphs graph files, $n_png PNGs"
[ "$n_graphs" -ge 4 ] && [ "$n_png" -ge 3 ] || { echo "asv-dashboard: graphs missing"; exit 1; }

# the published JSON and the dashboard in a real browser (required here: no skip)
ASV_DASHBOARD_HTML="$out/html" ASV_DASHBOARD_RESULTS="$out/results" \
  ASV_DASHBOARD_MACHINE=ci-smoke FASTLOSS_REQUIRE_BROWSER=1 \
  ASV_DASHBOARD_SCREENSHOTS="$out/screenshots" \
  "$PY" -m pytest -q -p no:cacheprovider tests/test_asv_dashboard.py
echo "[asv-dashboard] done in $(( $(date +%s) - t0 )) s"
