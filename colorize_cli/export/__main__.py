"""``python -m colorize_cli.export CHECKPOINT -o MODEL.onnx`` (same as ``colorize-cli export``)."""

from colorize_cli.commands.export import export_command

if __name__ == "__main__":  # pragma: no cover
    export_command(prog_name="python -m colorize_cli.export")
