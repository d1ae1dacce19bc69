-- GET PREFIX plus a token no request has asked for before: wrk -s unique.lua URL -- PREFIX
-- Tokens have drop's shape (32 hex digits) so they reach the database; each is new, so
-- a 4XX cache always misses.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local prefix
local run
local counter = 0

function init(args)
   prefix = args[1]
   math.randomseed(os.time() + thread_id)
   run = math.random(0, 0x7fffffff)
end

function request()
   counter = counter + 1
   return wrk.format("GET", string.format("%s%08x%08x%016x", prefix, run, thread_id, counter))
end
