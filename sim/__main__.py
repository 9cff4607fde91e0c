"""``python -m sim``: the Hydra app, with configuration errors mapped to exit status 2."""

from __future__ import annotations

import sys

from sim import app, sweep


def main() -> None:
    try:
        app.hydra_main()
    except SystemExit as exc:
        if exc.code == 1 and sweep.active_sweep is not None:
            # A job of the sweep failed: the others have run; say where things stand.
            try:
                print(sweep.sweep_status(sweep.active_sweep).describe(), file=sys.stderr)
            except (OSError, ValueError):
                pass
            raise
        # Hydra reports errors while composing (unknown key, wrong type, unknown
        # group option) with exit status 1 before our task runs: those are
        # configuration errors too.
        if exc.code == 1 and not app.task_started:
            sys.exit(app.CONFIG_ERROR_EXIT)
        raise


if __name__ == "__main__":
    main()
