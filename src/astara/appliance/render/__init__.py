"""Pure renderers: appliance documents to nftables rulesets and dnsmasq files."""
