"""Customer accounts: payments received, credit and debit notes, what a customer owes,
statements, credit control (docs/reports.md, "Accounts")."""
