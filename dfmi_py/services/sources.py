"""Validation of price quotes from the feeder's sources (pure: no network, no clock).

A source yields a :class:`Quote`: the raw value it read (a string, an integer, a ``Decimal``;
whatever the CSV cell or JSON path held) and the time it is for. :func:`validate_quote` accepts it
or refuses it with a :class:`QuoteProblem`; :func:`select_price` walks the configured sources in
order and takes the first accepted quote, keeping every refusal for the log.

Conversion to the feed's integer decimals is exact (``Decimal`` with enough digits for any
``int128``): a quote with more digits than the feed keeps is rounded half to even at the feed's
last digit, which is the only rounding anywhere; a quote that rounds to zero is refused.

The jump limit bounds the move from the previous accepted quote. A real market move larger than
the limit must not stop the feed for good (a temporary refusal becoming a permanent one), so the
previous quote bounds the next only for ``jump_reference_max_age`` seconds: a move that persists
longer than that is accepted. The oracle's own anchor and jump quorum still guard the feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException, localcontext
from enum import Enum

from dfmi_py.errors import ConfigError

#: Enough digits for an int128 answer with any number of decimals a feed uses, so nothing rounds
#: before the one documented rounding.
_EXACT = Context(prec=120, Emax=10_000, Emin=-10_000)
#: The oracle stores answers as int128.
INT128_MAX = 2**127 - 1
#: Basis points in one.
BPS = 10_000


class QuoteProblem(Enum):
    """Why a quote was refused."""

    MISSING = "missing"
    NOT_NUMERIC = "not numeric"
    NOT_POSITIVE = "not positive"
    TOO_LARGE = "too large for the feed"
    STALE = "older than the maximum age"
    FROM_FUTURE = "timestamped in the future"
    JUMP = "jump beyond the limit from the previous accepted quote"


@dataclass(frozen=True)
class Quote:
    """One reading of one source.

    Attributes:
        source: The source's configured name (for the log).
        value: What the source read: a decimal string, an ``int`` or a ``Decimal``; ``None`` when
            it had nothing. A ``float`` is taken by its shortest representation (``repr``), which is
            what a JSON parser produced it from.
        timestamp: Unix seconds the value is for; ``None`` when unknown (refused as missing).
        error: Why the source had no value (a network error, an HTTP status, a path missing from
            the response); when set, the quote is refused as missing with this as the detail.
    """

    source: str
    value: object
    timestamp: int | None
    error: str | None = None


@dataclass(frozen=True)
class AcceptedQuote:
    """A quote that passed every check.

    Attributes:
        source: The source it came from.
        price: The quoted price as a ``Decimal`` (exact, before rounding to the feed).
        answer: The price in the feed's integer decimals.
        timestamp: Unix seconds the quote is for.
    """

    source: str
    price: Decimal
    answer: int
    timestamp: int


@dataclass(frozen=True)
class Refusal:
    """A quote refused, with why (``detail`` gives the values, for the log)."""

    source: str
    problem: QuoteProblem
    detail: str


@dataclass(frozen=True)
class SourcePolicy:
    """How quotes are judged.

    Attributes:
        decimals: The feed's decimals (the oracle's ``decimals()``).
        max_age: Oldest quote accepted, in seconds before ``now``.
        max_jump_bps: Largest move from the previous accepted quote, in basis points of it.
        jump_reference_max_age: Seconds during which the previous accepted quote bounds the jump;
            after that a larger move is accepted (see the module's note).
        max_future_skew: Seconds a quote's time may lie ahead of ``now`` (clocks differ a little).
    """

    decimals: int
    max_age: int
    max_jump_bps: int
    jump_reference_max_age: int
    max_future_skew: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 36:
            raise ConfigError(f"decimals must lie in 0..36, got {self.decimals}")
        for name in ("max_age", "max_jump_bps", "jump_reference_max_age"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_future_skew < 0:
            raise ConfigError(f"max_future_skew must not be negative, got {self.max_future_skew}")


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_price`: the first accepted quote (or none) and every refusal
    met before it, in source order."""

    accepted: AcceptedQuote | None
    refusals: tuple[Refusal, ...]


def to_answer(price: Decimal, decimals: int) -> int:
    """``price`` in integer units of ``decimals`` decimals, rounded half to even at the last one."""
    scaled = price.scaleb(decimals, context=_EXACT)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_EVEN, context=_EXACT))


