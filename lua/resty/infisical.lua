--- `require "resty.infisical"`: the name OpenResty users look for. The same module
-- (the same table) as `require "infisical"`; inside a request handler it talks through
-- cosockets. See docs/openresty.md.
-- @module resty.infisical
return require "infisical"
