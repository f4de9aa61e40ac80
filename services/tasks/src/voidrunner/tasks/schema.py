"""Where the tasks service's tables are defined (numbered migrations shipped with the package)."""

from pathlib import Path

COMPONENT = "tasks"
MIGRATIONS_DIR = Path(__file__).parent / "sql" / "migrations"
QUERIES_FILE = Path(__file__).parent / "sql" / "queries.sql"
SHARES_FILE = Path(__file__).parent / "sql" / "shares.sql"
