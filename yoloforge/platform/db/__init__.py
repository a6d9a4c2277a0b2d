"""The database: tables (SQLAlchemy 2 typed models), engine and sessions, Alembic migrations.

Importing this package registers every table on `Base.metadata`, which the migrations must match.
"""

from yoloforge.platform.db.accounts import ApiKey, BrowserSession, User
from yoloforge.platform.db.base import Base, utcnow
from yoloforge.platform.db.datasets import Dataset, DatasetVersion
from yoloforge.platform.db.exports import Export
from yoloforge.platform.db.jobs import Job, JobQuota, JobTransition, SchedulerLock
from yoloforge.platform.db.models import Checkpoint, MetricRow, Model
from yoloforge.platform.db.notifications import Notification, NotificationSettings, Webhook, WebhookDelivery
from yoloforge.platform.db.projects import Project
from yoloforge.platform.db.stream import ModelEvent, Run, Upload

__all__ = [
    "ApiKey",
    "Base",
    "BrowserSession",
    "Checkpoint",
    "Dataset",
    "DatasetVersion",
    "Export",
    "Job",
    "JobQuota",
    "JobTransition",
    "MetricRow",
    "Model",
    "ModelEvent",
    "Notification",
    "NotificationSettings",
    "Project",
    "Run",
    "SchedulerLock",
    "Upload",
    "User",
    "Webhook",
    "WebhookDelivery",
    "utcnow",
]
