"""``python -m examples.fastapi_shop [serve|migrate|worker] [--host H] [--port P]``.

``serve`` (the default) migrates the database to the newest revision, then serves the
app with uvicorn (the outbox and timeout workers run in its lifespan unless
``SHOP_WORKERS_IN_APP=0``); ``migrate`` only migrates; ``worker`` runs the workers alone
(as ``python -m examples.fastapi_shop.worker``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HERE = Path(__file__).resolve().parent


def migrate() -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(HERE / "alembic.ini"))
    command.upgrade(config, "head")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.fastapi_shop")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "worker"]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.command == "worker":
        from .worker import main as worker_main

        worker_main()
        return
    migrate()
    if args.command == "serve":
        import uvicorn

        uvicorn.run("examples.fastapi_shop.app:app", host=args.host, port=args.port)


if __name__ == "__main__":
    main()
