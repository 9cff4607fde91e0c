"""``python -m sim.page``: serve the classroom page on localhost; ``python -m sim.page export FILE``: the lesson as
one standalone HTML file.

Exit status: 0 done; 2 the command was refused (the page's extra is not
installed, a port is taken, a file cannot be written), with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sys
from pathlib import Path

#: The page's extra, as the message about a missing one spells it.
INSTALL_HINT = "pip install -e '.[page]'  (from the exposim checkout; or: pip install 'exposim[page]')"
DEFAULT_PORT = 8765


def missing_page_packages() -> list[str]:
    """The page's packages that are not installed (the page's extra brings them all)."""
    return [name for name in ("solara", "mesa.visualization", "ipyvuetify")
            if importlib.util.find_spec(name) is None]


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host if host != "localhost" else "127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)      # as the server binds it
        try:
            sock.bind((host if host != "localhost" else "127.0.0.1", port))
        except OSError:
            return False
    return True


def serve(host: str, port: int | None, open_browser: bool) -> None:
    """Serve the page with Solara (production mode, no telemetry, no version check): nothing leaves localhost."""
    # Solara reads these when it is imported: no telemetry; no "runs on Solara" banner over the plots
    # (a link off the page, on a projected screen); the browser tab's title while the page loads.
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    os.environ.setdefault("SOLARA_THEME_SHOW_BANNER", "False")
    os.environ.setdefault("SOLARA_THEME_TITLE", "exposim classroom page")
    missing = missing_page_packages()
    if missing:
        print(f"exposim page: the classroom page needs its extra ({', '.join(missing)} not installed): "
              f"{INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(2)
    if port is None:
        port = DEFAULT_PORT if _port_free(host, DEFAULT_PORT) else _free_port(host)
    elif port and not _port_free(host, port):
        print(f"exposim page: port {port} is in use on {host}; choose another with --port, or leave --port out",
              file=sys.stderr)
        raise SystemExit(2)
    elif port == 0:
        port = _free_port(host)
    from solara.__main__ import cli

    print(f"exposim classroom page: http://{host}:{port}/  (Ctrl-C stops it)", flush=True)
    args = ["run", "sim.page.app", "--production", "--host", host, "--port", str(port), "--no-check-version",
            "--open" if open_browser else "--no-open", "--log-level", "warning"]
    cli.main(args=args, prog_name="solara", standalone_mode=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sim.page",
        description="The classroom page: serve it on localhost (the default), or export the lesson as one HTML file.")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("serve", help="serve the page on localhost (the default command)")
    for p in (parser, run):
        p.add_argument("--host", default="localhost", help="address to listen on (default: localhost)")
        p.add_argument("--port", type=int, default=None,
                       help=f"port (default: {DEFAULT_PORT}, or a free one if it is taken; 0: a free one)")
        p.add_argument("--open", action="store_true", help="open the page in the default browser")
    export = sub.add_parser("export", help="write the lesson as one standalone HTML file (no Python needed to open)")
    export.add_argument("file", type=Path, help="the HTML file to write, e.g. lesson.html")
    export.add_argument("--days", type=int, default=None, help="days each scene runs (default: the page's 60)")
    args = parser.parse_args(argv)
    if args.command == "export":
        from sim.page.export import write_lesson

        try:
            path = write_lesson(args.file, days=args.days)
        except OSError as exc:
            print(f"exposim page: cannot write {args.file}: {exc.strerror or exc}", file=sys.stderr)
            raise SystemExit(2) from None
        print(f"exposim classroom lesson: {path} ({path.stat().st_size / 1e6:.1f} MB); open it in any browser")
        return
    serve(args.host, args.port, args.open)


if __name__ == "__main__":
    main()
