"""The platform's rules, one module per domain; routes call these and stay thin.

Services take a SQLAlchemy session and a `Principal` (who is asking, with which scopes), check
visibility and ownership, change rows, and commit: one service call is one unit of work.
"""
