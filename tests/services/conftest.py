"""Pure tests of the services' decisions: no fixture here starts a chain."""
