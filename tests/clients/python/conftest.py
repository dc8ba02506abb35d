"""pytest wiring: the fixtures and hooks live in harness.py (which the tests import too)."""

from harness import (  # noqa: F401  (pytest finds fixtures and hooks by name)
    pytest_configure,
    pytest_runtest_makereport,
    _clear_exchanges,
    loop,
    run,
    binding_json,
    client,
    uid,
)
