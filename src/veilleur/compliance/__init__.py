"""The safeguards that make the platform accountable (SPEC §3): the journal's audit tools."""
