"""The edges of the agent: netlink, nftables, dnsmasq, files. Each behind a Protocol."""
