"""The ``orthanc-runtime`` command: run a script in Orthanc, check a configuration, find the plugin.

Its help is plain text (``--help`` prints the descriptions as written here): no markup in
the texts of the parser, and every option says its default (tests/unit/test_cli_help.py).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime import __version__

if TYPE_CHECKING:
    from runtime.devkit.launcher import OrthancProcess


def _run(args: argparse.Namespace) -> int:
    from runtime.configuration import check_orthanc_config, load_config_file
    from runtime.devkit.launcher import OrthancProcess, build_configuration, write_configuration

    script = Path(args.script)
    if not script.is_file():
        print(f"orthanc-runtime: no such script: {script}", file=sys.stderr)
        return 2
    extra: list[dict[str, Any]] = []
    for path in args.config or []:
        try:
            extra.append(load_config_file(path))
        except (OSError, ValueError) as error:
            print(f"orthanc-runtime: cannot read {path}: {error}", file=sys.stderr)
            return 2
    if args.reload:
        extra.append({"PythonRuntime": {"Reload": True}})
    storage = Path(args.storage)
    config = build_configuration(script=script, http_port=args.http_port,
                                 dicom_port=args.dicom_port, storage=storage, extra=extra)
    problems = check_orthanc_config(config)
    if problems:
        for problem in problems:
            print(f"orthanc-runtime: {problem.path}: {problem.message}", file=sys.stderr)
        return 1
    taken = _claim_ports(config, args)
    if taken:
        for line in taken:
            print(f"orthanc-runtime: {line}", file=sys.stderr)
        return 1
    storage.mkdir(parents=True, exist_ok=True)
    url = f"http://localhost:{config['HttpPort']}"
    print(f"orthanc-runtime: Orthanc on {url}, DICOM port {config['DicomPort']}", flush=True)
    # Orthanc reads its configuration again on /tools/reset: the folder lives as long as it.
    with tempfile.TemporaryDirectory(prefix="orthanc-runtime-run-") as folder:
        config_path = write_configuration(Path(folder) / "orthanc.json", config)
        return _serve(OrthancProcess(config_path, url), script, args.verbose)


def _claim_ports(config: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Gives a port 0 a free port; says which of Orthanc's ports another process holds.

    Checked before Orthanc starts: an Orthanc whose port is taken exits with a line in its
    log, and if the holder is another Orthanc (Debian's service on 8042), its answers could
    pass for this one's while this one fails."""
    from runtime.devkit.launcher import free_port, port_holder, port_taken

    servers = [("HTTP", "HttpPort", "--http-port", args.http_port)]
    if config.get("DicomServerEnabled", True):
        servers.append(("DICOM", "DicomPort", "--dicom-port", args.dicom_port))
    taken = []
    for what, key, option, given in servers:
        port = config[key]
        if port == 0:
            config[key] = free_port()
        elif port_taken(port):
            how = (f"{option} PORT, or {option} 0 for a free one (make demo DEMO_ARGS='{option} 0')"
                   if port == given else f"another {key} in the --config file")
            taken.append(f"the {what} port {port} is taken by {port_holder(port)}; choose {how}")
    return taken


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KILL_AFTER = 3
"""The third Ctrl-C (or SIGTERM) kills an Orthanc that does not stop."""


def _serve(server: OrthancProcess, script: Path, verbose: bool) -> int:
    """Runs Orthanc in the foreground until it exits; Ctrl-C and SIGTERM stop it cleanly.

    Orthanc runs in a session of its own: a terminal's Ctrl-C, which goes to the
    whole foreground process group, reaches this process only, which asks
    Orthanc to stop with exactly one SIGTERM. Orthanc's workers see no signal
    either: Orthanc stops them. Closing the terminal (SIGHUP) stops it too.
    """
    url = server.url
    received = 0

    def forward(signum: int, frame: Any) -> None:
        nonlocal received
        received += 1
        process = server.process
        if process is None or process.poll() is not None:
            return
        if received == 1:
            # Once Orthanc catches SIGTERM (right after start, a SIGTERM would kill it
            # outright); on a thread, so that a third Ctrl-C still kills it meanwhile.
            threading.Thread(target=_terminate_when_caught, args=(server,), daemon=True,
                             name="orthanc-runtime-stop").start()
        elif received < KILL_AFTER:
            print("orthanc-runtime: Orthanc is stopping; Ctrl-C again kills it", file=sys.stderr,
                  flush=True)
        else:
            process.kill()

    for each in STOP_SIGNALS:
        signal.signal(each, forward)
    server.start(verbose=verbose, own_session=True)
    if received:  # a signal came before Orthanc's process did
        received -= 1
        forward(signal.SIGTERM, None)
    try:
        server.wait_ready(timeout=60)
        print(f"orthanc-runtime: Orthanc is running {script} at {url} (Ctrl-C stops it)", flush=True)
    except (RuntimeError, TimeoutError) as error:
        if not received:  # else stopped while starting, as asked
            print(f"orthanc-runtime: {error}", file=sys.stderr)
            server.stop()
            return 1
    assert server.process is not None
    return exit_status(server.process.wait())


