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


def test_renamed_public_names_still_answer_for_one_release_with_a_warning():
    """`StubApp` and the fixture's `PortkeyStub` (stub is the built-in provider only): the new objects, a warning."""
    import warnings

    from portkey_completions.testing import plugin

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert portkey_completions.StubApp is portkey_completions.CompletionsApp
        assert plugin.PortkeyStub is plugin.ServerNamespace
    said = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert "StubApp is deprecated: use CompletionsApp (CHANGELOG.md)" in said
    assert "PortkeyStub is deprecated: use ServerNamespace (CHANGELOG.md)" in said
    assert "StubApp" not in portkey_completions.__all__
