"""Measure: run a model file on a runtime in a pinned worker process and summarise it.

Owns the worker protocol, the runtimes registry (`runtimes/`), latency summaries, machine
description, size/MACs and accuracy metrics. May import convert, compress and the base
modules; never train, config, sweep, report or cli.
"""
