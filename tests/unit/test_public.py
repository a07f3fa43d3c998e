"""`portkey_completions.__all__` names what users import; importing the package itself stays cheap."""

from __future__ import annotations

import subprocess
import sys

import portkey_completions


def test_every_public_name_resolves():
    for name in portkey_completions.__all__:
        assert getattr(portkey_completions, name) is not None, name
    assert portkey_completions.create_app.__module__ == "portkey_completions.app"


def test_importing_the_package_loads_no_server():
    code = "import sys, portkey_completions; print(sorted({'connexion', 'starlette', 'httpx'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
