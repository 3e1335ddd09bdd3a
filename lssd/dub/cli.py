import typer


def register(app: typer.Typer) -> None:
    """Filled in by this half of the package."""
