"""An HTML mail body served as its own document, for the sandboxed preview iframes.

A mail's HTML is shown as a mail client shows it: its inline styles and `data:` images apply
(the dashboard's own policy, `style-src 'self'`, would drop them if the body were a `srcdoc`),
while scripts, forms, plugins, frames and every remote load (images, CSS, fonts over http(s))
are refused by this response's own Content-Security-Policy. The iframe that shows it carries
`sandbox` with no flag: inline styles need none, and without `allow-same-origin` the body runs
in an opaque origin that can read nothing of the dashboard, without `allow-scripts` nothing
runs even if the policy were lost, and without `allow-top-navigation`/`allow-popups` a link
cannot take the dashboard away (the dashboard's `frame-src 'self'` also keeps the frame on
this site).
"""

from __future__ import annotations

from flask import Response

PREVIEW_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data: cid:",
        "font-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ]
)


def html_preview(html: str) -> Response:
    """`html` as a document only the dashboard's own pages may frame."""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # older browsers: the same as above
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
