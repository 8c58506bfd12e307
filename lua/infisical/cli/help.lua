--- Help texts of infisical-tokens (one per subcommand): the one place the command's
-- options are described (docs/cli.md is generated from it).
-- @module infisical.cli.help

-- Defaults shown here are the library's own (infisical.options), never copies.
local options = require "infisical.options"
local TIMEOUT, PAGE = options.default("timeout"), options.default("page_size")
local PAGE_MIN, PAGE_MAX = options.range("page_size")
local CONCURRENCY = options.default("concurrency", options.MANY)
-- audit --org's page of identities (cli/audit.lua reads it from here)
local ORG_PAGE = 1000
local IPAGE, IPAGE_MIN, IPAGE_MAX = options.default("page_size", options.IDENTITY_EACH),
  options.range("page_size", options.IDENTITY_EACH)

local COMMON = [[
Connection (every subcommand; these and -q may also come before the subcommand, as in
'infisical-tokens -q list ...'):
  --api-url URL        the server (default $INFISICAL_API_URL, else https://us.infisical.com);
                       with or without a trailing /api or /api/v1, no other path
  --domain URL         the same as --api-url, under the Infisical CLI's name for it
  --token-file FILE    read the access token from FILE (first line; '-': standard input);
                       default $INFISICAL_TOKEN, else Universal Auth with
                       $INFISICAL_UNIVERSAL_AUTH_CLIENT_ID and
                       $INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET. A token is never taken on
                       the command line: other users could read it from the process list.
  --timeout SECONDS    per request (default ]] .. TIMEOUT .. [[)
  --ca-file FILE       CA bundle for TLS verification
  --no-verify-tls      turn TLS verification off (never do this in production)
  --now TIME           judge statuses at TIME (a date, 2024-06-01, meaning its midnight
                       UTC, or an RFC 3339 time, 2024-06-01T12:00:00Z) instead of the
                       current time, for reproducible reports
  -q, --quiet          print only errors on stderr (no notes, no progress, no per-token
                       revoke lines); --silent is the same
  -h, --help           this help
]]

local IDS = [[
Ids come from the arguments, from standard input where an argument is '-', and from
--from-file FILE ('-': standard input): one or more per line, separated by blanks, '#'
starting a comment. Every id must be a UUID: anything else is refused before any
request is sent (exit status 2). Repeated ids are handled once. Input that holds no
ids ('-' or a file, empty) is nothing to do: exit status 0, no request (as xargs -r).
]]

local _M = {}

_M.ORG_PAGE = ORG_PAGE

_M.main = [[
Usage: infisical-tokens [OPTIONS] COMMAND [OPTIONS] ARGS...

Lists, audits and revokes the credentials of Infisical machine identities: Token Auth
access tokens and Universal Auth client secrets.

Commands:
  list IDENTITY_ID...      every token of the identities, with derived status and expiry
  audit IDENTITY_ID...     a summary per identity; exit status 1 when there are findings
  audit --org ORG_ID       the same for every identity of an organisation
  revoke TOKEN_ID...       revoke tokens (prints what it would do unless --yes)
  secrets IDENTITY_ID...   the Universal Auth client secrets of the identities
  revoke-secret IDENTITY_ID SECRET_ID...
                           revoke client secrets (prints what it would do unless --yes)
  identities --org ORG_ID  an organisation's identities and their auth methods

Run 'infisical-tokens COMMAND --help' for a command's options.

Exit status: 0 success (audit: no findings), 1 findings (audit), an identity with 200
or more tokens (list) or a token already revoked (revoke), 2 errors (bad usage,
no credentials, network or HTTP failures, no permission), 3 the server refused the
credentials (token missing, malformed, expired, revoked or used up; Universal Auth
client id or secret refused): get a new token or fix the credentials.

  --version            print the version
]] .. "\n" .. COMMON

_M.list = [[
Usage: infisical-tokens list IDENTITY_ID... [OPTIONS]
       infisical-tokens list - [OPTIONS] < ids.txt
       infisical-tokens list --from-file FILE [OPTIONS]

Lists every token of each identity: all pages, each token once.

]] .. IDS .. [[

Filters (all must match):
  --auth-method M      only tokens of this auth method (repeat or comma-separate)
  --revoked            only revoked tokens (same as --status revoked)
  --active             only tokens the server still accepts (same as --status active)
  -s, --status S       revoked, expired, exhausted or active (repeat or comma-separate)
  --unused-for D       not used for D (or never used and created D ago); D is a number
                       with s, m, h, d or w, e.g. 30d
  --name GLOB          names matching a shell glob, the whole name: * any text, ? one
                       character, [abc] or [a-z] one of a set, [!a] one not in it;
                       e.g. 'ci-*' (quote it for the shell)

Input:
  --from-file FILE     identity ids from FILE (see above)

Output:
  -f, -o, --format F   table (default, aligned, UTC times), json (one document: an array
                       of token records with "status" and "expiresAt") or csv (header row);
                       --output F is the same
  --no-header          no header row (table and csv)
  --page-size N        tokens per request, ]] .. PAGE_MIN .. [[ to ]] .. PAGE_MAX .. [[ (default ]] .. PAGE .. [[)

The table has the same columns however many identities are listed: IDENTITY, TOKEN ID,
NAME, STATUS, EXPIRES (UTC), USES, LAST USED (UTC), CREATED (UTC); its times are like
2024-06-01T11:00Z (no blank in them: awk sees the same fields on every row). On a
terminal, NAME is cut (ending in ~) to fit its width. CSV and JSON write every time as
RFC 3339 UTC (2024-06-01T11:00:00Z). After an error, an empty result is not printed
(no header, no [], no "no matching tokens").

Acting on the result:
  --revoke-matching    revoke the listed tokens that are not revoked yet; without --yes
                       only prints (on stderr) what it would revoke. A listed token whose
                       id is not a UUID is reported and left alone (exit status 2); a
                       failure on one token does not stop the others
  -y, --yes            really revoke; the tokens are then printed with their new status

Exit status: 0 listed, 1 some identity has 200 or more tokens (the server lets a client
read 200: the output holds those), 2 errors, 3 credentials refused.
]] .. "\n" .. COMMON

_M.audit = [[
Usage: infisical-tokens audit IDENTITY_ID... [OPTIONS]
       infisical-tokens audit - [OPTIONS] < ids.txt
       infisical-tokens audit --from-file FILE [OPTIONS]
       infisical-tokens audit --org ORG_ID [OPTIONS]

Summarizes each identity's credentials. Its Token Auth tokens, several identities at a
time: counts by status (active, expired, exhausted, revoked) and findings among the
active tokens: never used, within 10% of their use limit, expiring within 7 days; and
identities with 200 or more tokens (the server lets a client read 200: the rest are
unseen). Its Universal Auth client secrets (one request per identity): findings among
the active ones: never expiring (TTL 0 and no use limit), never used and older than
--unused-days, older than --max-age, within 10% of their use limit; and secrets expired
but not revoked (the server revokes one only when someone tries to log in with it).
Given by id, an identity is asked for both; one that has client secrets but no Token
Auth is no error.

]] .. IDS .. [[

  --from-file FILE     identity ids from FILE (see above)
  --org ORG_ID         audit every identity of the organisation that uses Token Auth or
                       Universal Auth, read from the server (]] .. ORG_PAGE .. [[ a request); the
                       others are in the report as skipped, with their auth methods. Not with
                       identity ids, '-' or --from-file (exit status 2): to audit some,
                       pick their ids from 'infisical-tokens identities --org ORG_ID'
  --unused-days N      a client secret never used and created N days ago or more is a
                       finding (default 30)
  --max-age D          a client secret created D ago or more is a finding (90d, 12h,
                       3600; default: none)
  -f, -o, --format F   table (default), json or csv; --output F is the same
  --no-header          no header row (table and csv), and no summary line after the table
  -c, --concurrency N  identities in progress at once, 1 to 64 (default ]] .. CONCURRENCY .. [[)
  --page-size N        tokens per request, ]] .. PAGE_MIN .. [[ to ]] .. PAGE_MAX .. [[ (default ]] .. PAGE .. [[)

The table's SECRETS column counts an identity's client secrets, SECRET FINDINGS names
their findings ('-': no Universal Auth). With --org the table has a NAME column after
IDENTITY, and skipped identities say "skipped: no Token Auth or Universal Auth (their
methods)" or "skipped: no auth method" as RESULT; the summary line counts them. CSV:
the first eleven columns are the tokens'; --org adds three: name, auth_methods
(space-separated), skipped (true/false); then nine for the client secrets:
client_secrets, secrets_active, secrets_expired, secrets_exhausted,
secrets_never_expire, secrets_unused, secrets_too_old, secrets_near_limit,
secrets_expired_not_revoked (empty without Universal Auth). JSON adds "clientSecrets"
to each identity (counts and the ids of each finding; null without Universal Auth), and
with --org "org" and "identitiesSkipped" to the document, and "name", "authMethods" and
"skipped" to each identity. When the organisation's identities cannot be read, nothing
is printed on stdout.

A progress line goes to stderr when stderr is a terminal and the run takes a while:
identities done of the total, the times the library paused for the server's rate
limit (a spent window or a 429, whatever the request: pages of identities, logins or
the concurrent token requests) and how long, identities refused by the rate limit in
the end, and an estimate of the time left from the rate so far.

Exit status: 0 clean, 1 findings, 2 errors (any identity that could not be read, or
the organisation's identities), 3 credentials refused. Skipped identities change nothing.
Refused credentials stop the audit (every other request would be refused too): the
identities not done yet are in the report with the error "not tried" (kind not_tried).
]] .. "\n" .. COMMON

_M.revoke = [[
Usage: infisical-tokens revoke TOKEN_ID... [--yes]
       infisical-tokens revoke - [--yes] < token-ids.txt
       infisical-tokens revoke --from-file FILE [--yes]

Revokes tokens by id. Without --yes it only prints what it would revoke.

]] .. IDS .. [[

  --from-file FILE     token ids from FILE (see above)
  -y, --yes            really revoke

Prints 'revoked ID' or 'already revoked ID' per token (nothing with -q). A token that
cannot be revoked is reported and the others are still tried, except when the server
refuses the credentials: then the rest are left (and reported as not tried).
Exit status: 0 done (or dry run), 1 some token was already revoked (or never existed:
the server does not tell them apart), 2 errors, 3 credentials refused.
]] .. "\n" .. COMMON

_M.secrets = [[
Usage: infisical-tokens secrets IDENTITY_ID... [OPTIONS]
       infisical-tokens secrets - [OPTIONS] < identity-ids.txt
       infisical-tokens secrets --from-file FILE [OPTIONS]

Lists the Universal Auth client secrets of each identity (one request per identity: the
server has no paging), with the status the server's login would give each: expired (its
TTL has passed), exhausted (its uses reached the limit), or active. The server lists only
secrets not revoked; an expired or used-up one stays listed until someone tries to log in
with it. A secret itself is never shown by the server after its creation: its PREFIX
(first 4 characters) is what identifies it.

]] .. IDS .. [[

Filters (all must match):
  --active             only secrets a login would accept (same as --status active)
  -s, --status S       expired, exhausted or active (repeat or comma-separate)
  --unused             only secrets never used for a login
  --older-than D       created more than D ago (30d, 12h, 90m, 3600)
  --from-file FILE     identity ids from FILE (see above)

Output:
  -f, -o, --format F   table (default, aligned, UTC times), json (one document: an array
                       of the server's records with identityId, status and expiresAt
                       added) or csv (header row); --output F is the same
  --no-header          no header row (table and csv)

The table's columns: IDENTITY, SECRET ID, DESCRIPTION, PREFIX, STATUS, USES (n/limit
with a use limit), TTL (never, or its length), CREATED (UTC). CSV columns: identity_id,
id, description, prefix, status, uses, uses_limit, ttl (seconds), expires_at,
created_at, revoked. An identity without Universal Auth is an error (exit status 2).

Exit status: 0 listed, 2 errors, 3 credentials refused.
]] .. "\n" .. COMMON

