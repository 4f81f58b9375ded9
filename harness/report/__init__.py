"""Report: read the store and present it: the static site (pages, charts, history, results
files, model cards) and the decisions made from stored rows (compare, select).

Never writes results; may import every layer except cli.
"""
