"""The gateway: routing by auth alternative, the store, Portkey configs, forwarding, custom-host safety."""
