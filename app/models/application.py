"""Credit applications, their snapshots, approval and pickup (business rules §5, §6)."""

from __future__ import annotations

from decimal import Decimal

from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    EmbeddedDocument,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    IntField,
    ListField,
    ObjectIdField,
    QuerySet,
    ReferenceField,
    StringField,
)

from app.models.base import ExactDecimalField, MoneyField, TimestampedDocument, utcnow
from app.models.lot import FinanceTerms, LeaseTerms, Lot
from app.models.user import SensitiveFieldsMixin, User

APPLICATION_STATUSES = ("pending", "contacted", "approved", "rejected", "contract_sent", "completed")
CLOSED_STATUSES = ("rejected", "completed")
OPEN_STATUSES = tuple(s for s in APPLICATION_STATUSES if s not in CLOSED_STATUSES)
PICKUP_STATUSES = ("ready_for_pickup", "scheduled", "completed")
TRADE_IN_CONDITIONS = ("excellent", "good", "fair", "poor")
# Adverse-action reason codes (business rules §5.3, §14): a rejection names at least one.
REJECTION_REASONS = {
    "insufficient_income": "Income insufficient for the amount of credit requested",
    "credit_history": "Limited or unfavourable credit history",
    "debt_to_income": "Excessive obligations in relation to income",
    "unverifiable_information": "Unable to verify the information provided",
    "incomplete_application": "Incomplete application",
    "customer_withdrew": "Customer withdrew the application",
    "financing_fell_through": "Financing on the stated terms was not obtained",
    "other": "Other (see notes)",
}


class LotSnapshot(EmbeddedDocument):
    """The lot as applied for; never updated after submission (business rules §5.2)."""

    lot_id = ObjectIdField()
    slug = StringField()
    title = StringField()
    year = IntField()
    make = StringField()
    model = StringField()
    trim = StringField()
    vin = StringField()
    msrp = MoneyField()
    discount = MoneyField()
    fleet_price = MoneyField()
    lease = EmbeddedDocumentField(LeaseTerms)
    finance = EmbeddedDocumentField(FinanceTerms)


class UserSnapshot(EmbeddedDocument):
    """The applicant's profile at submission (business rules §5.2). Sensitive values live encrypted on the
    application itself, never here."""

    name = StringField()
    email = StringField()
    phone = StringField()
    credit_score = IntField()
    auto_loan_history = BooleanField(null=True)
    employment_type = StringField()
    employer_name = StringField()
    job_title = StringField()
    time_at_job_months = IntField()
    monthly_income_pretax = MoneyField()
    annual_income = MoneyField()
    monthly_expenses = MoneyField()
    down_payment_ready = MoneyField()
    immigration_status = StringField()
    address = StringField()
    current_address = StringField()
    current_address_duration_months = IntField()
    previous_address = StringField()
    residence_duration_months = IntField()


class StatusChange(EmbeddedDocument):
    from_status = StringField()
    to_status = StringField(required=True)
    at = DateTimeField(default=utcnow, required=True)
    by_id = ObjectIdField()
    by_email = StringField()
    note = StringField(max_length=2000)
    reason_code = StringField()


class ApprovalDetails(EmbeddedDocument):
    """Exactly one of ``apr`` (financing) and ``money_factor`` (lease) is set (business rules §5.4)."""

    apr = ExactDecimalField(min_value=Decimal(0), max_value=Decimal(30))
    money_factor = ExactDecimalField(min_value=Decimal(0), max_value=Decimal("0.01"))
    loan_term = IntField(min_value=12, max_value=96, required=True)
    down_payment = MoneyField(required=True)
    monthly_payment = MoneyField(required=True)
    approved_at = DateTimeField(default=utcnow)
    approved_by_id = ObjectIdField()
    approved_by_email = StringField()


