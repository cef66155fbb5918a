"""Client addresses and answers kept out of error reports and of django-axes' records.

Loaded by the settings (DEFAULT_EXCEPTION_REPORTER_FILTER, AXES_CLIENT_IP_CALLABLE): no
model imports here.
"""

from __future__ import annotations

import ipaddress

from django.views.debug import SafeExceptionReporterFilter

from mindpulse.throttling import client_key_for, login_client_address

# Request headers that carry a client address.
ADDRESS_META = ("REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_FORWARDED")
# fd00::/8 is for private use: the pseudonym can never be a real client's address.
_PSEUDONYM_PREFIX = 0xFD << 120


def axes_client_key(request) -> str:
    """The pseudonym of the client address django-axes locks out: the same address as the
    rate limits (mindpulse.throttling.login_client_address: the NUM_PROXIES-th from the right
    of X-Forwarded-For, or the peer when that is not an address), never the address itself.

    Stable within a rotation period, so lock-outs by username+address still work.
    """
    return axes_pseudonym(login_client_address(request))


def axes_pseudonym(address: str) -> str:
    """The keyed hash of `address` (mindpulse.throttling.client_key_for) written as an IPv6
    address in fd00::/8, because django-axes stores it in an IP address column."""
    key = int(client_key_for(address)[:30], 16)
    return str(ipaddress.IPv6Address(_PSEUDONYM_PREFIX | key))


class ScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Error reports (the e-mail to ADMINS, the debug page) without the client address, the
    request body or the traceback's local variables (they hold the answers being checked).

    Active even with DEBUG on: a local debug page is a report too.
    """

    def is_active(self, request):
        return True

    def get_safe_request_meta(self, request):
        meta = super().get_safe_request_meta(request)
        for name in ADDRESS_META:
            if name in meta:
                meta[name] = self.cleansed_substitute
        if request is not None and "REMOTE_ADDR" in getattr(request, "META", {}):
            meta["MINDPULSE_CLIENT_KEY"] = client_key_for(login_client_address(request))
        return meta

    def get_post_parameters(self, request):
        if request is None:
            return {}
        return dict.fromkeys(request.POST, self.cleansed_substitute)

    def get_traceback_frame_variables(self, request, tb_frame):
        return [(name, self.cleansed_substitute) for name in tb_frame.f_locals]
