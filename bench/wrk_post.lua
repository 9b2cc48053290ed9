-- wrk_post.lua - wrk script for `make bench`'s HTTP scenario (bench/http_bench.py):
-- every request is POST URL with a JSON body and a bearer token, e.g. a
-- direct message through Agora's REST API:
--
--   wrk -t1 -c50 -d5s --latency -s bench/wrk_post.lua \
--       http://127.0.0.1:8080/api/users/2/messages -- TOKEN [CONTENT]
--
-- TOKEN (required): the sender's token, from POST /api/users or /api/login
--   (or the environment variable AGORA_TOKEN when no argument is given).
-- CONTENT (optional): the message's content; by default 64 bytes, the
--   payload size of the MQTT scenarios.
--
-- The request is built once per thread (wrk.format after init), so the
-- script costs wrk nothing per request. There is deliberately no response()
-- callback (it would make wrk hand every response to Lua): wrk's own
-- "Non-2xx or 3xx responses" line tells whether the server refused any, and
-- http_bench.py fails the run if it appears.

local function json_string(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

function init(args)
  local token = args[1] or os.getenv("AGORA_TOKEN")
  if token == nil or token == "" then
    io.stderr:write("wrk_post.lua: no token: pass it after -- (or set AGORA_TOKEN)\n")
    os.exit(2)
  end
  local content = args[2] or string.rep("x", 64)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.body = '{"content":' .. json_string(content) .. '}'
end