def _terminate_when_caught(server: OrthancProcess) -> None:
    process = server.process
    if process is None:
        return
    server.wait_until_it_catches_sigterm()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)


def exit_status(returncode: int) -> int:
    """The status a shell shows for a child's return code: 128 + N for a death by signal N
    (Python's -N would make sys.exit(-15) exit with 241)."""
    return 128 - returncode if returncode < 0 else returncode


def _check_config(args: argparse.Namespace) -> int:
    from runtime.configuration import check_orthanc_config, load_config

    try:
        config = load_config(args.file)
    except (OSError, ValueError) as error:
        print(f"{args.file}: {error}", file=sys.stderr)
        return 1
    problems = check_orthanc_config(config)
    for problem in problems:
        print(f"{args.file}: {problem.path}: {problem.message}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: the PythonRuntime configuration is valid")
    return 0


def _install(args: argparse.Namespace) -> int:
    from orthanc_native import plugin_path
    from runtime.devkit.install import InstallError, install

    try:
        done = install(Path(args.script), Path(args.config_dir), plugin=plugin_path(),
                       name=args.name, user=args.user or None, force=args.force,
                       plugins_dir=Path(args.plugins_dir) if args.plugins_dir else None)
    except (InstallError, FileNotFoundError) as error:
        print(f"orthanc-runtime install: {error}; nothing was written", file=sys.stderr)
        return 1
    for path in done.written():
        print(f"wrote {path}" + (f" -> {done.plugin}" if path == done.link else ""))
    print(f"next: orthanc-runtime check-config {args.config_dir}, then restart Orthanc "
          "(systemctl restart orthanc)")
    return 0


def _plugin_path(args: argparse.Namespace) -> int:
    from orthanc_native import plugin_path

    try:
        print(plugin_path())
    except FileNotFoundError as error:
        print(f"orthanc-runtime: {error}", file=sys.stderr)
        return 1
    return 0


def _schema(args: argparse.Namespace) -> int:
    from runtime.configuration import load_schema

    print(json.dumps(load_schema(), indent=2))
    return 0


