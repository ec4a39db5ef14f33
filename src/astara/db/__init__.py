"""Database access shared by the services: engine, sessions, schema migrations."""
