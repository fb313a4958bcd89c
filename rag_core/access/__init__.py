"""Access: who may do what, and the record of what they did.

- `accounts`: staff and administrator accounts, passwords, sign-in and its lockout;
- `tokens`: API tokens for the HTTP API;
- `policy`: the rules (which pages and actions each role has, whose history one sees),
  decided here, never in the pages;
- `audit`: the append-only audit trail;
- `exposure`: what of the library each account can reach, for a review;
- `phi_logs`: every process's logging, kept free of patients' details.

It may import `rag_core.errors`, `rag_core.db` and `rag_core.settings`; the app, the API
and the CLI ask it, never the other way round.
"""
