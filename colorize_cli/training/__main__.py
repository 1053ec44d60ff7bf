"""``python -m colorize_cli.training`` (and ``torchrun -m colorize_cli.training``) = ``colorize-cli train``."""

from colorize_cli.commands.train import train_command

if __name__ == "__main__":
    train_command(prog_name="python -m colorize_cli.training")
