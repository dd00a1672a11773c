"""``python -m aptrank``: the same command line as the ``aptrank`` script."""

from aptrank.cli.main import main

main()
