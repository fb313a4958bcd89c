"""The site's own quality check: test cases from its library and its staff, their runs
through the live pipeline, and the comparison of runs.

- `generation`: the rules for a generated question (what is kept, what is dropped) and
  the spread of passages it is generated from;
- `questions`: the library read and the answer model asked;
- `cases`: generated, rated and corrected cases, and the to-fix list;
- `runs`: the runs, their results and figures, one worker at a time.

The worker that asks the cases through the pipeline is `rag_core.eval.site` (it drives
the whole engine); the administrators' Quality page reads `cases` and `runs`.
"""
