"""``colorize-cli review REPORT.jsonl -o GALLERY``: a static review gallery of a run."""

from __future__ import annotations

from pathlib import Path

import click

from colorize_cli.commands.options import handles_errors, verbosity_options


@click.command("review", context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("report", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder for the gallery (index.html and its images; created if missing).")
@click.option("--title", default=None, help="The page's title [default: the report's name].")
@verbosity_options
@handles_errors
def review_command(report: Path, out_dir: Path, title: str | None, quiet: bool, verbose: bool) -> None:
    """Write a self-contained HTML gallery of a run's --report: before/after sliders, status, kind,
    flags and notes, filters for failed photos, colour inputs and flagged results.

    Open OUTDIR/index.html in any browser; the folder can be zipped and sent (no server, no CDN).
    """
    from colorize_cli.review import build_gallery, read_report

    records = read_report(report)
    index = build_gallery(records, out_dir, title=title or f"colorize-cli review: {report.name}")
    if not quiet:
        click.echo(f"{len(records)} photos -> {index}", err=True)
