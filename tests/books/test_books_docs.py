"""docs/books.md describes every view and column exactly as dfmi_py/books/columns.py defines them."""

from __future__ import annotations

from pathlib import Path

from dfmi_py.books.columns import DOCS_BEGIN, DOCS_END, VIEWS, markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "books.md"


def test_the_docs_list_every_view_and_column_as_columns_py_defines_them() -> None:
    text = DOCS.read_text()
    generated = text[text.index(DOCS_BEGIN) : text.index(DOCS_END) + len(DOCS_END)]
    assert generated == markdown(), "docs/books.md is stale: run `python -m dfmi_py.books.columns`"
    for view in VIEWS.values():
        assert f"### `{view.name}`" in generated
        for column in view.all_columns():
            assert f"| `{column.name}` |" in generated, (view.name, column.name)
