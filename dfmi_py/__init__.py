"""dfmi: decentralised financial market infrastructure — the contracts' Python toolkit.

``dfmi_py.connect(rpc_url)`` opens the books of a deployed suite (:func:`dfmi_py.books.connect`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfmi_py.books.books import connect

__all__ = ["connect"]


def __getattr__(name: str) -> Any:
    """``connect`` on first use (it brings pandas; the CLI and the services do not need it)."""
    if name == "connect":
        from dfmi_py.books.books import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
