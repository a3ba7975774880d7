"""``python -m bench``: the sync benchmark (``bench/run.py``)."""

from bench.run import main

main()
