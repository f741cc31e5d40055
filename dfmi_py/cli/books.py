"""``dfmi books``: the books of a deployed suite, one view at a time, as a table, JSON or CSV.

::

    dfmi books --list                                  # the views, one line each
    dfmi --rpc-url URL books positions                 # every trade, marked to market
    dfmi --rpc-url URL books exposure --market XAU     # per member, that market's trades only
    dfmi --rpc-url URL books defaults --json           # machine output: raw integers, Unix times
    dfmi --rpc-url URL books margin_flows --csv flows.csv
    dfmi --rpc-url URL books fund --viewer-key-env REGULATOR_KEY   # identities the key opens

The table shows each view's main columns (``--wide``: every column), amounts in whole units,
prices in the feed's units, times in ISO 8601 (UTC), addresses shortened (or the legal name when
disclosed). ``--json`` and ``--csv`` carry every column with exact integers; a CSV file is
overwritten, as every ``dfmi`` command's output file is (``pandas.read_csv`` or
:func:`dfmi_py.books.views.read_csv` reads it back). Columns and units: ``docs/books.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS
from dfmi_py.cli.common import Options, market_option, pass_options, viewer_key, viewer_key_option
from dfmi_py.display import amount, decimal, number
from dfmi_py.errors import ConfigError, InputError


@click.command("books")
@pass_options
@click.argument("view", required=False)
@click.option("--list", "list_views", is_flag=True, help="List the views, one line each, and exit.")
@market_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON: every column, raw integers, Unix times.")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the view to FILE as CSV (every column); overwrites FILE.",
)
@click.option("--wide", is_flag=True, help="Show every column in the table (default: the main ones).")
@viewer_key_option
@click.option(
    "--chunk-blocks",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_BLOCKS,
    show_default=True,
    help="Most blocks per eth_getLogs request (providers cap the range).",
)
def books(
    options: Options,
    view: str | None,
    list_views: bool,
    market_name: str | None,
    as_json: bool,
    csv_file: Path | None,
    wide: bool,
    viewer_key_env: str | None,
    chunk_blocks: int,
) -> None:
    """Show VIEW of the books: positions, exposure, margin_flows, margin_calls, defaults,
    default_losses, fund, instructions, netting_rounds or oracle_rounds (--list describes them)."""
    from dfmi_py.books.columns import VIEWS

    if list_views:
        width = max(len(name) for name in VIEWS)
        for spec in VIEWS.values():
            click.echo(f"{spec.name:<{width}}  {spec.title}")
        return
    if view is None:
        raise InputError("give a VIEW: `dfmi books --list` shows them")
    if view not in VIEWS:
        raise InputError(f"unknown view {view!r}: one of {', '.join(VIEWS)}")
    if not options.rpc_url:
        raise ConfigError("no chain given: pass --rpc-url URL or set DFMI_RPC_URL")
    key = viewer_key(viewer_key_env)

    from dfmi_py.books import connect
    from dfmi_py.books.views import records, write_csv

    reader = connect(options.rpc_url, options.deployments_dir, viewer_key=key, chunk_blocks=chunk_blocks)
    frame = reader.view(view, market_name)
    if csv_file is not None:
        if not csv_file.parent.is_dir():
            raise InputError(f"cannot write {csv_file}: its folder {csv_file.parent} does not exist")
        write_csv(frame, csv_file)
        click.echo(f"wrote {csv_file} ({len(frame)} rows)", err=True)
    if as_json:
        document = {
            "view": view,
            "block": frame.attrs["block"],
            "time": frame.attrs["time"],
            "disclosure": frame.attrs["disclosure"],
            "cash_symbol": frame.attrs["cash_symbol"],
            "cash_decimals": frame.attrs["cash_decimals"],
            "price_decimals": frame.attrs["price_decimals"],
            "rows": records(frame),
        }
        click.echo(json.dumps(document, indent=2))
    elif csv_file is None:
        _table(frame, wide)


# ---------------------------------------------------------------------- the table


def _table(frame: Any, wide: bool) -> None:
    """The view as a table for a person: its main columns (all with ``wide``), values in units."""
    from dfmi_py.books.columns import VIEWS

    spec = VIEWS[frame.attrs["view"]]
    shown = [c for c in spec.all_columns() if (wide or c.show)]
    click.echo(f"{spec.name} at block {frame.attrs['block']:,}: {len(frame)} rows; {frame.attrs['disclosure']}")
    if frame.empty:
        return
    symbol = frame.attrs["cash_symbol"]
    headers = [f"{c.name} ({symbol})" if c.unit == "cash" else c.name for c in shown]
    right = [c.unit not in ("", "address", "hash", "time") or c.dtype == "bool" for c in shown]
    cells = [[_cell(frame, row, c, wide) for c in shown] for row in range(len(frame))]
    widths = [max(len(h), *(len(r[k]) for r in cells)) for k, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True))

    click.echo(line(headers).rstrip())
    for values in cells:
        click.echo(line(values).rstrip())


def _cell(frame: Any, row: int, column: Any, wide: bool) -> str:
    import pandas as pd  # type: ignore[import-untyped]

    value = frame[column.name].iloc[row]
    if value is None or value is pd.NA or value is pd.NaT:
        return "-"
    unit = column.unit
    if unit == "time":
        return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if unit == "cash":
        return amount(int(value), frame.attrs["cash_decimals"])
    if unit == "price":
        decimals = frame.attrs["price_decimals"].get(frame["market"].iloc[row], 0)
        return decimal(int(value), decimals)
    if unit == "quantity":
        return decimal(int(value), 18)
    if unit == "token":  # amount_a is in token_a's units
        token = frame[column.name.replace("amount", "token")].iloc[row]
        return decimal(int(value), frame.attrs["token_decimals"].get(token, 0))
    if unit in ("count", "shares") or (unit == "id" and column.dtype != "string"):
        return number(int(value)) if unit != "id" else str(int(value))
    if unit == "percent":
        return f"{float(value):.1f}%"
    if unit == "address":
        name = frame[f"{column.name}_name"].iloc[row] if f"{column.name}_name" in frame else pd.NA
        if name is not pd.NA:
            return str(name)
        return str(value) if wide else f"{str(value)[:6]}…{str(value)[-4:]}"
    if unit == "hash" and not wide:
        return f"{str(value)[:10]}…"
    if column.dtype == "bool":
        return "yes" if value else "no"
    return str(value)
