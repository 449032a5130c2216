"""Fixtures shared by tests/ and bench/."""

pytest_plugins = ["tests.kafka_fixtures", "tests.postgres_fixtures"]
