"""The ``lssd`` command line. Each half registers its own commands; this file only wires them up.

Heavy libraries (torch, transformers, ...) are imported inside commands so ``lssd --help`` stays fast.
"""

from __future__ import annotations

import errno
import sys

import typer
from rich.console import Console
from rich.markup import escape

from lssd import __version__, interrupts
from lssd.errors import LssdError

err_console = Console(stderr=True)

app = typer.Typer(
    name="lssd",
    help=(
        "Looking similar, sounding different: dub videos into counterfactual multilingual pairs "
        "(same pictures and background, other languages), and pretrain audiovisual models on them."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lssd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Looking similar, sounding different."""


def _register_all() -> None:
    from lssd.dataset import cli as dataset_cli
    from lssd.dub import cli as dub_cli
    from lssd.eval import cli as eval_cli
    from lssd.qc import cli as qc_cli
    from lssd.store import cli as store_cli
    from lssd.train import cli as train_cli

    for module in (dub_cli, dataset_cli, store_cli, train_cli, qc_cli, eval_cli):
        module.register(app)


_register_all()


def _quiet_third_party_warnings() -> None:
    """Deprecation notices of libraries lssd uses correctly (torch.jit in Silero's loader, pyworld's
    pkg_resources) are not the user's business on every run; lssd's own warnings still show."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)


HIDDEN_ALIASES = {"--out": "--output"}  # old spellings that keep working without cluttering --help


def _unalias(argv: list[str]) -> list[str]:
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        out.append(HIDDEN_ALIASES[name] + eq + value if name in HIDDEN_ALIASES else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors become one line on stderr and a non-zero exit code; so do
    Ctrl-C and SIGTERM (:mod:`lssd.interrupts`: 130 and 143, temporaries removed, locks released)."""
    exiting = argv is None  # the process's own command line (console script, python -m): it ends after this
    argv = _unalias(sys.argv[1:] if argv is None else [str(a) for a in argv])
    _quiet_third_party_warnings()
    with interrupts.catching(exiting):
        try:
            # without standalone mode click returns the code of a ``typer.Exit`` instead of raising it
            code = app(args=argv, prog_name="lssd", standalone_mode=False)
        except BaseException as exc:  # noqa: BLE001 (each kind is sorted out, the rest re-raised)
            return _fault(exc)
        if interrupts.received():  # a library swallowed the interruption and carried on to the end
            return _interrupted()
    return code if isinstance(code, int) else 0


# faults of the machine, not of lssd or its input: one line, no traceback
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _fault(exc: BaseException) -> int:
    if interrupts.received() or isinstance(exc, KeyboardInterrupt):  # first: a library may reword it
        return _interrupted()
    if isinstance(exc, LssdError):
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return exc.exit_code
    if isinstance(exc, typer.Exit):
        return exc.exit_code
    if isinstance(exc, typer.Abort):
        # click turns an EOFError or a KeyboardInterrupt escaping a command into Abort
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, EOFError):
            detail = escape(str(cause) or "no detail")
            err_console.print(f"[bold red]error:[/] a file ended before its data did (EOFError: {detail})",
                              highlight=False, soft_wrap=True)
            return 1
        return _interrupted()
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        err_console.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}{escape(where)}; free space "
                          f"or choose a writable place, then rerun", highlight=False, soft_wrap=True)
        return 1
    # usage errors (typer vendors its own click, so match by behaviour)
    show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
    if isinstance(exc, Exception) and callable(show) and isinstance(exit_code, int):
        show()
        return exit_code
    raise exc


def _interrupted() -> int:
    err_console.print(f"[bold red]{escape(interrupts.message())}[/]", highlight=False, soft_wrap=True)
    return interrupts.exit_code()


if __name__ == "__main__":
    sys.exit(main())


def _console_main() -> None:
    sys.exit(main())
