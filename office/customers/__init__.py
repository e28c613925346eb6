"""Customers: people and companies, their categories, consent, groups and vehicles."""
