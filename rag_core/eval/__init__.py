"""Evaluation: the public sets run through the live pipeline, with figures printed and
written as JSON (`python -m rag_core.eval --help`).

- `commands`: the command line, and search evaluated on BEIR-style sets;
- `answers`: answers scored against gold answers (SQuAD 2.0, FinanceBench), written and
  quoted, with abstention;
- `library`: folders of real files (manuals, filings) with questions about their pages;
- `followups`: follow-up questions made stand-alone;
- `sides`: the side databases each set is ingested into once, reused while the
  pipeline is unchanged.

It may import the whole engine (it drives it as a user would); nothing imports it.
"""
