"""MongoEngine documents. ``ALL_DOCUMENTS`` lists every collection for index creation and test cleanup."""

from app.models.application import Application
from app.models.base import utcnow
from app.models.customer import (
    Appointment,
    ConsentRecord,
    CustomerDocument,
    Lead,
    PickupBooking,
    Reservation,
    Subscription,
)
from app.models.lot import Lot, LotSlugRedirect
from app.models.system import AppSetting, AuditLog, MagicLinkToken, Notification, PreviewToken
from app.models.user import User

ALL_DOCUMENTS = (
    User,
    Lot,
    LotSlugRedirect,
    Application,
    Reservation,
    Subscription,
    Appointment,
    CustomerDocument,
    PickupBooking,
    Lead,
    ConsentRecord,
    AuditLog,
    Notification,
    PreviewToken,
    MagicLinkToken,
    AppSetting,
)

__all__ = [
    "ALL_DOCUMENTS",
    "AppSetting",
    "Application",
    "Appointment",
    "AuditLog",
    "ConsentRecord",
    "CustomerDocument",
    "Lead",
    "Lot",
    "LotSlugRedirect",
    "MagicLinkToken",
    "Notification",
    "PickupBooking",
    "PreviewToken",
    "Reservation",
    "Subscription",
    "User",
    "utcnow",
]
