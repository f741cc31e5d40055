"""``dfmi simulate``'s settings and plan, without a chain: the example file documents every key and
runs the defaults, bad settings are refused naming the key, flags win over the file, and the plan
is a function of the seed (prices apart from trades), with the fund sized and the defaulter chosen
as the configuration says."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from dfmi_py.errors import ConfigError
from dfmi_py.paths import PROJECT_ROOT
from dfmi_py.risk.forward import variation_margin
from dfmi_py.simulate.config import (
    MarketSettings,
    SimulationConfig,
    load_simulation_config,
    overrides_from_flags,
    parse_shock,
)
from dfmi_py.simulate.plan import QUANTITY_UNIT, lei_for, make_plan, member_account, shock_losses
from dfmi_py.units import to_units

EXAMPLE = PROJECT_ROOT / "examples" / "simulate.toml"


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def test_the_example_runs_the_defaults() -> None:
    assert load_simulation_config(EXAMPLE) == load_simulation_config()


def test_the_example_shows_every_key() -> None:
    text = EXAMPLE.read_text()
    for key, info in SimulationConfig.model_fields.items():
        annotation = info.annotation
        if key == "markets":
            assert "[[markets]]" in text
            for inner in _fields(MarketSettings):
                assert f"{inner} =" in text, f"examples/simulate.toml does not show markets.{inner}"
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            assert f"[{key}]" in text, f"examples/simulate.toml has no [{key}] table"
            for inner in _fields(annotation):
                assert f"{inner} =" in text, f"examples/simulate.toml does not show {key}.{inner}"
        else:
            assert f"{key} =" in text, f"examples/simulate.toml does not show {key}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"members.count": 1}, "members.count: input should be greater than or equal to 2"),
        ({"trades.cont": 3}, "unknown key 'trades.cont'"),
        ({"members.defaulter": 9}, "members.defaulter: must be a member number 1..8 (got 9)"),
        ({"shock.market": "BTC"}, "shock.market: no market 'BTC' (the markets: XAU, EURUSD, IDX50)"),
        ({"shock.round": 23}, "shock.round: must lie in 1..22"),
        ({"path.rounds": 2}, "path.rounds: must leave room for a default after the shock: at least 3"),
        ({"dvp.frozen": 6, "dvp.expired": 5}, "dvp.frozen: frozen + expired must not exceed count = 10"),
        ({"netting.amount_min": "60000"}, "netting.amount_min: must not exceed amount_max = 50000"),
        ({"fund.shocks_bps": [-10000]}, "fund.shocks_bps: a shock must be above -10000 bps"),
        ({"start_time": "yesterday"}, "start_time: input should be a valid datetime"),
        (
            {"markets": [{"name": "A", "description": "a", "s0": "1", "feeders": 3}]},
            "markets[0].feeders: must be at least quorum and jump_quorum = 4 (got 3)",
        ),
        (
            {"markets": [{"name": "A", "description": "a", "s0": "1", "quorum": 4}]},
            "markets[0].quorum: must be odd (got 4)",
        ),
        (
            {"markets": [{"name": "A", "description": "a", "s0": "0.001", "decimals": 2}]},
            "markets[0].s0: 0.001 has more than decimals = 2 decimal places",
        ),
        (
            {"markets": [{"name": "A", "description": "a", "s0": "5", "max_price": "4"}]},
            "markets[0].s0: 5 lies outside min_price..max_price",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_key(overrides: dict[str, object], message: str) -> None:
    if "markets" in overrides:
        overrides = {**overrides, "shock.market": "A"}
    with pytest.raises(ConfigError) as caught:
        load_simulation_config(None, overrides)
    assert message in str(caught.value)


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("seed = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_simulation_config(path)


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('seed = 3\n[members]\ncount = 5\n[shock]\nmarket = "EURUSD"\nsize_bps = -300\n')
    flags = overrides_from_flags(members=12, trades=40, seed=11, rounds=30, out=tmp_path / "out", shock="IDX50=-1500")
    config = load_simulation_config(path, flags)
    assert (config.members.count, config.trades.count, config.seed, config.path.rounds) == (12, 40, 11, 30)
    assert (config.shock.market, config.shock.size_bps, config.out) == ("IDX50", -1500, tmp_path / "out")
    kept = load_simulation_config(path, overrides_from_flags(shock="-900"))
    assert (kept.seed, kept.members.count, kept.shock.market, kept.shock.size_bps) == (3, 5, "EURUSD", -900)


def test_a_shock_flag_is_bps_with_an_optional_market() -> None:
    assert parse_shock("XAU=-3000") == {"market": "XAU", "size_bps": -3000}
    assert parse_shock("0") == {"size_bps": 0}
    with pytest.raises(ConfigError, match=r"--shock: 'XAU=-20%' is not \[MARKET=\]BPS"):
        parse_shock("XAU=-20%")


# ---------------------------------------------------------------------------------- the plan


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    config = load_simulation_config(None, {"trades.count": 12, "margin.history_rounds": 50})
    assert make_plan(config) == make_plan(config)
    other = make_plan(load_simulation_config(None, {"trades.count": 12, "margin.history_rounds": 50, "seed": 8}))
    assert other.markets != make_plan(config).markets
    assert other.trades != make_plan(config).trades


def test_more_trades_leave_the_prices_as_they_were() -> None:
    few = make_plan(load_simulation_config(None, {"trades.count": 5, "margin.history_rounds": 50}))
    many = make_plan(load_simulation_config(None, {"trades.count": 50, "margin.history_rounds": 50}))
    assert few.markets == many.markets
    assert many.trades[:5] == few.trades


def test_the_shock_moves_its_market_from_its_round_on_and_no_other() -> None:
    base = {"margin.history_rounds": 50, "trades.count": 4}
    calm = make_plan(load_simulation_config(None, {**base, "shock.size_bps": 0}))
    shocked = make_plan(load_simulation_config(None, {**base, "shock.size_bps": -2500, "shock.round": 5}))
    gold, calm_gold = shocked.market("XAU"), calm.market("XAU")
    assert gold.path[:5] == calm_gold.path[:5]
    for before, after in zip(calm_gold.path[5:], gold.path[5:], strict=True):
        assert after == pytest.approx(before * 0.75, rel=1e-9)
    assert shocked.market("EURUSD") == calm.market("EURUSD")
    assert (gold.shock_round, shocked.market("EURUSD").shock_round) == (5, None)


def test_contributions_cover_the_sizing_the_floor_and_the_requirement() -> None:
    plan = make_plan(load_simulation_config(None, {"margin.history_rounds": 100}))
    config = plan.config
    sized = {int(m.member): m.contribution for m in plan.sizing.members}
    assert plan.sizing.target >= plan.sizing.cover2 > 0
    floor = to_units(config.fund.floor, 6)
    for member in plan.members:
        assert member.contribution >= max(sized.get(member.number, 0), floor)
        assert member.contribution * 10_000 >= member.im * config.fund.requirement_bps
        assert member.im == sum(t.buyer_im for t in plan.trades if t.buyer == member.number) + sum(
            t.seller_im for t in plan.trades if t.seller == member.number
        )
        assert member.address == member_account(member.number).address


def test_the_defaulter_is_the_member_the_shock_hurts_most_and_holds_its_share_of_that_loss() -> None:
    plan = make_plan(load_simulation_config(None, {"margin.history_rounds": 100}))
    config = plan.config
    losses = shock_losses(config, plan.markets, plan.trades)
    gold = plan.market("XAU")
    shocked = gold.path[0] * 7_500 // 10_000
    for number, loss in losses.items():  # each member's loss recomputed from its XAU sides
        mine = [t for t in plan.trades if t.market == "XAU" and number in (t.buyer, t.seller)]
        vm = [variation_margin(t.quantity, gold.path[0], shocked, gold.scale) for t in mine]
        assert loss == sum(-v if t.buyer == number else v for t, v in zip(mine, vm, strict=True))
    defaulter = plan.defaulter
    assert defaulter is not None
    assert losses[defaulter.number] == max(losses.values()) > 0
    rest = defaulter.wallet - defaulter.im - defaulter.contribution
    assert rest == -(-losses[defaulter.number] * config.members.defaulter_wallet_bps // 10_000)
    assert [m.number for m in plan.members if m.defaulter] == [defaulter.number]
    named = make_plan(load_simulation_config(None, {"margin.history_rounds": 100, "members.defaulter": 3}))
    assert named.defaulter is not None
    assert named.defaulter.number == 3
    nobody = make_plan(load_simulation_config(None, {"margin.history_rounds": 100, "members.defaulter": "none"}))
    assert nobody.defaulter is None
    assert all(m.wallet - m.im - m.contribution == to_units(config.members.wallet, 6) for m in nobody.members)


def test_dvps_fail_as_configured_and_never_involve_the_defaulter() -> None:
    plan = make_plan(load_simulation_config(None, {"margin.history_rounds": 50, "dvp.count": 20, "dvp.frozen": 3}))
    kinds = [d.kind for d in plan.dvps]
    assert (kinds.count("frozen"), kinds.count("expired"), kinds.count("settles")) == (3, 1, 16)
    assert plan.defaulter is not None
    for dvp in plan.dvps:
        assert plan.defaulter.number not in (dvp.seller, dvp.buyer)
        assert dvp.seller != dvp.buyer
        assert 1 <= dvp.round <= plan.config.path.rounds
    pairs: dict[tuple[int, int], list[int]] = {}
    for dvp in plan.dvps:
        pairs.setdefault((min(dvp.seller, dvp.buyer), max(dvp.seller, dvp.buyer)), []).append(dvp.nonce)
    assert all(nonces == list(range(len(nonces))) for nonces in pairs.values())


def test_trades_are_within_the_configured_sizes_and_spread() -> None:
    plan = make_plan(load_simulation_config(None, {"margin.history_rounds": 50, "trades.count": 60}))
    settings = {m.name: m for m in plan.config.markets}
    for trade in plan.trades:
        market = settings[trade.market]
        assert market.quantity_min <= trade.quantity // QUANTITY_UNIT <= market.quantity_max
        opening = plan.market(trade.market).path[0]
        assert abs(trade.contract_price - opening) * 10_000 <= opening * plan.config.trades.spread_bps
        assert trade.buyer != trade.seller
        assert trade.buyer_im > 0
        assert trade.seller_im > 0


def test_a_member_lei_has_valid_iso_17442_check_digits() -> None:
    for number in (1, 8, 50, 499):
        lei = lei_for(number)
        assert len(lei) == 20
        assert lei.isalnum()
        assert int("".join(str(int(c, 36)) for c in lei)) % 97 == 1


def test_a_path_that_leaves_the_oracle_bounds_is_refused_before_anything_is_sent() -> None:
    market = {"name": "A", "description": "a", "s0": "100", "min_price": "95", "max_price": "105"}
    config = load_simulation_config(
        None, {"margin.history_rounds": 50, "markets": [market], "shock.market": "A", "shock.size_bps": -1_000}
    )
    with pytest.raises(ConfigError, match=r"markets\[0\]: the path leaves min_price\.\.max_price in round 11"):
        make_plan(config)
