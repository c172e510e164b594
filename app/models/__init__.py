"""MongoEngine documents. ``ALL_DOCUMENTS`` lists every collection for index creation and test cleanup."""

from app.models.alerts import AlertDailyCount, AlertDelivery
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
from app.models.lot_history import LotPriceChange
from app.models.scraper import ScrapedOffer, ScrapeRun
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
    LotPriceChange,
    AlertDelivery,
    AlertDailyCount,
    ScrapeRun,
    ScrapedOffer,
)

__all__ = [
    "ALL_DOCUMENTS",
    "AlertDailyCount",
    "AlertDelivery",
    "AppSetting",
    "Application",
    "Appointment",
    "AuditLog",
    "ConsentRecord",
    "CustomerDocument",
    "Lead",
    "Lot",
    "LotPriceChange",
    "LotSlugRedirect",
    "MagicLinkToken",
    "Notification",
    "PickupBooking",
    "PreviewToken",
    "Reservation",
    "ScrapeRun",
    "ScrapedOffer",
    "Subscription",
    "User",
    "utcnow",
]