class TradeIn(EmbeddedDocument):
    vin = StringField(max_length=17)
    year = IntField()
    make = StringField(max_length=60)
    model = StringField(max_length=80)
    mileage = IntField(min_value=0, max_value=1_000_000)
    condition = StringField(choices=TRADE_IN_CONDITIONS)
    photos = ListField(StringField(max_length=1000), max_length=10)
    kbb_value = MoneyField()
    valuation_source = StringField(default="local_model")
    valuation_note = StringField()
    added_at = DateTimeField(default=utcnow)


class ManagerAlternative(EmbeddedDocument):
    """A lot a finance manager attached as an alternative (business rules §5.9)."""

    lot_id = ObjectIdField(required=True)
    lot_slug = StringField()
    title = StringField()
    monthly = MoneyField()
    suggested_by = StringField()
    suggested_at = DateTimeField(default=utcnow)
    reason = StringField(max_length=500)


class ManagerComment(EmbeddedDocument):
    text = StringField(required=True, max_length=5000)
    by_id = ObjectIdField()
    by_email = StringField()
    at = DateTimeField(default=utcnow)


class ApplicationQuerySet(QuerySet):
    def for_user(self, user_id: object) -> QuerySet:
        return self.filter(user=user_id).order_by("-created_at")

    def open(self) -> QuerySet:
        return self.filter(is_open=True)


class Application(SensitiveFieldsMixin, TimestampedDocument):
    meta = {
        "collection": "applications",
        "queryset_class": ApplicationQuerySet,
        "auto_create_index": False,
        "indexes": [
            ("user", "-created_at"),
            ("status", "-created_at"),
            "-created_at",
            "lot",
            {"fields": ["reservation"], "sparse": True},
            # At most one open application per customer and lot (business rules §5.1), enforced by the database.
            {
                "fields": ["user", "lot"],
                "unique": True,
                "partialFilterExpression": {"is_open": True},
                "name": "one_open_application_per_user_and_lot",
            },
            ("prescoring_tier", "status"),
            {"fields": ["pickup_slot"], "sparse": True},
            "search_text",
        ],
        "ordering": ["-created_at"],
    }

    user = ReferenceField(User, required=True)
    lot = ReferenceField(Lot, required=True)
    reservation = ObjectIdField()
    status = StringField(required=True, choices=APPLICATION_STATUSES, default="pending")
    is_open = BooleanField(required=True, default=True)
    status_history = EmbeddedDocumentListField(StatusChange)

    lot_data = EmbeddedDocumentField(LotSnapshot, required=True)
    user_data = EmbeddedDocumentField(UserSnapshot, required=True)
    ssn_encrypted = StringField()
    drivers_license_number_encrypted = StringField()
    date_of_birth_encrypted = StringField()
    profile_completed_at_submission = BooleanField(default=False)

    contacted_at = DateTimeField()
    approval_details = EmbeddedDocumentField(ApprovalDetails)
    contract_sent = BooleanField(default=False)
    contract_sent_at = DateTimeField()
    completed_at = DateTimeField()
    rejection_reason_code = StringField(choices=tuple(REJECTION_REASONS))
    admin_notes = StringField(max_length=5000)  # customer-visible ("Note from team")
    manager_comments = EmbeddedDocumentListField(ManagerComment)  # internal
    verified_income = MoneyField()
    prescoring_data = DictField()
    prescoring_tier = StringField()  # copy of prescoring_data.credit_tier for indexed filtering
    alternatives = EmbeddedDocumentListField(ManagerAlternative, max_length=3)
    trade_in = EmbeddedDocumentField(TradeIn)

    pickup_status = StringField(choices=PICKUP_STATUSES)
    pickup_slot = DateTimeField()
    # Lower-cased applicant name/e-mail and vehicle title, for prefix/regex search in the back office.
    search_text = StringField(max_length=500)

    def clean(self) -> None:
        self.is_open = self.status not in CLOSED_STATUSES
        parts = []
        if self.user_data:
            parts += [self.user_data.name or "", self.user_data.email or ""]
        if self.lot_data:
            parts.append(self.lot_data.title or "")
        self.search_text = " ".join(p.lower() for p in parts if p)[:500]
