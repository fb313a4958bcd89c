"""Figures staff can check: a filing's table rows read with their column headers
(`rows`), kept beside the passages (`store`), and the figure a question asks for found
in them or computed from them in the open (`metrics`, `compute`).

The arithmetic is the code's, never a model's; a figure is shown only with the row
(document, page, line) that holds each operand.  Imports `db`, `errors` and nothing
above them: ingestion writes the rows, answers read them.
"""
