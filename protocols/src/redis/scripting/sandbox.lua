-- Builds the environment a Redis script runs in, the way Redis 7.0's script_lua.c does, in
-- plain Lua 5.1: only the allowed globals and libraries, the `redis` table, and protection
-- of the globals (reading a missing global and writing any global are errors).
--
-- Arguments (from vm.rs): `raising` (wraps a function answering `ok, value` into a C
-- function that returns `value` or raises it: a C function, so that the user's frame stays
-- on the stack for the error's line number even after a tail call such as
-- `return redis.call(...)`), the raw call, sha1hex, log and setresp implementations, whether
-- the run was stopped (time limit), the KEYS and ARGV tables. Returns the function that
-- runs the compiled user script.
local raising, raw_call, raw_sha1hex, raw_log, raw_setresp, raw_stopped, keys, argv = ...

local getinfo = debug.getinfo
local error, type, tostring, tonumber, select, setfenv, rawset, setmetatable, loadstring, load, pcall, xpcall =
    error, type, tostring, tonumber, select, setfenv, rawset, setmetatable, loadstring, load, pcall, xpcall
local math, table = math, table
local resume = coroutine.resume

local READONLY = "Attempt to modify a readonly table"

-- Tables scripts may read but not change; the values are the proxies' backing tables.
local protected = {}

local function readonly(backing, on_missing)
  local proxy = {}
  setmetatable(proxy, {
    __index = function(_, key)
      local value = backing[key]
      if value == nil and on_missing then
        on_missing(key)
      end
      return value
    end,
    __newindex = function()
      error(READONLY, 2)
    end,
    -- getmetatable answers false: the metatable cannot be changed to lift the protection.
    __metatable = false,
  })
  protected[proxy] = true
  return proxy
end

local function failure(message)
  return false, { err = "ERR " .. message }
end

local redis = {}
redis.call = raising(raw_call)
redis.pcall = function(...)
  local _, value = raw_call(...)
  return value
end
-- Misuse of error_reply / status_reply returns (does not raise) an error, as in Redis.
local WRONG_ARGS = { err = "ERR wrong number or type of arguments" }
redis.error_reply = function(...)
  local message = ...
  if select("#", ...) ~= 1 or type(message) ~= "string" then
    return { err = WRONG_ARGS.err }
  end
  -- Redis prefixes "-" and splits "-CODE msg" (luaPushErrorBuff): a message without a
  -- space gets the ERR code, trailing newlines are dropped.
  if message:sub(1, 1) == "-" then
    message = message:sub(2)
  end
  if not message:find(" ", 1, true) then
    message = "ERR " .. message
  end
  return { err = (message:gsub("[\r\n]+$", "")) }
end
redis.status_reply = function(...)
  local message = ...
  if select("#", ...) ~= 1 or type(message) ~= "string" then
    return { err = WRONG_ARGS.err }
  end
  return { ok = message }
