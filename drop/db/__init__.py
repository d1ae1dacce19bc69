"""The database: connections, models, migrations, prepared statements, group commit."""
