"""The engine's own database: models, sessions, upserts, locks, migrations."""
