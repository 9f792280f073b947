"""The declarative acceptance suite: PRD criteria as TOML profiles, pytest tests that measure
them, and a sign-off verdict built from the results."""
