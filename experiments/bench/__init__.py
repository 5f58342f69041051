"""python -m experiments.bench (also `python -m experiments bench`): training-step and epoch timings on
every backend, as one table with the speed targets. timing.py measures; __main__.py is the command line."""
