-- GET each path of a file in turn, one path per line: wrk -s paths.lua URL -- FILE
-- Each thread starts at its own place in the list, so connections spread over the paths.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local paths
local position

function init(args)
   paths = read_lines(args[1])
   position = thread_id * 7919
end

function request()
   position = position + 1
   return wrk.format("GET", paths[position % #paths + 1])
end
