"""``dfmi keeper``'s settings: the shared service keys plus the keeper's own (see examples/keeper.toml).

Gas figures (bench/results/gas.md and bench/results/keeper_latency.md): a trade settled inside a
``settleMany`` batch costs 24,000-28,150 gas in steady state, and one whose settlement opens a
margin call 30,000-61,000 (more when its parties' accounts are cold; a lone ``settle`` that opens
one costs 96,932 with the transaction's fixed cost). Batches are sized with ``default_trade_gas``
per trade; when ``max_trade_gas`` per trade (1.5 times the measured worst) could take a batch past
the block gas limit, the keeper estimates it first and halves it while the estimate is too high.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS
from dfmi_py.services.config import ServiceSettings
from dfmi_py.services.keeper.decide import KeeperConfig
from dfmi_py.services.keeper.service import DEFAULT_SKIP_RETRY_BLOCKS


class KeeperSettings(ServiceSettings):
    """The keeper's settings file (top-level keys).

    Attributes:
        markets: Names of the markets to serve; every market of the deployment when omitted.
        batch_base_gas: Gas of a ``settleMany`` transaction beyond its trades.
        default_trade_gas: Gas assumed per trade when packing batches.
        max_trade_gas: Gas of the costliest trade settlement (one that opens a margin call);
            a batch that could exceed the block gas limit at this figure is estimated first.
        tx_gas_budget: Most gas a settlement batch is sized to (never above the block gas limit).
        log_chunk_blocks: Most blocks per ``eth_getLogs`` request.
        start_block: First block whose events are read; the suite's deployment block when omitted.
        skip_retry_blocks: Blocks before a trade that a batch skipped (cash paused, engine frozen)
            is sent again for the same round (at once after an unpause or for a new round).
    """

    markets: list[str] | None = Field(None, min_length=1)
    batch_base_gas: int = Field(60_000, ge=21_000)
    default_trade_gas: int = Field(32_000, gt=0)
    max_trade_gas: int = Field(90_000, gt=0, validate_default=True)
    tx_gas_budget: int = Field(8_000_000, gt=0, validate_default=True)
    log_chunk_blocks: int = Field(DEFAULT_CHUNK_BLOCKS, ge=1, le=1_000_000)
    start_block: int | None = Field(None, ge=0)
    skip_retry_blocks: int = Field(DEFAULT_SKIP_RETRY_BLOCKS, ge=1)

    @field_validator("max_trade_gas")
    @classmethod
    def _max_at_least_default(cls, value: int, info: ValidationInfo) -> int:
        default = info.data.get("default_trade_gas")
        if default is not None and value < default:
            raise ValueError(f"must be at least default_trade_gas ({default})")
        return value

    @field_validator("tx_gas_budget")
    @classmethod
    def _budget_above_base(cls, value: int, info: ValidationInfo) -> int:
        base, trade = info.data.get("batch_base_gas"), info.data.get("max_trade_gas")
        if base is not None and trade is not None and value < base + trade:
            raise ValueError(f"must fit one trade: at least batch_base_gas + max_trade_gas ({base + trade})")
        return value

    def keeper_config(self) -> KeeperConfig:
        """The gas settings the decisions take."""
        return KeeperConfig(
            tx_gas_budget=self.tx_gas_budget,
            batch_base_gas=self.batch_base_gas,
            default_trade_gas=self.default_trade_gas,
        )