def _parse(value: object) -> Decimal | None:
    """The value as a finite ``Decimal``, or ``None`` when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        value = value.strip()
    if not isinstance(value, int | str | Decimal):
        return None
    try:
        parsed = _EXACT.create_decimal(value)
    except (DecimalException, ValueError):  # not a number, or beyond any exponent a price has
        return None
    return parsed if parsed.is_finite() else None


def validate_quote(
    quote: Quote, now: int, previous: AcceptedQuote | None, policy: SourcePolicy
) -> AcceptedQuote | Refusal:
    """Accept ``quote`` or say why not.

    Args:
        quote: The reading to judge.
        now: Unix seconds of the decision.
        previous: The last quote accepted (from any source), which bounds the jump while it is
            younger than ``policy.jump_reference_max_age``; ``None`` at start.
        policy: The limits.

    Returns:
        The accepted quote with its integer answer, or the refusal.
    """

    def refuse(problem: QuoteProblem, detail: str) -> Refusal:
        return Refusal(quote.source, problem, detail)

    if quote.error is not None:
        return refuse(QuoteProblem.MISSING, quote.error)
    if quote.value is None or (isinstance(quote.value, str) and not quote.value.strip()):
        return refuse(QuoteProblem.MISSING, "no value")
    if quote.timestamp is None:
        return refuse(QuoteProblem.MISSING, "no timestamp")
    price = _parse(quote.value)
    if price is None:
        return refuse(QuoteProblem.NOT_NUMERIC, f"value {quote.value!r}")
    if price <= 0:
        return refuse(QuoteProblem.NOT_POSITIVE, f"price {price}")
    if price.adjusted() > 60:  # far above any int128 answer; keeps the scaling below cheap
        return refuse(QuoteProblem.TOO_LARGE, f"price {price}")
    answer = to_answer(price, policy.decimals)
    if answer <= 0:
        return refuse(QuoteProblem.NOT_POSITIVE, f"price {price} rounds to 0 at {policy.decimals} decimals")
    if answer > INT128_MAX:
        return refuse(QuoteProblem.TOO_LARGE, f"price {price}")
    age = now - quote.timestamp
    if age > policy.max_age:
        return refuse(QuoteProblem.STALE, f"quote of {quote.timestamp} is {age}s old, max {policy.max_age}s")
    if -age > policy.max_future_skew:
        return refuse(QuoteProblem.FROM_FUTURE, f"quote of {quote.timestamp} is {-age}s ahead of {now}")
    if previous is not None and now - previous.timestamp <= policy.jump_reference_max_age:
        with localcontext(_EXACT):  # |price - previous| / previous > max_jump_bps / BPS, exactly
            jumped = abs(price - previous.price) * BPS > previous.price * policy.max_jump_bps
            move_bps = abs(price - previous.price) * BPS / previous.price
        if jumped:
            return refuse(
                QuoteProblem.JUMP,
                f"price {price} moved {move_bps:.2f} bps from {previous.price}, max {policy.max_jump_bps}",
            )
    return AcceptedQuote(quote.source, price, answer, quote.timestamp)


def select_price(quotes: list[Quote], now: int, previous: AcceptedQuote | None, policy: SourcePolicy) -> Selection:
    """The first acceptable quote, trying the sources in their configured order.

    Args:
        quotes: One quote per source, in the configured order (the first is preferred).
        now: Unix seconds of the decision.
        previous: The last quote accepted, as for :func:`validate_quote`.
        policy: The limits.

    Returns:
        The selection: the accepted quote (``None`` when every source was refused) and the
        refusals of the sources tried before it.
    """
    refusals: list[Refusal] = []
    for quote in quotes:
        result = validate_quote(quote, now, previous, policy)
        if isinstance(result, AcceptedQuote):
            return Selection(result, tuple(refusals))
        refusals.append(result)
    return Selection(None, tuple(refusals))
