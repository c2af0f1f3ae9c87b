"""Is a server there? One HTTP request with a short timeout, and why not when it fails.

Shared by the install (a wheel index before a pip step) and the training run (the Hugging Face
hub before any of its libraries is imported), so both read a network failure the same way.
Light module: urllib only.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable


def unreachable(
    request: urllib.request.Request,
    timeout: float,
    *,
    answered: Callable[[int], bool] = lambda code: True,
) -> str | None:
    """None when the server answers ``request`` within ``timeout`` seconds, else why not.

    An HTTP error status counts as an answer when ``answered(status)`` says so (default: any
    status does); otherwise it is the reason (``HTTP 503``)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a caller's URL
            resp.read(1)
        return None
    except urllib.error.HTTPError as exc:
        return None if answered(exc.code) else f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, OSError) and reason.strerror:
            return str(reason.strerror)
        return str(reason)
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    except OSError as exc:
        return exc.strerror or str(exc)
