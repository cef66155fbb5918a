"""Every setting of .env.example has its row in the configuration table of docs/operations.md."""

from __future__ import annotations

import re

from .live import BASE_DIR

_VARIABLE = re.compile(r"^#? ?([A-Z][A-Z0-9_]+)=", re.MULTILINE)


def test_every_variable_of_the_env_example_is_documented():
    variables = set(_VARIABLE.findall((BASE_DIR / ".env.example").read_text()))
    documented = (BASE_DIR / "docs" / "operations.md").read_text()
    assert len(variables) > 50
    missing = sorted(name for name in variables if f"`{name}`" not in documented)
    assert not missing, f"add these to docs/operations.md's configuration table: {missing}"
