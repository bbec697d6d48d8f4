"""A folder holding another ``core/`` (an old checkout, say) to start Quorum from, and a runner
that starts the CLI from it the way the console script does: the runner's own folder first on
the path, this checkout next, the current folder not at all. Code that imports ``core`` from
the current folder (a worker process, a Ray worker) meets the shadow and fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shadowed_cli(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The command (before its arguments) and environment that run Quorum's CLI in ``folder``,
    after putting a shadow ``core/`` there: importable, and wrong. Empty modules, not ones that
    raise: the fork server swallows an ImportError as it preloads, and an editable install
    finds a module the shadow lacks in the checkout, so only empty ones are imported in place
    of the real ones, whoever imports them (worker processes, Ray's actors and tasks)."""
    shadow = folder / "core"
    shadow.mkdir()
    for name in ("__init__", "session", "backtest_runs", "models", "errors"):
        (shadow / f"{name}.py").write_text("", encoding="utf-8")
    runner = folder / "bin" / "quorum_cli.py"
    runner.parent.mkdir()
    runner.write_text(f"import sys\nsys.path.insert(1, {str(REPO)!r})\n"
                      "from core.cli import main\nif __name__ == '__main__':\n    main()\n",
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONSAFEPATH", "PYTHONPATH")}
    return [sys.executable, str(runner)], env
