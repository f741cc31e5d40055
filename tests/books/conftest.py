"""One three-market world for every test of the books (on a node of its own), reverted after each test.

The books' tests follow one chain over many blocks (the ledger reads it whole, the reorganisation
test mines and reverts), so they start their own node rather than share the session's. Each
test module here marks itself ``xdist_group("books")``: they run on one pytest-xdist worker, so
the world is built once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.books.scenario import BooksWorld, start


@pytest.fixture(scope="package")
def books_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BooksWorld]:
    """The world, built once for the package."""
    yield from start(tmp_path_factory.mktemp("books"))


@pytest.fixture
def bw(books_world: BooksWorld) -> Iterator[BooksWorld]:
    """The world for one test: whatever the test does is reverted after it."""
    snapshot = books_world.w.snapshot()
    yield books_world
    books_world.w.revert(snapshot)
