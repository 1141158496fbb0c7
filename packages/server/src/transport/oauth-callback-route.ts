import type { CallbackOutcome } from "../hub/connect-flow.js";

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/**
 * The page the browser lands on after the provider: a title and a sentence,
 * escaped (the provider's error_description is the provider's text), with a
 * policy that lets it run nothing and be framed by nobody, and a link back to
 * the console page the flow started from (a link, not a redirect: the person
 * reads the outcome first). No inline style: the policy forbids it, and the
 * browser suite fails on any CSP violation of our pages.
 */
export function callbackPage(outcome: CallbackOutcome): { status: number; headers: Record<string, string>; body: string } {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(outcome.title)} · Engine Cloud</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>${escapeHtml(outcome.title)}</h1>
<p>${escapeHtml(outcome.detail)}</p>
<p><a href="/console/connections">Back to the console's connections</a></p>
</body></html>
`;
  return {
    status: outcome.status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
      "x-content-type-options": "nosniff",
      // The URL held a one-time code and state: no referrer, no cache.
      "referrer-policy": "no-referrer",
    },
    body,
  };
}
