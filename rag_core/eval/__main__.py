"""`python -m rag_core.eval`: the evaluation commands (`commands.main`)."""

from rag_core.eval.commands import main

raise SystemExit(main())
