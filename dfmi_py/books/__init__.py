"""The books: what analysts and regulators read, rebuilt from the chain's events and views.

- :mod:`dfmi_py.books.ledger` — every event of the suite's contracts, read in chunks and cached
  by block number and hash, so a reorganisation re-reads only what it replaced;
- :mod:`dfmi_py.books.views` — the views as pandas DataFrames (pure: events and view reads in,
  tables out), their columns documented in :mod:`dfmi_py.books.columns`;
- :mod:`dfmi_py.books.tr` — the trade-repository export;
- :func:`connect` — the analyst's entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dfmi_py.books.books import Books, connect

__all__ = ["Books", "connect"]


def __getattr__(name: str) -> Any:
    """``Books`` and ``connect`` on first use (they bring pandas; the ledger alone does not)."""
    if name in __all__:
        from dfmi_py.books import books

        return getattr(books, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
