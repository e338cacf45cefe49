-- pktgen-dpdk script of monami's kit (docs/performance.md "On NICs with pktgen-dpdk"); run
-- by tools/pktgen/run, one scenario a run:
--   pktgen -l 0-2 -n 4 -- -P -m "[1].0,[2].1" \
--     -s 0:encap_64.pcap -s 1:decap_64.pcap -f tools/pktgen/monami.lua
-- Port 0 faces the gateway's home port (encapsulation: CN -> MN), port 1 its access port
-- (registrations and the reverse tunnel: MN -> CN). Environment:
--   MONAMI_TX_PORTS  the ports that send their pcap, "0", "1" or "0,1" (default "0,1")
--   MONAMI_RATE      percent of line rate (default 100)
--   MONAMI_SECONDS   how long to send (default 30)
--   MONAMI_COUNT     send exactly this many frames per port instead, then stop; the pcap is
--                    sent once, in order, when COUNT is its number of frames. MONAMI_SECONDS
--                    then bounds the wait.
--   MONAMI_CAPTURE   a port whose received frames pktgen keeps (its first 4 MB) in
--                    pktgen-<time>-<port>.pcap in the working directory
-- Prints "monami port P: opackets O ipackets I" per port and "monami sent in S s".
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local tx_ports = os.getenv("MONAMI_TX_PORTS") or "0,1"
local seconds = tonumber(os.getenv("MONAMI_SECONDS") or "30")
local rate = tonumber(os.getenv("MONAMI_RATE") or "100")
local count = tonumber(os.getenv("MONAMI_COUNT") or "0")
local capture = os.getenv("MONAMI_CAPTURE")

local function sent(port)
    return pktgen.portStats(tostring(port), "port")[port].opackets
end

pktgen.set(tx_ports, "count", count)
pktgen.pcap(tx_ports, "on")
if capture then pktgen.capture(capture, "on") end
-- The worker lcores may still be setting up when the script starts: a start at once sent
-- late or nothing at all (2 runs in 8 of 0.5 s on a loaded two-core machine), so wait.
pktgen.delay(1000)
-- The rate after the links are up: pktgen turns a percentage into a packet interval from
-- the link's speed (memif says 100G), and one still down gave 10G. On every port: a worker
-- lcore serving two ports paces both by the first one's rate.
pktgen.set("all", "rate", rate)
pktgen.clr()
local started = os.time()
pktgen.start(tx_ports)
if count > 0 then
    -- Done when every sending port has sent COUNT; bounded by MONAMI_SECONDS.
    local waited = 0
    while waited < seconds * 1000 do
        local done = true
        for port in string.gmatch(tx_ports, "%d+") do
            if sent(tonumber(port)) < count then done = false end
        end
        if done then break end
        pktgen.delay(10)
        waited = waited + 10
    end
else
    pktgen.delay(seconds * 1000)
end
pktgen.stop(tx_ports)
local elapsed = os.time() - started
-- Let what is in flight arrive before reading the counters.
pktgen.delay(2000)
if capture then pktgen.capture(capture, "off") end

for port = 0, 1 do
    local s = pktgen.portStats(tostring(port), "port")[port]
    printf("monami port %d: opackets %d ipackets %d\n", port, s.opackets, s.ipackets)
end
printf("monami sent in %d s\n", elapsed)
pktgen.quit()
