"""Run the shop with one command: ``python run.py`` (from this folder, with
``pip install 'journeyfsm[django]'``).

Migrates the database, starts the journeyfsm worker (effects and timeouts) and Django's
server on http://127.0.0.1:8000; Ctrl-C stops both.  ``--port N`` picks another port.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    port = sys.argv[sys.argv.index("--port") + 1] if "--port" in sys.argv else "8000"
    manage = [sys.executable, str(HERE / "manage.py")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run([*manage, "migrate", "-v", "1"], check=True, cwd=HERE, env=env)
    worker = subprocess.Popen([*manage, "journeyfsm", "worker"], cwd=HERE, env=env)
    try:
        return subprocess.call(
            [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], cwd=HERE, env=env
        )
    except KeyboardInterrupt:
        return 0
    finally:
        worker.terminate()  # the worker stops after the effect it is running
        worker.wait(30)


if __name__ == "__main__":
    sys.exit(main())
