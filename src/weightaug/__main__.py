"""``python -m weightaug`` (and ``torchrun -m weightaug``): the command line."""

from weightaug.cli import main

main(prog_name="weightaug")
