"""The database: tables (SQLAlchemy 2 typed models), engine and sessions, Alembic migrations.

Importing this package registers every table on `Base.metadata`, which the migrations must match.
"""

from yoloforge.platform.db.accounts import ApiKey, BrowserSession, User
from yoloforge.platform.db.base import Base, utcnow
from yoloforge.platform.db.billing import BillingAccount, JobMeter, LedgerEntry, UsageRecord
from yoloforge.platform.db.datasets import Dataset, DatasetVersion
from yoloforge.platform.db.models import Checkpoint, MetricRow, Model
from yoloforge.platform.db.projects import Project

__all__ = [
    "ApiKey",
    "Base",
    "BillingAccount",
    "BrowserSession",
    "Checkpoint",
    "Dataset",
    "DatasetVersion",
    "JobMeter",
    "LedgerEntry",
    "MetricRow",
    "Model",
    "Project",
    "UsageRecord",
    "User",
    "utcnow",
]