def _new(args: argparse.Namespace) -> int:
    from orthanc_native import plugin_path
    from runtime.devkit.skeleton import create

    folder = Path(args.name)
    try:
        written = create(folder, str(plugin_path()))
    except (ValueError, FileExistsError, ImportError) as error:
        print(f"orthanc-runtime: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(f"next: cd {folder} && pytest, then orthanc-runtime run {folder.name}.py")
    return 0


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written, line breaks kept; each option's default after
    its help ("off" for a flag, "none" for an option that is unset unless given). The help
    column is wide enough for each command's name and summary to fit on one line."""

    def __init__(self, prog: str, **options: Any) -> None:
        options.setdefault("max_help_position", 32)
        super().__init__(prog, **options)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        # argparse measures the commands at the indent of their group, but prints them one
        # step further in: a long name ("check-config") would push its summary to a line
        # of its own.
        if isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(self._action_max_length, longest
                                          + self._current_indent + 2 * self._indent_increment)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if action.default is False:
            return f"{text} (default: off)"
        if action.default is None:
            return f"{text} (default: none)"
        return f"{text} (default: %(default)s)"


# The texts below are printed as written: lines of at most 79 characters, no markup.
DESCRIPTION = """\
Runs a Python script inside Orthanc with the orthanc-runtime plugin, checks an
Orthanc configuration, starts a project with its tests."""

EXAMPLES = """\
examples:
  orthanc-runtime run hello.py --http-port 0   Orthanc with hello.py, free ports
  orthanc-runtime new clinic                   a script and its tests in clinic/"""

RUN = """\
Writes an Orthanc configuration with the plugin and the script, starts Orthanc
in the foreground and prints its URL once it answers. Ctrl-C (or SIGTERM, or
closing the terminal) stops it cleanly; a third Ctrl-C kills it. The exit
status is Orthanc's.

Orthanc listens on its HTTP and DICOM ports on every interface and answers HTTP
from this machine only. A port that another process holds is named before
Orthanc starts."""

CHECK_CONFIG = """\
Validates the PythonRuntime section of an Orthanc configuration against the
schema (orthanc-runtime schema prints it). FILE may be a folder, read as
Orthanc reads one: every .json file in it merged, a key set twice refused.
Exits with 1 and one line per problem, each with its JSON path."""

INSTALL = """\
Adds the plugin and SCRIPT to an Orthanc that already runs from a configuration
folder (Debian's /etc/orthanc): writes NAME.json (the PythonRuntime section)
and NAME.py (a copy of SCRIPT) there, and links the plugin into the plugins
folder that the configuration loads (or lists the plugin in NAME.json when no
file sets "Plugins"). Refuses, writing nothing: a file that exists (unless
--force), a key that another file of the folder sets, the official Python
plugin loaded beside it, files that USER could not read. Then restart Orthanc
(systemctl restart orthanc)."""

PLUGIN_PATH = """\
Prints the absolute path of the plugin library, for the Plugins list of an
Orthanc configuration."""

SCHEMA = """\
Prints the JSON Schema of the PythonRuntime section of Orthanc's configuration."""

NEW = """\
Creates the folder NAME with NAME.py (a route, an event handler and an
offloaded handler, commented), orthanc.json that loads it, test_NAME.py with
tests that start a real Orthanc, and a README. Then: cd NAME && pytest."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="orthanc-runtime", description=DESCRIPTION,
                                  epilog=EXAMPLES, formatter_class=HelpFormatter)
    top.add_argument("--version", action="version", version=f"orthanc-runtime {__version__}",
                     help="print the version and exit")
    commands = top.add_subparsers(title="commands", metavar="COMMAND", dest="command",
                                  required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description,
                                   formatter_class=HelpFormatter)

    run = command("run", "start Orthanc in the foreground with a script", RUN)
    run.add_argument("script", metavar="SCRIPT", help="the Python script Orthanc runs")
    run.add_argument("--http-port", type=int, default=8042, metavar="PORT",
                     help="Orthanc's HTTP port; 0 picks a free one")
    run.add_argument("--dicom-port", type=int, default=4242, metavar="PORT",
                     help="Orthanc's DICOM port; 0 picks a free one")
    run.add_argument("--storage", default="./orthanc-data", metavar="FOLDER",
                     help="the folder of Orthanc's database and files, made if missing")
    run.add_argument("--config", action="append", metavar="FILE",
                     help="extra Orthanc configuration (JSON), merged over the default; "
                          "repeat it to merge several in order")
    run.add_argument("--verbose", action="store_true", help="Orthanc's verbose log")
    run.add_argument("--reload", action="store_true",
                     help="reload the script when it changes (a development setting)")
    run.set_defaults(func=_run)

    check = command("check-config", "validate the PythonRuntime section of a configuration",
                    CHECK_CONFIG)
    check.add_argument("file", metavar="FILE",
                       help="the Orthanc configuration file (JSON; comments allowed) or folder")
    check.set_defaults(func=_check_config)

    add = command("install", "add the plugin and a script to an installed Orthanc", INSTALL)
    add.add_argument("script", metavar="SCRIPT", help="the Python script Orthanc runs")
    add.add_argument("--config-dir", default="/etc/orthanc", metavar="FOLDER",
                     help="Orthanc's configuration folder")
    add.add_argument("--plugins-dir", metavar="FOLDER",
                     help="the folder to link the plugin into, instead of the first folder "
                          'that "Plugins" lists in the configuration')
    add.add_argument("--name", default="orthanc-runtime",
                     help="the name of the files written (NAME.json, NAME.py)")
    add.add_argument("--user", default="orthanc",
                     help="the user Orthanc runs as, who must read what is written; "
                          "an empty string skips the check")
    add.add_argument("--force", action="store_true",
                     help="overwrite NAME.json and NAME.py (keeping the other settings of "
                          "the section) and replace the link")
    add.set_defaults(func=_install)

    path = command("plugin-path", "print the absolute path of the plugin library", PLUGIN_PATH)
    path.set_defaults(func=_plugin_path)

    schema = command("schema", "print the configuration's JSON Schema", SCHEMA)
    schema.set_defaults(func=_schema)

    new = command("new", "create a project: a script, its configuration, its tests", NEW)
    new.add_argument("name", metavar="NAME", help="the folder to create; its name names the script")
    new.set_defaults(func=_new)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