end
redis.sha1hex = raising(function(...)
  if select("#", ...) ~= 1 then
    return failure("wrong number of arguments")
  end
  return true, raw_sha1hex(tostring((...)))
end)
redis.log = raising(function(level, ...)
  if select("#", ...) < 1 then
    return failure("redis.log() requires two arguments or more.")
  end
  level = tonumber(level)
  if not level then
    return failure("First argument must be a number (log level).")
  end
  level = math.floor(level)
  if level < 0 or level > 3 then
    return failure("Invalid debug level.")
  end
  local parts = {}
  for i = 1, select("#", ...) do
    local part = select(i, ...)
    if type(part) == "string" or type(part) == "number" then
      parts[#parts + 1] = tostring(part)
    end
  end
  raw_log(level, table.concat(parts, " "))
  return true, nil
end)
redis.setresp = raising(function(...)
  if select("#", ...) ~= 1 then
    return failure("redis.setresp() requires one argument.")
  end
  local version = tonumber((...))
  if version ~= 2 and version ~= 3 then
    return failure("RESP version must be 2 or 3.")
  end
  raw_setresp(version)
  return true, nil
end)
-- Effects replication is the only mode in 7.0: these exist for old scripts.
redis.replicate_commands = function()
  return true
end
redis.set_repl = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = "7.0.15"
redis.REDIS_VERSION_NUM = 0x07000f

-- Redis 7.0's allow lists (lua_builtins_allow_list, libraries_allow_list); cjson, cmsgpack,
-- bit and struct are not available in Strata.
local globals = {}
for _, name in ipairs({
  "xpcall", "tostring", "getfenv", "setmetatable", "next", "assert", "tonumber", "rawequal",
  "collectgarbage", "getmetatable", "rawset", "pcall", "coroutine", "type", "select", "unpack",
  "gcinfo", "pairs", "ipairs", "error", "rawget", "setfenv", "newproxy", "_VERSION",
}) do
  globals[name] = _G[name]
end
-- Once the time limit stopped the run, catching the stop must not let the script go on.
local function unless_stopped(...)
  if raw_stopped() then
    error("the script was stopped", 0)
  end
  return ...
end
-- Redis 7's pcall hands back the message of an {err=...} error, as older versions did.
local function error_message(ok, ...)
  if not ok then
    local err = ...
    if type(err) == "table" and type(err.err) == "string" then
      return false, err.err
    end
  end
  return ok, ...
end
globals.pcall = function(...)
  return unless_stopped(error_message(pcall(...)))
end
globals.xpcall = function(...)
  return unless_stopped(xpcall(...))
end

for _, name in ipairs({ "string", "math", "table", "coroutine" }) do
  local library = {}
  for key, value in pairs(_G[name]) do
    library[key] = value
  end
  if name == "coroutine" then
    library.resume = function(...)
      return unless_stopped(resume(...))
    end
  end
  globals[name] = readonly(library)
end


-- String methods ("x"):upper() go through the protected string library too.
getmetatable("").__index = globals.string

globals.redis = readonly(redis)
globals.KEYS = keys
globals.ARGV = argv

-- Redis's patched VM refuses rawset / setmetatable on readonly tables, without a position.
globals.rawset = function(t, key, value)
  if protected[t] then
    error(READONLY, 0)
  end
  return rawset(t, key, value)
end
globals.setmetatable = function(t, metatable)
  if protected[t] then
    error(READONLY, 0)
  end
  return setmetatable(t, metatable)
end
-- Source text only: Lua 5.1 bytecode is not verified and could break out of the sandbox.
globals.loadstring = function(source, name)
  if type(source) == "string" and source:sub(1, 1) == "\27" then
    return nil, "binary chunks are not allowed"
  end
  return loadstring(source, name)
end
globals.load = function(reader, name)
  if type(reader) ~= "function" then
    return load(reader, name)
  end
  local pieces = {}
  while true do
    local piece = reader()
    if piece == nil or piece == "" then
      break
    end
    pieces[#pieces + 1] = piece
  end
  return globals.loadstring(table.concat(pieces), name)
end

local env = readonly(globals, function(key)
  error("Script attempted to access nonexistent global variable '" .. tostring(key) .. "'", 3)
end)
globals._G = env

-- Redis's __redis__err__handler: errors become {err=...} tables that remember where in the
-- user script they were raised (the innermost user_script frame: redis.call and the
-- protection functions above are not the user's code).
local function handler(err)
  local where
  local level = 2
  while true do
    local info = getinfo(level, "Sl")
    if not info then
      break
    end
    if info.source == "@user_script" then
      where = info
      break
    end
    level = level + 1
  end
  if type(err) ~= "table" then
    err = { err = "ERR " .. tostring(err) }
  end
  if where then
    err.source = where.source
    err.line = where.currentline
  end
  return err
end

-- Empty the VM's original global table. Every function above keeps what it needs in locals,
-- but their environment is still that table, and getfenv(redis.pcall) would otherwise hand a
-- script the debug library, dofile, loadfile and the unprotected libraries.
local original = _G
for name in pairs(original) do
  original[name] = nil
end

return function(script)
  -- Chunks compiled later by loadstring get the thread's environment: the protected one.
  setfenv(0, env)
  setfenv(script, env)
  return xpcall(script, handler)
end
