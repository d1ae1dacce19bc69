-- PUT the same body on every request: wrk -s upload.lua URL -- BODY_FILE CONTENT_TYPE
-- (a multipart/form-data body the harness wrote, with its boundary in CONTENT_TYPE).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function init(args)
   wrk.method = "PUT"
   wrk.body = read_file(args[1])
   wrk.headers["Content-Type"] = args[2]
end
