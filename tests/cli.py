"""Running the ``regard`` command as a person would: a fresh process, settings from the
environment, and nothing of this process's own ``REGARD_`` settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def regard(
    cwd: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGARD_")}
    env.pop("COLUMNS", None)
    env.update(extra or {})
    return subprocess.run(
        [str(Path(sys.executable).parent / "regard"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
