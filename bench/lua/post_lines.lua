-- POST one JSON body per request, cycling through the lines of a file (wrk ... -- FILE [ONCE]).
-- Each wrk thread takes every Nth line, starting at its own offset, so that with ONCE=1 no
-- line is sent twice (a feedback can be given only once per prediction). Past the last line,
-- ONCE=1 sends an empty object, which the API refuses with 400 (counted as non-2xx).
local threads = {}
local counter = 0

function setup(thread)
   thread:set("offset", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   bodies = {}
   for line in io.lines(args[1]) do
      if #line > 0 then
         bodies[#bodies + 1] = line
      end
   end
   once = args[2] == "1"
   step = tonumber(args[3] or "1")
   position = offset + 1
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   local body
   if position <= #bodies then
      body = bodies[position]
   elseif once then
      body = "{}"
   else
      position = ((position - 1) % #bodies) + 1
      body = bodies[position]
   end
   position = position + step
   return wrk.format(nil, nil, nil, body)
end
