"""``dfmi report``: reports for authorities, rebuilt from the chain.

``dfmi report tr`` writes the trade-repository export (:mod:`dfmi_py.books.tr`): one record per
lifecycle event of every trade and one valuation-and-collateral record per live trade per UTC day
end, as CSV or JSON, to stdout or a file. It reads the chain through the books
(:class:`dfmi_py.books.Books`: the ledger's events, their replay, the suite's constants and the
reader's disclosure), so the export and the books' views agree by construction; with
``--viewer-key-env`` it opens the identities that key may read (the regulator's disclosure key
opens them all) and says on stderr whether identities are shown.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import click

from dfmi_py.books.tr import (
    DAY,
    to_csv,
    to_json,
    write_csv,
    write_json,
)
from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS
from dfmi_py.cli.common import Options, pass_options, viewer_key, viewer_key_option
from dfmi_py.errors import ConfigError, InputError

#: A bound of the report window: a UTC date or a block number.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BLOCK = re.compile(r"\d+")


def _bound(text: str | None, option: str, last_second: bool) -> tuple[int | None, int | None]:
    """``(time, block)`` of a ``--from``/``--to`` value: a date's first (or last) second, or a block."""
    if text is None:
        return None, None
    if _BLOCK.fullmatch(text):
        return None, int(text)
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InputError(f"{option} {text}: not a date (YYYY-MM-DD, UTC) or a block number") from None
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        return (start + DAY - 1 if last_second else start), None
    raise InputError(f"{option} {text!r}: not a date (YYYY-MM-DD, UTC) or a block number")


def _check_writable(path: Path) -> None:
    """Refuse, before any work, a file that cannot be written (the write itself is atomic too)."""
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {path}: there is no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {path}: the folder {folder} is not writable")


@click.group()
def report() -> None:
    """Reports for authorities, rebuilt from the chain's events."""


@report.command("tr")
@click.option("--from", "start", metavar="DATE|BLOCK", help="First day (YYYY-MM-DD, UTC) or block [default: all].")
@click.option("--to", "end", metavar="DATE|BLOCK", help="Last day (YYYY-MM-DD, UTC) or block [default: the head].")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), required=True, help="File format.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (whole or not at all) [default: stdout].",
)
@viewer_key_option
@click.option("--market", "market_name", metavar="NAME", help="Only this market [default: every market].")
@click.option(
    "--currency", metavar="CODE", help="ISO 4217 code of the cash token's currency [default: the token's symbol]."
)
@click.option(
    "--chunk-blocks",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_BLOCKS,
    show_default=True,
    help="Most blocks per eth_getLogs request.",
)
@pass_options
def tr(
    options: Options,
    start: str | None,
    end: str | None,
    fmt: str,
    out: Path | None,
    viewer_key_env: str | None,
    market_name: str | None,
    currency: str | None,
    chunk_blocks: int,
) -> None:
    """The trade-repository export: one record per lifecycle event of every trade (new, modify,
    terminate, default, maturity) and one valuation-and-collateral record per live trade per UTC
    day end, with the fields EMIR Refit and CFTC part 45 ask for (docs/trade-repository.md).

    --from and --to take a date (the whole UTC day) or a block number. Identities are shown only
    to a key that opens them (--viewer-key-env); stderr says which.
    """
    report_from, from_block = _bound(start, "--from", last_second=False)
    report_to, to_block = _bound(end, "--to", last_second=True)
    if report_from is not None and report_to is not None and report_from > report_to:
        raise InputError(f"--from {start} is after --to {end}")
    if from_block is not None and to_block is not None and from_block > to_block:
        raise InputError(f"--from block {from_block} is after --to block {to_block}")
    key = viewer_key(viewer_key_env)
    if out is not None:
        _check_writable(out)
    if not options.rpc_url:
        raise ConfigError("no chain given: pass --rpc-url URL or set DFMI_RPC_URL")

    from dfmi_py.books import connect

    books = connect(options.rpc_url, options.deployments_dir, viewer_key=key, chunk_blocks=chunk_blocks)
    records = books.trade_repository(
        report_from=report_from,
        report_to=report_to,
        from_block=from_block,
        to_block=to_block,
        markets=None if market_name is None else [market_name],
        currency=currency,
    )
    click.echo(books.state()[2].note, err=True)
    if out is None:
        click.echo(to_csv(records) if fmt == "csv" else to_json(records), nl=False)
        return
    (write_csv if fmt == "csv" else write_json)(records, out)
    click.echo(f"wrote {len(records)} records to {out}", err=True)