_M["revoke-secret"] = [[
Usage: infisical-tokens revoke-secret IDENTITY_ID SECRET_ID... [--yes]
       infisical-tokens revoke-secret IDENTITY_ID - [--yes] < secret-ids.txt
       infisical-tokens revoke-secret IDENTITY_ID --from-file FILE [--yes]

Revokes Universal Auth client secrets of one identity by id (the SECRET ID column of
'infisical-tokens secrets'). Without --yes it only prints what it would revoke. A login
with a revoked secret is refused; access tokens it already got are not revoked.

]] .. IDS .. [[

  --from-file FILE     client secret ids from FILE (see above)
  -y, --yes            really revoke

Prints 'revoked ID' per client secret (nothing with -q). One that cannot be revoked is
reported and the others are still tried, except when the server refuses the
credentials. Revoking a secret that is already revoked is no error (the server marks
it again).
Exit status: 0 done (or dry run), 2 errors, 3 credentials refused.
]] .. "\n" .. COMMON

_M.identities = [[
Usage: infisical-tokens identities --org ORG_ID [OPTIONS]

Lists the identities of an organisation (all pages), with their auth methods and whether
they use Token Auth (only their tokens can be listed by 'list' and 'audit'). Works with
late-2024 servers (one auth method per identity) and current ones (several).

  --org ORG_ID         the organisation's id (required)
  --search TEXT        only identities whose name contains TEXT (case-insensitive)
  --token-auth         only identities that use Token Auth

Output:
  -f, -o, --format F   table (default, aligned, UTC times), json (an array of records:
                       identityId, name, orgId, membershipId, role, authMethods,
                       usesTokenAuth, lastLoginAuthMethod, lastLoginTime, createdAt,
                       updatedAt; null where the server sent nothing) or csv (header
                       row); --output F is the same. CSV and JSON times: RFC 3339 UTC
  --no-header          no header row (table and csv)
  --page-size N        identities per request, ]] .. IPAGE_MIN .. [[ to ]] .. IPAGE_MAX .. [[ (default ]] .. IPAGE .. [[)

The table's columns: IDENTITY ID, NAME, AUTH METHODS, TOKEN AUTH, ROLE, LAST LOGIN (UTC).
An error prints nothing on stdout (never a short list).
The access token's identity needs read access to the organisation's identities.

Exit status: 0 listed, 2 errors, 3 credentials refused.
]] .. "\n" .. COMMON

return _M
