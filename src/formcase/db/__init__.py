"""Database: engine and sessions, declarative base, shared column types, migrations."""
