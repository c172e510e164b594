"""VIN decoding for the lot form: vPIC's attributes mapped onto lot fields (make, model, year, trim,
engine, drivetrain, transmission). The editor reviews the values before saving; nothing is stored here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from app.errors import ValidationFailed
from app.integrations.vpic import decode_vin_values
from app.services.vin import is_valid_vin_format, normalise_vin, vin_check_digit_ok

# Makes that vPIC spells in capitals and that are written that way.
_UPPER_MAKES = {"BMW", "GMC", "MINI", "RAM", "FIAT", "KIA"}
_TITLE_EXCEPTIONS = {"KIA": "Kia", "FIAT": "Fiat"}


@dataclass
class DecodedVin:
    """Lot field values found for a VIN (only non-empty ones) and any warning the decoder gave."""

    vin: str
    fields: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _make(raw: str) -> str:
    text = raw.strip()
    upper = text.upper()
    if upper in _TITLE_EXCEPTIONS:
        return _TITLE_EXCEPTIONS[upper]
    if upper in _UPPER_MAKES:
        return upper
    return text.lower().title()  # "MERCEDES-BENZ" → "Mercedes-Benz", "LAND ROVER" → "Land Rover"


def _drivetrain(raw: str) -> str | None:
    text = raw.upper()
    if "AWD" in text or "ALL-WHEEL" in text or "ALL WHEEL" in text:
        return "AWD"
    if "4WD" in text or "4X4" in text or "4-WHEEL" in text or "FOUR" in text:
        return "4WD"
    if "FWD" in text or "FRONT" in text:
        return "FWD"
    if "RWD" in text or "REAR" in text:
        return "RWD"
    return None


def _transmission(raw: str) -> str | None:
    text = raw.upper()
    if "CVT" in text or "CONTINUOUSLY" in text:
        return "CVT"
    if "DUAL" in text or "DCT" in text:
        return "DCT"
    if "MANUAL" in text:
        return "MT"
    if "AUTO" in text:
        return "AT"
    return None


def _engine(values: dict[str, Any]) -> str:
    parts = []
    displacement = str(values.get("DisplacementL") or "").strip()
    if displacement:
        try:
            parts.append(f"{float(displacement):.1f}L")
        except ValueError:
            parts.append(f"{displacement}L")
    cylinders = str(values.get("EngineCylinders") or "").strip()
    if cylinders:
        parts.append(f"{cylinders}-cyl")
    fuel = str(values.get("FuelTypePrimary") or "").strip()
    if fuel and fuel.lower() != "gasoline":
        parts.append(fuel)
    electrification = str(values.get("ElectrificationLevel") or "").strip()
    if electrification:
        parts.append(electrification)
    return " ".join(parts)[:120]


def decode_vin(vin: str) -> DecodedVin:
    """Decode ``vin`` with vPIC. Raises ``ValidationFailed`` for a malformed VIN and ``UpstreamUnavailable``
    when the service cannot answer."""
    normalised = normalise_vin(vin or "")
    if not is_valid_vin_format(normalised):
        raise ValidationFailed(
            "The VIN must be 17 characters from A–Z and 0–9, without I, O and Q", field="vin"
        )
    result = DecodedVin(vin=normalised)
    if not vin_check_digit_ok(normalised):
        result.warnings.append("The check digit (9th character) does not match: re-check the VIN")
    values = decode_vin_values(normalised, current_app.config["VIN_DECODER_URL"])
    code = str(values.get("ErrorCode") or "0").strip()
    if not code.startswith("0"):
        text = str(values.get("ErrorText") or "").strip()
        result.warnings.append(f"vPIC: {text or 'the VIN could not be fully decoded'}")
    if values.get("Make"):
        result.fields["make"] = _make(str(values["Make"]))
    if values.get("Model"):
        result.fields["model"] = str(values["Model"]).strip()[:80]
    year = str(values.get("ModelYear") or "").strip()
    if year.isdigit():
        result.fields["year"] = int(year)
    trim = " ".join(str(values.get(k) or "").strip() for k in ("Trim", "Trim2")).strip()
    if trim:
        result.fields["trim"] = trim[:120]
    engine = _engine(values)
    if engine:
        result.fields["engine"] = engine
    drivetrain = _drivetrain(str(values.get("DriveType") or ""))
    if drivetrain:
        result.fields["drivetrain"] = drivetrain
    transmission = _transmission(str(values.get("TransmissionStyle") or ""))
    if transmission:
        result.fields["transmission"] = transmission
    return result
