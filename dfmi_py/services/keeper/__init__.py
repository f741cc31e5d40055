"""The margin keeper: what to settle, default, mature and retry (pure decisions in :mod:`.decide`)."""
