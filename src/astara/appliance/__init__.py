"""The appliance agent: converge a namespace (or a VM) to one config document.

Flow: `api` receives a document → `converge` observes (`observe/`), plans the
netlink diff (`plan/`), renders nftables and dnsmasq files (`render/`), and
applies them through the ports in `apply/`, rolling back to the last good config
on failure. `host` serves many namespaces from one process (host mode);
`discovery` finds them (or the VM's own stack) and `cli` is the entry point.
"""
