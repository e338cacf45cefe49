-- pktgen-dpdk script for monami's standard scenarios (docs/performance.md).
--   pktgen -l 0-2 -n 4 -- -P -m "[1].0,[2].1" \
--     -s 0:tools/pktgen/encap_64.pcap -s 1:tools/pktgen/decap_64.pcap -f tools/pktgen/monami.lua
-- Port 0 faces the gateway's home port (encapsulation: CN -> MN), port 1 its access port
-- (reverse tunnel: MN -> CN). Replace the pcaps for IMIX (encap_imix.pcap) or n-cast
-- (ncast_64.pcap). MONAMI_SECONDS (default 30) per run, MONAMI_RATE percent of line rate.
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local seconds = tonumber(os.getenv("MONAMI_SECONDS") or "30")
local rate = tonumber(os.getenv("MONAMI_RATE") or "100")

pktgen.set("all", "rate", rate)
pktgen.pcap("all", "on")
-- The worker lcores may still be setting up when the script starts: a start at once sent
-- late or nothing at all (2 runs in 8 of 0.5 s on a loaded two-core machine), so wait.
pktgen.delay(1000)
pktgen.clr()
pktgen.start("all")
pktgen.delay(seconds * 1000)
pktgen.stop("all")
pktgen.delay(2000)

for port = 0, 1 do
    local s = pktgen.portStats(tostring(port), "port")[port]
    printf("monami port %d: opackets %d ipackets %d  (rx %.3f Mpps)\n", port, s.opackets,
           s.ipackets, s.ipackets / seconds / 1e6)
end
pktgen.quit()
