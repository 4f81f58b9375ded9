"""The sweep: plan the candidate grid, schedule the stages, write each result to the store.

The driver (`driver.py`) is the single writer of the store; `stages.py` holds the per-candidate
stage functions, `executors.py` where their jobs run (`forks.py` the local workers), `bench.py`
one user file on every runtime.
May import config and every stage below it; never report or cli.
"""
