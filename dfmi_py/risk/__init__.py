"""Pure risk arithmetic (no chain access): position values and variation margin."""

from dfmi_py.risk.forward import position_value, value_scale, variation_margin

__all__ = ["position_value", "value_scale", "variation_margin"]
