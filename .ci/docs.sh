#!/usr/bin/env bash
# Build the documentation with warnings as errors, then run every example on its pages.
#   .ci/docs.sh            (uses $PYTHON, else .venv/bin/python, else python)
# The API reference is generated from fastloss.REGISTRY into docs/api/ during the build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
# the docs extra (sphinx, pydata-sphinx-theme, numpydoc, myst-parser, matplotlib, asv) if missing
if ! "$PY" -c "import sphinx, pydata_sphinx_theme, numpydoc, myst_parser, matplotlib, asv" 2>/dev/null
then
  "$PY" -m pip install -q -e ".[docs]"
fi
"$PY" -m sphinx -W --keep-going -q -b html -d docs/_build/doctrees docs docs/_build/html
"$PY" -m sphinx -W --keep-going -q -b doctest -d docs/_build/doctrees docs docs/_build/doctest
tail -n 3 docs/_build/doctest/output.txt
echo "docs: built docs/_build/html/index.html in $(( $(date +%s) - start )) s"
