"""``dfmi simulate``: a whole dFMI market on a chain, its default, the same market under a central
counterparty, and the report that compares them."""
