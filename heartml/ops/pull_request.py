"""The evaluation's report as one pull-request comment, edited in place on later pushes.

The comment carries a hidden marker; each run lists the pull request's comments, edits
the one a bot wrote with that marker, or creates it. GitHub's REST API, with the job's
own token (``pull-requests: write``: a pull request's comments are issue comments,
and that permission covers them).
"""

from __future__ import annotations

import logging
from typing import Any

from heartml.errors import DownstreamRefused
from heartml.ops.downstream import RetryPolicy, github_headers, host, send_json

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.pull_request")

MARKER = "<!-- heartml: evaluate-candidate report -->"
MAX_PAGES = 10  # 1,000 comments: a pull request with more gets a new report comment
MAX_BODY_CHARS = 65_000  # GitHub refuses a comment over 65,536 characters


def comment_body(report: str) -> str:
    """The report with the marker, cut to what GitHub accepts."""
    text = f"{MARKER}\n{report.strip()}\n"
    if len(text) > MAX_BODY_CHARS:
        text = text[: MAX_BODY_CHARS - 80] + "\n\n… (cut: the whole report is on the run page)\n"
    return text


def find_report_comment(
    api: str, repository: str, number: int, token: str, policy: RetryPolicy
) -> int | None:
    """Return the id of the report comment a bot left on this pull request, if any."""
    for page in range(1, MAX_PAGES + 1):
        url = f"{api}/repos/{repository}/issues/{number}/comments?per_page=100&page={page}"
        response = send_json("GET", url, None, github_headers(token), policy)
        _raise_for(response.status_code, "list the pull request's comments", api)
        try:
            comments: Any = response.json()
        except ValueError:  # a proxy's HTML page, an empty 200
            raise DownstreamRefused(
                f"{host(api)} answered the comment list with something that is not JSON"
            ) from None
        if not isinstance(comments, list):
            raise DownstreamRefused(f"{host(api)} answered a comment list that is not a list")
        for comment in comments:
            if not isinstance(comment, dict):
                continue
            user = comment.get("user") if isinstance(comment.get("user"), dict) else {}
            if user.get("type") == "Bot" and MARKER in str(comment.get("body", "")):
                found = comment.get("id")
                if type(found) is int and found > 0:
                    return found
                log.warning("a report comment on #%d has no usable id: a new one is made", number)
        if len(comments) < 100:
            return None
    return None


def post_report(
    api: str, repository: str, number: int, token: str, report: str, policy: RetryPolicy
) -> str:
    """Create or update the report comment; return "created" or "updated"."""
    body = {"body": comment_body(report)}
    existing = find_report_comment(api, repository, number, token, policy)
    if existing is None:
        url = f"{api}/repos/{repository}/issues/{number}/comments"
        response = send_json("POST", url, body, github_headers(token), policy)
        _raise_for(response.status_code, "comment on the pull request", api)
        return "created"
    url = f"{api}/repos/{repository}/issues/comments/{existing}"
    response = send_json("PATCH", url, body, github_headers(token), policy)
    _raise_for(response.status_code, "update the report comment", api)
    return "updated"


def _raise_for(status: int, action: str, api: str) -> None:
    if status < 400:
        return
    why = {
        401: "the token was refused",
        403: "the token may not (a pull request from a fork gets a read-only token)",
        404: "the repository or pull request was not found, or the token cannot see it",
    }.get(status, "")
    raise DownstreamRefused(
        f"cannot {action}: {host(api)} answered {status}" + (f": {why}" if why else "")
    )
