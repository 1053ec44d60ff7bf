"""Option decorators shared by the commands, and the error handling that turns exceptions into
one-line messages and exit codes."""

from __future__ import annotations

import functools
import signal
import sys
from pathlib import Path

import click

from colorize_cli.device import DEVICE_CHOICES
from colorize_cli.errors import ColorizeError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM = 0, 1, 2, 130, 143


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives (handled like Ctrl-C, exit 143)."""


def model_options(func):
    """``--model``, ``--backend``, ``--device``, ``--size``: choosing and running the generator."""
    decorators = [
        click.option(
            "--model",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="A .pt checkpoint (torch backend) or .onnx model (onnx backend). Default: the bundled model.",
        ),
        click.option(
            "--backend",
            type=click.Choice(["auto", "torch", "onnx"]),
            default="auto",
            show_default=True,
            help="Inference engine: auto runs the bundled model on ONNX Runtime on a CPU and on torch on a GPU (whichever is installed); a --model file decides by its suffix.",
        ),
        click.option(
            "--device",
            type=click.Choice(DEVICE_CHOICES),
            default="auto",
            show_default=True,
            help="Where the model runs (auto: cuda, then mps, then cpu).",
        ),
        click.option(
            "--size",
            type=click.IntRange(32, 4096),
            default=None,
            help="Inference size in pixels (the network sees about SIZE x SIZE). Default: the model's own.",
        ),
        click.option("--threads", type=click.IntRange(1, 512), default=None, help="CPU threads per model call (default: all cores; colorizing several photos, a quarter of them, as two calls run side by side)."),
        click.option(
            "--precision",
            type=click.Choice(["auto", "fp32", "bf16", "int8"]),
            default="auto",
            show_default=True,
            help="auto: bf16 when torch runs on a CPU with AMX, else fp32 (ONNX models run as exported). fp32: full precision. bf16: torch with mobilenet_unet checkpoints, all but the blocks that read L in bfloat16 (~2.2-2.8x faster network with AMX, slower without; a*b* within ~0.2 units of fp32 on average). int8: the bundled model quantized for the CPU, where the bundle has one (ONNX Runtime; this version's has none: quantized, its colours moved too far).",
        ),
    ]
    for deco in reversed(decorators):
        func = deco(func)
    return func


def verbosity_options(func):
    func = click.option("-v", "--verbose", is_flag=True, help="Show tracebacks for unexpected errors.")(func)
    func = click.option("-q", "--quiet", is_flag=True, help="Print only failures.")(func)
    return func


def _raise_terminated(signum, frame):  # noqa: ARG001
    raise Terminated()


def handles_errors(func):
    """Run a command body: ColorizeError -> message + its exit code; Ctrl-C -> 130; SIGTERM -> 143."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        verbose = kwargs.get("verbose", False)
        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _raise_terminated)
        except ValueError:  # not the main thread (e.g. called from a test runner thread)
            previous = None
        try:
            return func(*args, **kwargs)
        except ColorizeError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted: finished files are kept, partial ones removed; rerun to resume.", err=True)
            sys.exit(EXIT_SIGINT)
        except Terminated:
            click.echo("Terminated: finished files are kept, partial ones removed; rerun to resume.", err=True)
            sys.exit(EXIT_SIGTERM)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - never a traceback unless asked for
            if verbose:
                raise
            click.echo(f"Error: {type(exc).__name__}: {exc} (rerun with --verbose for details)", err=True)
            sys.exit(EXIT_FAILED)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper


def configure_own_process() -> None:
    """Process-wide settings the command line makes for its own process (the library never does:
    they belong to whoever owns the process).

    * Pillow's decompression-bomb guard is lifted: ``--max-pixels`` is the guard, checked from the
      header before any pixel is decoded, and Pillow's would refuse (or warn about) the 100 MP
      scans an archive holds.
    * OpenMP threads wait passively: spinning after each op starved the decode/encode threads
      running beside torch's inference (1.89x -> 1.48x the ONNX backend's end-to-end time on 2
      cores, benchmarks/RESULTS.md). Read when torch loads.
    """
    import os

    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
