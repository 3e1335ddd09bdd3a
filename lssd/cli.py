"""The ``lssd`` command line. Each half registers its own commands; this file only wires them up.

Heavy libraries (torch, transformers, ...) are imported inside commands so ``lssd --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from lssd import __version__
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
    """Console entry point: user errors become one line on stderr and a non-zero exit code."""
    argv = _unalias(sys.argv[1:] if argv is None else [str(a) for a in argv])
    _quiet_third_party_warnings()
    try:
        # without standalone mode click returns the code of a ``typer.Exit`` instead of raising it
        code = app(args=argv, prog_name="lssd", standalone_mode=False)
    except LssdError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort as exc:
        # click turns an EOFError escaping a command into Abort too; 130 is for Ctrl-C alone
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, EOFError):
            detail = escape(str(cause) or "no detail")
            err_console.print(f"[bold red]error:[/] a file ended before its data did (EOFError: {detail})",
                              highlight=False, soft_wrap=True)
            return 1
        err_console.print("[bold red]aborted[/]")
        return 130
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]: finished stages are kept; run again to resume")
        return 130
    except Exception as exc:  # usage errors (typer vendors its own click, so match by behaviour)
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            return exit_code
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())


def _console_main() -> None:
    sys.exit(main())
