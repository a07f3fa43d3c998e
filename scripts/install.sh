#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the project with its generators and test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
python=$(command -v python3.11 || command -v python3)
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e ".[test]"
touch "$venv/.installed"
