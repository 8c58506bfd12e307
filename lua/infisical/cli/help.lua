--- Help texts of infisical-tokens (one per subcommand).
-- @module infisical.cli.help

local COMMON = [[
Connection (every subcommand):
  --api-url URL        the server (default $INFISICAL_API_URL, else https://us.infisical.com);
                       with or without a trailing /api
  --token-file FILE    read the access token from FILE (first line); default $INFISICAL_TOKEN,
                       else Universal Auth with $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and
                       $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET. A token is never taken on
                       the command line: other users could read it from the process list.
  --timeout SECONDS    per request (default 60)
  --ca-file FILE       CA bundle for TLS verification
  --no-verify-tls      turn TLS verification off (never do this in production)
  --now TIME           judge statuses at TIME (ISO-8601, e.g. 2024-06-01T12:00:00Z)
                       instead of the current time, for reproducible reports
  -h, --help           this help
]]

local _M = {}

_M.main = [[
Usage: infisical-tokens COMMAND [OPTIONS] ARGS...

Lists, audits and revokes the access tokens of Infisical machine identities (Token Auth).

Commands:
  list IDENTITY_ID...      every token of the identities, with derived status and expiry
  audit IDENTITY_ID...     a summary per identity; exit status 1 when there are findings
  revoke TOKEN_ID...       revoke tokens (prints what it would do unless --yes)

Run 'infisical-tokens COMMAND --help' for a command's options.

Exit status: 0 success (audit: no findings), 1 findings (audit), a list cut at the
200-token wall (list) or a token already revoked (revoke), 2 errors (bad usage,
no credentials, network or HTTP failures).

  --version            print the version
]] .. "\n" .. COMMON

_M.list = [[
Usage: infisical-tokens list IDENTITY_ID... [OPTIONS]

Lists every token of each identity: all pages, each token once.

Filters (all must match):
  --auth-method M      only tokens of this auth method (repeat or comma-separate)
  --revoked            only revoked tokens (same as --status revoked)
  --active             only tokens the server still accepts (same as --status active)
  --status S           revoked, expired, exhausted or active (repeat or comma-separate)
  --unused-for D       not used for D (or never used and created D ago); D is a number
                       with s, m, h, d or w, e.g. 30d
  --name PATTERN       names matching a Lua pattern, e.g. '^ci%-'

Output:
  --format F           table (default, aligned, UTC times), json (one document: an array
                       of token records with "status" and "expiresAt") or csv (header row)
  --page-size N        tokens per request, 1 to 100 (default 100)

Acting on the result:
  --revoke-matching    revoke the listed tokens that are not revoked yet; without --yes
                       only prints (on stderr) what it would revoke
  --yes                really revoke

Exit status: 0 listed, 1 some identity has more than the 200 tokens the server lets a
client read (the output holds the first 200), 2 errors.
]] .. "\n" .. COMMON

_M.audit = [[
Usage: infisical-tokens audit IDENTITY_ID... [OPTIONS]
       infisical-tokens audit --from-file FILE [OPTIONS]

Summarizes each identity's tokens, several identities at a time: counts by status
(active, expired, exhausted, revoked) and findings among the active tokens: never used,
within 10% of their use limit, expiring within 7 days; and identities whose list was cut
at the server's 200-token wall.

  --from-file FILE     identity ids, one per line ('#' comments, blank lines ignored;
                       '-' reads standard input)
  --format F           table (default), json or csv
  --concurrency N      identities in progress at once, 1 to 64 (default 8)
  --page-size N        tokens per request, 1 to 100 (default 100)

A progress line goes to stderr when stderr is a terminal and the run takes a while.

Exit status: 0 clean, 1 findings, 2 errors (any identity that could not be read).
]] .. "\n" .. COMMON

_M.revoke = [[
Usage: infisical-tokens revoke TOKEN_ID... [--yes]

Revokes tokens by id. Without --yes it only prints what it would revoke.

  --yes                really revoke

Prints 'revoked ID' or 'already revoked ID' per token.
Exit status: 0 done (or dry run), 1 some token was already revoked (or never existed:
the server does not tell them apart), 2 errors.
]] .. "\n" .. COMMON

return _M
