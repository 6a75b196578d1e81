"""Maps an ``ssl.SSLContext`` (the seed client's ``ssl_context=``) onto liblnc's ``tls.*`` keys.

liblnc's TLS is rustls, so a context cannot be handed over; what a context exposes is translated
and anything that cannot be honoured exactly raises ``TlsContextError`` (a ``ValueError``) at
configuration time. A security setting is never dropped and never weakened:

- CA certificates loaded into the context (``cafile=``, ``cadata=``, ``load_verify_locations``)
  are written to a private PEM file handed to ``tls.ca.location``. A context whose CA list is
  empty (``ssl.create_default_context()``, whose system CAs OpenSSL loads lazily) trusts the
  platform's roots, which is liblnc's default too.
- ``verify_mode=CERT_NONE`` (with ``check_hostname=False``) becomes ``tls.verify=false`` plus
  ``tls.insecure.acknowledged=true``: the context already asked for no verification.
- ``check_hostname=False`` with verification on is refused: rustls always checks the name (give
  the certificate's name as ``server_name=``).
- ``minimum_version`` above TLS 1.2 or ``maximum_version`` below it is refused: liblnc speaks
  TLS 1.2 and 1.3.
- A client certificate loaded with ``load_cert_chain`` cannot be read back from a context, so it
  must also be given as ``cert_file=``/``key_file=``; without it a server demanding one refuses
  the handshake (``TlsError``), it never connects with less.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import weakref
from typing import Any, Dict, Optional

__all__ = ["TlsContextError", "context_options"]


class TlsContextError(ValueError):
    """An ``ssl.SSLContext`` setting that liblnc cannot honour exactly."""


class CaFile:
    """A private PEM file holding a context's CA certificates, removed with this object."""

    def __init__(self, pem: str) -> None:
        fd, self.path = tempfile.mkstemp(prefix="lnc-ca-", suffix=".pem")
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        self._finalizer = weakref.finalize(self, _remove, self.path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def context_options(ctx: Any) -> "tuple[Dict[str, Any], Optional[CaFile]]":
    """liblnc keys equivalent to ``ctx`` plus the CA file they name (keep it alive as long as the
    keys may be used). Raises ``TypeError`` for a non-context, ``TlsContextError`` for settings
    that cannot be mapped."""
    if not isinstance(ctx, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ctx).__name__}")
    minimum = ctx.minimum_version
    if minimum not in (ssl.TLSVersion.MINIMUM_SUPPORTED,) and minimum > ssl.TLSVersion.TLSv1_2:
        raise TlsContextError(
            f"ssl_context.minimum_version={minimum.name} cannot be honoured: liblnc negotiates TLS 1.2 or 1.3"
        )
    maximum = ctx.maximum_version
    if maximum not in (ssl.TLSVersion.MAXIMUM_SUPPORTED,) and maximum < ssl.TLSVersion.TLSv1_2:
        raise TlsContextError(
            f"ssl_context.maximum_version={maximum.name} cannot be honoured: liblnc speaks TLS 1.2 and 1.3 only"
        )
    options: Dict[str, Any] = {"security.protocol": "tls"}
    if ctx.verify_mode == ssl.CERT_NONE:
        # check_hostname=True forces CERT_REQUIRED in CPython, so this context verifies nothing.
        options["tls.insecure.acknowledged"] = True
        options["tls.verify"] = False
        return options, None
    if not ctx.check_hostname:
        raise TlsContextError(
            "ssl_context.check_hostname=False cannot be honoured: liblnc always verifies the server's name. "
            "Keep check_hostname=True and pass the name in the certificate as server_name= (tls.server.name)"
        )
    ders = ctx.get_ca_certs(binary_form=True)
    if not ders:
        return options, None
    ca = CaFile("".join(ssl.DER_cert_to_PEM_cert(der) for der in ders))
    options["tls.ca.location"] = ca.path
    return options, ca
