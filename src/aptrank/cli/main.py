"""The ``aptrank`` command line. Importing this module stays light: commands import what they
need when they run."""

from __future__ import annotations

import sys

import typer

from aptrank.cli import adapt as adapt_cmd
from aptrank.cli import constraints as constraints_cmd
from aptrank.cli import datasets as datasets_cmd
from aptrank.cli import diagnose as diagnose_cmd
from aptrank.cli import evaluate as evaluate_cmd
from aptrank.cli import finetune as finetune_cmd
from aptrank.cli import fusion as fusion_cmd
from aptrank.cli import rank as rank_cmd
from aptrank.cli import rl as rl_cmd
from aptrank.cli import run as run_cmd
from aptrank.cli import serve as serve_cmd
from aptrank.cli import teach as teach_cmd
from aptrank.cli._common import console, fail, quiet_libraries

app = typer.Typer(
    name="aptrank",
    help="Rank by fitness for the task, not by association: evaluate, diagnose and train rankers "
    "on your own judgments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("rank")(rank_cmd.rank)
app.command("diagnose")(diagnose_cmd.diagnose)
app.command("teach")(teach_cmd.teach)
app.command("distill")(teach_cmd.distill)
app.command("fit-fusion")(fusion_cmd.fit_fusion)
app.command("adapt")(adapt_cmd.adapt)
app.command("finetune")(finetune_cmd.finetune)
app.command("run")(run_cmd.run)
app.command("serve")(serve_cmd.serve)
app.add_typer(rl_cmd.app, name="rl")
app.add_typer(constraints_cmd.app, name="constraints")
app.command("datasets")(datasets_cmd.datasets)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from aptrank import __version__

        console.print(f"aptrank {__version__}")
        raise typer.Exit()


def main() -> None:
    """Entry point: bad input becomes one line on stderr and exit code 2, never a traceback."""
    from aptrank.errors import AptrankError

    quiet_libraries()
    try:
        app()
    except AptrankError as e:
        fail(str(e))
    except KeyboardInterrupt:
        console.print("interrupted: what was computed so far is kept in the cache")
        sys.exit(130)


if __name__ == "__main__":
    main()
