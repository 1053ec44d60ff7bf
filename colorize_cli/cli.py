"""The ``colorize-cli`` command line: a thin Click layer over :mod:`colorize_cli.api`.

``colorize-cli INPUTS... -o OUT`` is the default command; ``train``, ``export`` and ``evaluate``
are subcommands loaded lazily, so ``--version``/``--help`` never import torch or onnxruntime.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from typing import NoReturn

import click

from colorize_cli._version import __version__
from colorize_cli.commands import RunComplete

# name -> "module:attribute" of a click.Command, imported only when that subcommand runs.
SUBCOMMANDS = {
    "colorize": "colorize_cli.commands.colorize:colorize_command",
    "train": "colorize_cli.commands.train:train_command",
    "export": "colorize_cli.commands.export:export_command",
    "evaluate": "colorize_cli.commands.evaluate:evaluate_command",
    "review": "colorize_cli.commands.review:review_command",
}
DEFAULT_COMMAND = "colorize"
# Shown by --help without importing the subcommands (which would pull in torch).
SUBCOMMAND_HELP = {
    "colorize": "Colorize photos in files and folders (the default command).",
    "train": "Train a colorization GAN on a folder of color photos.",
    "export": "Export a checkpoint to a verified ONNX model.",
    "evaluate": "Measure a model on color photos (PSNR, SSIM, colorfulness).",
    "review": "Write an HTML review gallery of a run's --report.",
}


class DefaultLazyGroup(click.Group):
    """A group whose subcommands are imported on demand and whose default command is ``colorize``.

    ``colorize-cli photos -o out`` means ``colorize-cli colorize photos -o out``; a folder named
    like a subcommand can be written ``./train``.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            top = (exc.name or "").split(".")[0]
            if top in ("torch", "torchvision", "skimage"):
                extra = "train" if cmd_name == "train" else "torch" if top.startswith("torch") else "dev"
                hint = f'pip install "colorize-cli[{extra}]"'
            elif top in ("onnx", "onnxruntime"):
                hint = f"pip install {top}  (a core dependency: reinstall colorize-cli)"
            else:
                raise
            raise click.UsageError(f"'{cmd_name}' needs the '{top}' package: {hint}") from None
        return getattr(module, attr)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The main command's options first (colorizing is the bare form's job), then the group's
        own, then the subcommands."""
        command = self.get_command(ctx, DEFAULT_COMMAND)
        records = [r for p in command.get_params(ctx) if isinstance(p, click.Option) and (r := p.get_help_record(ctx))]
        with formatter.section("Options"):
            formatter.write_dl(records)
        own = [r for p in self.get_params(ctx) if (r := p.get_help_record(ctx)) is not None and "--help" not in r[0]]
        with formatter.section("Other options"):
            formatter.write_dl(own)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(SUBCOMMAND_HELP.items()))

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in SUBCOMMANDS and args[0] not in ("--help", "-h", "--version"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] INPUTS... -o OUTDIR  |  COMMAND [ARGS]...")


@click.group(
    cls=DefaultLazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  colorize-cli ./old_photos -o ./colored
  colorize-cli scan.tif -o out --format png --backend onnx
  find archive -name '*.tif' -print0 | colorize-cli --files-from - -0 -o out --report run.jsonl
  colorize-cli train ../photos --out runs/mine          (needs colorize-cli[train])
  colorize-cli export runs/mine/checkpoints/best.pt -o mine.onnx
  colorize-cli evaluate ./color_photos --crop 256 --out eval

Run 'colorize-cli COMMAND --help' for a subcommand's options.""",
)
@click.version_option(__version__, "--version", prog_name="colorize-cli", message="%(prog)s %(version)s")
def main() -> None:
    """Colorize black-and-white photos, at full resolution, in batch.

    The default command colorizes INPUTS (files and folders) into OUTDIR:

        colorize-cli [OPTIONS] INPUTS... -o OUTDIR
    """


def entry() -> None:
    """The ``colorize-cli`` console script: :func:`main`, then :func:`exit_process`."""
    try:
        main(prog_name="colorize-cli")
        code: object = 0
        complete = False
    except SystemExit as exc:
        code = exc.code
        complete = isinstance(exc, RunComplete)
    exit_process(code, run_complete=complete)


def exit_process(code: object, *, run_complete: bool = False) -> NoReturn:
    """End the process with ``code``; right away once a colorize run has finished (``run_complete``:
    the command ended with :class:`colorize_cli.commands.RunComplete`).

    Ending the interpreter normally tears down every module and then the engines' libraries (C++
    static destructors, thread pools): ~0.4 s with torch loaded (``python -c "import torch"``
    1.48 s, 1.09 s when it ends with ``os._exit``), and 0.01-0.29 s (0.15 on average) with ONNX
    Runtime after a 100-photo run (benchmarks/RESULTS.md). Once a colorize
    run has finished (every output written, fsynced and renamed into place, the report closed)
    that teardown has nothing left to do, so the process ends at once, after flushing stdout and
    stderr. So does a run whose worker threads are stuck (see :func:`_threads_left_stuck`). Every
    other case (other subcommands, errors, Ctrl-C) exits normally.
    """
    if isinstance(code, int | None) and (run_complete or _threads_left_stuck()):
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None when the stream was closed (``>&-``)
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        os._exit(code or 0)
    sys.exit(code)


def _threads_left_stuck(grace_s: float = 1.0) -> bool:
    """Whether worker threads are still running ``grace_s`` after the command returned.

    A stopped run leaves behind a decoder stuck in a read that never returns (a hung network mount,
    a device): the interpreter would wait for it forever at exit, so the process must end without
    that wait. The run itself has already reported every finished file and removed partial ones.
    """
    import threading
    import time

    deadline = time.monotonic() + grace_s
    main_thread = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main_thread and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    return any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread)


if __name__ == "__main__":  # pragma: no cover
    entry()
