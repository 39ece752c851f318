"""A reference shop backend: FastAPI + SQLAlchemy 2 (async) + Alembic + journeyfsm.

Run it with ``python -m examples.fastapi_shop`` from the repository root (migrates the
database, then serves on http://127.0.0.1:8000); see README.md in this folder.
"""
