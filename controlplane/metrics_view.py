"""GET /metrics: Prometheus metrics, for a scraper on an allowed network with the token.

Two settings guard it (both apply when both are set): SWITCHBOARD_METRICS_ALLOWED_NETWORKS,
the client addresses answered (default: this host only), and SWITCHBOARD_METRICS_TOKEN,
a Bearer token required when set. The address is the TCP peer (REMOTE_ADDR): a
forwarded-for header is anyone's to write, so it is never trusted here.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from routing.prometheus import exposition

MSG_FORBIDDEN = (
    "Forbidden: this address may not read /metrics (SWITCHBOARD_METRICS_ALLOWED_NETWORKS).\n"
)
MSG_UNAUTHORIZED = (
    "Unauthorized: /metrics needs 'Authorization: Bearer <SWITCHBOARD_METRICS_TOKEN>'.\n"
)


def _network_allowed(request: HttpRequest) -> bool:
    networks = settings.SWITCHBOARD_METRICS_NETWORKS
    if not networks:
        return True  # no network restriction; settings then insist on a token
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return any(address in network for network in networks)


def _token_given(request: HttpRequest) -> bool:
    expected = settings.SWITCHBOARD_METRICS_TOKEN
    if not expected:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _network_allowed(request):
        return HttpResponse(MSG_FORBIDDEN, status=403, content_type="text/plain")
    if not _token_given(request):
        response = HttpResponse(MSG_UNAUTHORIZED, status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(timezone.now()), content_type=CONTENT_TYPE_LATEST)
