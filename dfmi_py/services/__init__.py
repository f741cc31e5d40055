"""The operators' services (price feeder, margin keeper).

Deciding is kept apart from acting: :mod:`dfmi_py.services.sources` validates source quotes,
:mod:`dfmi_py.services.feeder.decide` and :mod:`dfmi_py.services.keeper.decide` turn a state read
from the chain into actions. None of them reads the chain, the clock or the network; the services
that send, wait and retry build on them.
"""
