"""Response shapes of the API (consumer-api §2), as pydantic models for the OpenAPI document.

Responses are built by the services' serialisers (plain dicts, so the catalogue can be cached as bytes);
these models describe the same keys and types for ``/api/openapi.json``. Request models live next to the
routes that validate with them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorResponse(Shape):
    detail: str = Field(description="A human-readable sentence")


class Message(Shape):
    message: str


class Health(Shape):
    status: str
    timestamp: str
    version: str
    checks: dict[str, str]


class OkMessage(Shape):
    ok: bool = True
    message: str


class UserOut(Shape):
    """The user object (§2.1). SSN, licence number and date of birth are never present."""

    id: str
    email: str
    name: str
    role: str
    is_active: bool
    profile_completed: bool
    picture: str
    last_login: str | None
    created_at: str
    credit_score: int | None
    annual_income: int | None
    auto_loan_history: bool | None
    employment_type: str | None
    employer_name: str | None
    job_title: str | None
    time_at_job_months: int | None
    monthly_income_pretax: int | None
    employment_duration_months: int | None
    immigration_status: str | None
    phone: str | None
    address: str | None
    current_address: str | None
    current_address_duration_months: int | None
    residence_duration_months: int | None
    previous_address: str | None
    monthly_expenses: int | None
    down_payment_ready: int | None
    ssn_on_file: bool
    drivers_license_on_file: bool
    date_of_birth_on_file: bool


class TokenResponse(Shape):
    ok: bool = True
    message: str
    user: UserOut
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class MagicLinkSent(OkMessage):
    debug_token: str | None = Field(None, description="Only with MAGIC_LINK_DEBUG outside production")
    debug_url: str | None = Field(None, description="Only with MAGIC_LINK_DEBUG outside production")


class Lease(Shape):
    monthly: float
    dueAtSigning: float
    termMonths: int
    milesPerYear: int
    incentives: float | None = None


class Finance(Shape):
    apr: float
    termMonths: int
    downPayment: float


class CarListItem(Shape):
    """One offer card (§2.2)."""

    id: str
    slug: str
    title: str
    make: str
    model: str
    year: int
    trim: str
    msrp: int
    discount: int
    fleet: int
    savings: int
    dealer_addons: int
    fees_hint: int
    stockLeft: int
    image: str
    dealer: str
    endsAt: str | None
    isDrop: bool
    lease: Lease
    finance: Finance


class Specs(Shape):
    year: str
    make: str
    model: str
    trim: str
    engine: str
    transmission: str
    drivetrain: str
    exteriorColor: str
    interiorColor: str
    vin: str


class CompetitorQuote(Shape):
    monthly: float
    dueAtSigning: float
    term: int
    updatedAt: str | None


class Cash(Shape):
    incentives: float
    total: int


class CarDetail(CarListItem):
    """The car page object (§2.3)."""

    gallery: list[str]
    specs: Specs
    description: str
    addonsAvg: int
    competitor_prices: dict[str, CompetitorQuote]
    state: str
    cash: Cash


class PreviewDetail(CarDetail):
    isPreview: bool = True
    previewToken: str


class TaxFeeRow(Shape):
    state_code: str
    state_name: str
    sales_tax_rate: float
    dmv_registration: float
    title_fee: float
    doc_fee: float
    local_tax_note: str
    total_estimate_note: str
    note: str | None = Field(None, description="Only on the fallback row")


class TaxFeeTable(Shape):
    states: list[TaxFeeRow]
    total: int


class CalcResult(Shape):
    estOtdoor: float
    tax: float
    fees: float
    apr: float
    monthlyPayment: float


class LotData(Shape):
    year: int | None
    make: str | None
    model: str | None
    trim: str
    msrp: int | None
    fleet_price: float | None


class ApprovalDetails(Shape):
    apr: float | None
    money_factor: float | None
    loan_term: int
    down_payment: float
    monthly_payment: float
    approved_at: str | None


class TradeInOut(Shape):
    year: int
    make: str
    model: str
    mileage: int
    condition: str
    kbb_value: int
    added_at: str


class ApplicationOut(Shape):
    """An application as its customer sees it (§2.4)."""

    id: str
    status: str
    created_at: str
    updated_at: str
    lot_id: str
    lot_slug: str | None
    lot_data: LotData
    approval_details: ApprovalDetails | None
    contract_sent: bool
    contract_sent_at: str | None
    pickup_status: str | None
    pickup_slot: str | None
    admin_notes: str | None
    trade_in: TradeInOut | None
    reservation_id: str | None


class ApplicationList(Shape):
    applications: list[ApplicationOut]
    total: int


class ApplicationCreated(Shape):
    ok: bool = True
    application_id: str
    message: str


class TradeInResult(Shape):
    ok: bool = True
    trade_in_value: int
    message: str


class Alternative(Shape):
    type: str
    lot_id: str
    slug: str
    title: str
    monthly: float
    savings_vs_original: float | None = None
    price_diff: float | None = None
    upgrade_cost: float | None = None


class AlternativeSlots(Shape):
    cheaper: Alternative | None
    similar: Alternative | None
    luxury: Alternative | None
    count: int


class Alternatives(Shape):
    ok: bool = True
    alternatives: AlternativeSlots
    count: int


class PickupSlotOut(Shape):
    datetime: str
    display: str
    available: bool = True


class PickupSlots(Shape):
    slots: list[PickupSlotOut]


class PickupScheduled(Shape):
    ok: bool = True
    message: str
    pickup_slot: str


class DocumentUploaded(Shape):
    ok: bool = True
    id: str
    url: str
    message: str


class ReservationOut(Shape):
    """A reservation (§2.5)."""

    id: str
    lot_id: str
    lot_slug: str
    reserved_price: float
    monthly_payment: float
    due_at_signing: float
    deposit_amount: float
    deposit_paid: bool
    status: str
    expires_at: str
    created_at: str
    application_id: str | None


class ReservationList(Shape):
    reservations: list[ReservationOut]
    total: int


class ReservationCreated(Shape):
    ok: bool = True
    reservation_id: str
    message: str
    expires_at: str


class SubscriptionOut(Shape):
    """A model alert (§2.6)."""

    id: str
    makes: list[str]
    models: list[str]
    max_price: int | None
    email: str
    phone: str | None
    telegram_id: str | None
    notify_email: bool
    notify_sms: bool
    notify_telegram: bool
    notify_on_new_listing: bool
    notify_on_price_drop: bool
    sms_consent_status: str
    is_active: bool
    created_at: str


class SubscriptionList(Shape):
    subscriptions: list[SubscriptionOut]
    total: int


class SubscriptionCreated(Shape):
    ok: bool = True
    subscription_id: str
    message: str


class AppointmentCreated(Shape):
    ok: bool = True
    appointment_id: str
    message: str


class Created(Shape):
    ok: bool = True
    id: str
    message: str
