"""NHTSA vPIC client: decode a VIN into the manufacturer's published vehicle attributes.

Only ``DecodeVinValues`` is used (one flat result object per VIN). The base URL comes from the
``VIN_DECODER_URL`` setting, so tests point it at a local stub server.
"""

from __future__ import annotations

from typing import Any

import requests

from app.errors import UpstreamUnavailable

TIMEOUT_SECONDS = 8


def decode_vin_values(vin: str, base_url: str, *, timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
    """The first ``Results`` object of ``/vehicles/DecodeVinValues/{vin}?format=json``.

    Raises ``UpstreamUnavailable`` when the service cannot be reached or answers with something else than
    the expected JSON.
    """
    url = f"{base_url.rstrip('/')}/vehicles/DecodeVinValues/{vin}"
    try:
        response = requests.get(url, params={"format": "json"}, timeout=timeout)
        response.raise_for_status()
        payload = response.json()
    except (requests.RequestException, ValueError):
        raise UpstreamUnavailable("The VIN decoder (NHTSA vPIC) is not available right now") from None
    results = payload.get("Results") if isinstance(payload, dict) else None
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise UpstreamUnavailable("The VIN decoder returned an unexpected answer")
    return results[0]
