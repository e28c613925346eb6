"""The head office's reports (issue 14): consumption, customers, stations, loyalty,
vouchers, accounts and exceptions, as tables, spreadsheets and charts (docs/reports.md).
"""
